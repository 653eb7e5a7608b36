// One build, three entries: dist/index.js (browser-safe), dist/node.js and dist/cli.js (Node), plus
// the engine's workers (dist/worker.js for browsers, dist/node-worker.js), emitted as chunks where the
// client starts them. One build rather than several so that the entries share chunks: a WasEdgeError
// thrown through `was-edge/node` is `instanceof` the class exported by `was-edge`.
// Run through `npm run build`, which compiles build/was*.wasm first.

import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodeResolve from '@rollup/plugin-node-resolve';
import esbuild from 'rollup-plugin-esbuild';

/**
 * `import src from '../../shaders/x.wgsl'` → the file's text as the default export. Exported so that
 * vitest.config.ts can use the same plugin once kernels import WGSL from the TS sources.
 */
export function wgsl() {
  return {
    name: 'wgsl',
    async load(id) {
      if (!id.endsWith('.wgsl')) return null;
      return { code: `export default ${JSON.stringify(await readFile(id, 'utf8'))};`, map: { mappings: '' } };
    },
  };
}

const SCHEDULES_MODULE = 'virtual:was-edge-schedules';
const SCHEDULE_PREFIX = '\0was-edge-schedule:';

/**
 * `import catalogue from 'virtual:was-edge-schedules'` → `{ '<model-id>': () => import(<that file>) }`
 * over schedules/<model-id>.json (not the .calib.json), each file its own lazily loaded module, so the
 * schedules travel through the module graph into any consumer's bundle (no URL to serve them from).
 * Generated from the folder, so it cannot drift from it. Exported for vitest.config.ts.
 */
export function prebuiltSchedules(folder = resolve(dirname(fileURLToPath(import.meta.url)), 'schedules')) {
  return {
    name: 'prebuilt-schedules',
    resolveId(id) {
      if (id === SCHEDULES_MODULE) return '\0' + SCHEDULES_MODULE;
      if (id.startsWith(SCHEDULE_PREFIX)) return id;
      return null;
    },
    async load(id) {
      if (id === '\0' + SCHEDULES_MODULE) {
        const names = (await readdir(folder)).filter((f) => f.endsWith('.json') && !f.endsWith('.calib.json')).map((f) => f.slice(0, -5)).sort();
        const entries = names.map((n) => `  ${JSON.stringify(n)}: () => import(${JSON.stringify(SCHEDULE_PREFIX + n)}).then((m) => m.default),`);
        return `export default {\n${entries.join('\n')}\n};\n`;
      }
      if (id.startsWith(SCHEDULE_PREFIX)) {
        const path = resolve(folder, `${id.slice(SCHEDULE_PREFIX.length)}.json`);
        this.addWatchFile?.(path);
        return `export default JSON.parse(${JSON.stringify(await readFile(path, 'utf8'))});\n`;
      }
      return null;
    },
  };
}

// `new URL('<literal>.wasm', import.meta.url)`, as written in src/wasm/location.ts.
const WASM_URL = /new URL\((['"])([^'"\n]+\.wasm)\1,\s*import\.meta\.url\)/g;

const isDebugWasm = (path) => /-debug\.wasm$/.test(path);

/**
 * Emits each Wasm file named by a source-relative `new URL(…, import.meta.url)` into dist/ under its
 * own name and points the URL at that copy, so the same source line works unbundled and bundled.
 */
function wasmAssets() {
  /** absolute path → reference id, so several chunks share one emitted file. */
  let emitted;
  return {
    name: 'wasm-assets',
    buildStart() {
      emitted = new Map();
    },
    async transform(code, id) {
      if (!id.includes('/src/') || !code.includes('import.meta.url')) return null;
      const found = [...code.matchAll(WASM_URL)];
      if (found.length === 0) return null;
      for (const [, , relative] of found) {
        const path = resolve(dirname(id), relative);
        if (emitted.has(path) || isDebugWasm(relative)) continue;
        let source;
        try {
          source = await readFile(path);
        } catch (cause) {
          this.error({
            message: `${path} is missing: build the Wasm module first (\`npm run build\` does: asbuild, then rollup)`,
            cause,
          });
        }
        this.addWatchFile(path);
        emitted.set(path, this.emitFile({ type: 'asset', fileName: basename(path), source }));
      }
      // The rewrite stays on its line, so line numbers in the source map still hold.
      const rewritten = code.replace(WASM_URL, (_match, _quote, relative) => {
        // Debug builds (asserts on) serve this repository's tests, which run from the sources; the
        // bundle neither emits nor names them in a form bundlers follow (a consumer's build would
        // otherwise copy them, or fail on the missing file).
        if (isDebugWasm(relative)) return `new URL(['.', ${JSON.stringify(basename(relative))}].join('/'), import.meta.url)`;
        const ref = emitted.get(resolve(dirname(id), relative));
        return `new URL(import.meta.ROLLUP_FILE_URL_${ref})`;
      });
      return { code: rewritten, map: null };
    },
  };
}

// `new URL('./<name>.js', import.meta.url)`, as written in src/client.ts and src/node.ts.
const WORKER_URL = /new URL\((['"])\.\/([\w-]+)\.js\1,\s*import\.meta\.url\)/g;

/**
 * Emits src/<name>.ts as its own chunk dist/<name>.js wherever a source file starts it by
 * `new URL('./<name>.js', import.meta.url)` next to it, and renders that URL relative to the chunk
 * the code lands in, still as `new URL('<path>', import.meta.url)` so that the consumer's bundler
 * (Vite, webpack) can recognise `new Worker(new URL(…))` and bundle the worker itself.
 */
function workerChunks() {
  /** reference id → file name */
  let refs;
  return {
    name: 'worker-chunks',
    buildStart() {
      refs = new Map();
    },
    transform(code, id) {
      if (!id.includes('/src/') || !code.includes('import.meta.url')) return null;
      let changed = false;
      const rewritten = code.replace(WORKER_URL, (match, _quote, name) => {
        const path = resolve(dirname(id), `${name}.ts`);
        if (!existsSync(path)) return match;
        const ref = this.emitFile({ type: 'chunk', id: path, fileName: `${name}.js` });
        refs.set(ref, `${name}.js`);
        changed = true;
        return `import.meta.ROLLUP_FILE_URL_${ref}`;
      });
      return changed ? { code: rewritten, map: null } : null;
    },
    resolveFileUrl({ referenceId, relativePath }) {
      if (!refs.has(referenceId)) return null;
      return `new URL(${JSON.stringify(relativePath.startsWith('.') ? relativePath : `./${relativePath}`)}, import.meta.url)`;
    },
  };
}

/**
 * Empties dist/chunks/ and dist/types/ (rewritten by `tsc -p tsconfig.types.json` after rollup)
 * before each build, so that `npm pack` ships only this build's files.
 */
function cleanOutputs() {
  return {
    name: 'clean-outputs',
    async buildStart() {
      await Promise.all(['dist/chunks', 'dist/types'].map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

const NODE_BUILTIN = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);

/** Fails the build if anything reachable from the browser files imports a Node built-in (STYLE lesson 11). */
function browserSafe(...fileNames) {
  return {
    name: 'browser-safe',
    generateBundle(_options, bundle) {
      const chunks = new Map(
        Object.values(bundle)
          .filter((file) => file.type === 'chunk')
          .map((chunk) => [chunk.fileName, chunk]),
      );
      const seen = new Set();
      const visit = (chunk, path) => {
        if (seen.has(chunk.fileName)) return;
        seen.add(chunk.fileName);
        for (const specifier of [...chunk.imports, ...chunk.dynamicImports]) {
          const child = chunks.get(specifier);
          if (child) visit(child, [...path, specifier]);
          else if (NODE_BUILTIN.has(specifier)) {
            this.error(`${[...path, specifier].join(' → ')}: the browser entry reaches a Node built-in; move that code behind src/node.ts`);
          }
        }
      };
      for (const fileName of fileNames) {
        const entry = chunks.get(fileName);
        if (!entry) this.error(`browser-safe: the build has no ${fileName}`);
        seen.clear();
        visit(entry, [fileName]);
      }
    },
  };
}

export default {
  input: {
    index: 'src/index.ts',
    node: 'src/node.ts',
    cli: 'src/cli/main.ts',
  },
  output: {
    dir: 'dist',
    format: 'es',
    entryFileNames: '[name].js',
    chunkFileNames: (chunk) => chunk.facadeModuleId?.startsWith(SCHEDULE_PREFIX)
      ? `chunks/schedule-${chunk.facadeModuleId.slice(SCHEDULE_PREFIX.length)}-[hash].js`
      : 'chunks/[name]-[hash].js',
    // Maps stay in dist/ for debugging here but are not linked from the files (the package ships
    // without them, and a `sourceMappingURL` to a missing file makes consumers' bundlers warn).
    sourcemap: 'hidden',
  },
  // Node built-ins stay imports (only node.js and cli.js may reach them); webgpu (dawn.node) is a
  // native addon the consumer installs. comlink is bundled.
  external: (id) => NODE_BUILTIN.has(id) || id === 'webgpu' || id.startsWith('webgpu/'),
  plugins: [
    cleanOutputs(),
    workerChunks(),
    wasmAssets(),
    wgsl(),
    prebuiltSchedules(),
    nodeResolve({ extensions: ['.ts', '.js', '.mjs'] }),
    esbuild({ target: 'es2022', tsconfig: 'tsconfig.json' }),
    browserSafe('index.js', 'worker.js'),
  ],
};
