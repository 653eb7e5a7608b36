#!/usr/bin/env node
// Thin launcher: all logic is in src/cli/main.ts, bundled to dist/cli.js by `npm run build`.
import { main } from '../dist/cli.js';
import { WasEdgeError } from '../dist/index.js';

let code;
try {
  code = await main(process.argv.slice(2));
} catch (error) {
  // SDK errors carry a stable code and a message that says what to do; anything else is a bug: show the stack.
  console.error(error instanceof WasEdgeError ? `was-edge: ${error.message} [${error.code}]` : error);
  code = 1;
}
// Exit explicitly once stdout has drained: Dawn's GPU instance (kept alive for the process) would
// otherwise hold the event loop open.
process.stdout.write('', () => process.exit(code));
