#!/usr/bin/env node
// Serves the demo page on http://127.0.0.1:PORT/demo/ (localhost is a secure context: WebGPU, the
// Cache API and OPFS work): dist/, schedules/ and demo/ of this package, and a models folder.
//   npm run demo [-- --port 8080] [-- --models DIR]     (DIR default: $WAS_EDGE_MODELS, else ../shared/models)
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, models: { type: 'string' } } });
const models = resolve(values.models ?? process.env.WAS_EDGE_MODELS ?? resolve(root, '../shared/models'));
const roots = { '/dist': resolve(root, 'dist'), '/schedules': resolve(root, 'schedules'), '/demo': resolve(root, 'demo'), '/models': models };
const MIME = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm', '.html': 'text/html', '.css': 'text/css', '.map': 'application/json' };

const server = createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  if (path === '/') return void res.writeHead(302, { Location: '/demo/' }).end();
  const prefix = Object.keys(roots).find((p) => path === p || path.startsWith(p + '/'));
  if (!prefix || path.includes('\0')) return void res.writeHead(404).end('not found');
  try {
    const dir = await realpath(roots[prefix]);
    let file = await realpath(resolve(dir, '.' + (path.slice(prefix.length) || '/')));
    if (file !== dir && !file.startsWith(dir + sep)) return void res.writeHead(403).end('forbidden');
    if ((await stat(file)).isDirectory()) file = resolve(file, 'index.html');
    const info = await stat(file);
    // Cross-origin isolation (COOP/COEP): SharedArrayBuffer, so the CPU backend can use worker threads.
    res.writeHead(200, {
      'Content-Type': MIME[extname(file)] ?? 'application/octet-stream', 'Content-Length': info.size, 'Cache-Control': 'no-cache',
      'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    createReadStream(file).pipe(res);
  } catch {
    res.writeHead(404).end('not found');
  }
});
server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`was-edge demo: http://127.0.0.1:${server.address().port}/demo/  (models from ${models})`);
});
