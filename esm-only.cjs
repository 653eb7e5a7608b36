// was-edge is an ES module package: `require()` lands here (the exports map's "require" condition)
// so that the error says what to do instead of ERR_PACKAGE_PATH_NOT_EXPORTED.
const error = new Error(
  "was-edge is ESM-only: use `import { createEngine } from 'was-edge/node'` (or 'was-edge' in a bundler), " +
  "or `await import('was-edge/node')` from CommonJS.",
);
error.code = 'ERR_REQUIRE_ESM';
throw error;
