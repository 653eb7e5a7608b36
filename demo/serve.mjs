#!/usr/bin/env node
// Serves the demo page on http://127.0.0.1:PORT/demo/ (localhost is a secure context: WebGPU, the
// Cache API and OPFS work): dist/ and demo/ of this package, and a models folder, whose .gguf files
// /models/index.json lists for the page.
//   npm run demo [-- --port 8080] [-- --models DIR]     (DIR default: $WAS_EDGE_MODELS, else ../shared/models)
// Symbolic links are followed where they resolve inside the folder served (a link out of it is 403:
// any page could otherwise read what the link points at). A request that cannot be decoded is 400.
import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, models: { type: 'string' } } });
const models = resolve(values.models ?? process.env.WAS_EDGE_MODELS ?? resolve(root, '../shared/models'));
const roots = { '/dist': resolve(root, 'dist'), '/demo': resolve(root, 'demo'), '/models': models };
const MIME = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm', '.html': 'text/html', '.css': 'text/css', '.map': 'application/json' };
// Cross-origin isolation (COOP/COEP): SharedArrayBuffer, so the CPU backend can use worker threads.
const ISOLATED = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

const inside = (dir, path) => path === dir || path.startsWith(dir + sep);

/** The .gguf files under `dir` (links followed when they stay inside it), as paths relative to it. */
async function listModels(dir, at = dir, depth = 0, seen = new Set()) {
  if (depth > 6 || seen.has(at)) return [];
  seen.add(at);
  const found = [];
  for (const entry of await readdir(at, { withFileTypes: true }).catch(() => [])) {
    if (entry.name.startsWith('.')) continue;
    const real = await realpath(join(at, entry.name)).catch(() => null);
    if (!real || !inside(dir, real)) continue;
    const info = await stat(real).catch(() => null);
    if (info?.isDirectory()) found.push(...(await listModels(dir, real, depth + 1, seen)).map((f) => `${entry.name}/${f}`));
    else if (info?.isFile() && entry.name.toLowerCase().endsWith('.gguf')) found.push(entry.name);
  }
  return found.sort();
}

function send(res, status, text) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...ISOLATED }).end(text + '\n');
}

async function handle(req, res) {
  let path;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    return send(res, 400, 'bad request: the path is not valid percent-encoding');
  }
  if (path === '/') return void res.writeHead(302, { Location: '/demo/' }).end();
  if (path === '/models/index.json') {
    const dir = await realpath(models).catch(() => models);
    const body = JSON.stringify(await listModels(dir));
    return void res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache', ...ISOLATED }).end(body);
  }
  const prefix = Object.keys(roots).find((p) => path === p || path.startsWith(p + '/'));
  if (!prefix || path.includes('\0')) return send(res, 404, 'not found');
  let file;
  try {
    const dir = await realpath(roots[prefix]);
    file = await realpath(resolve(dir, '.' + (path.slice(prefix.length) || '/')));
    if (!inside(dir, file)) return send(res, 403, `forbidden: ${path} links out of the folder served (${relative(dir, file).split(sep)[0]}…)`);
    if ((await stat(file)).isDirectory()) file = resolve(file, 'index.html');
  } catch {
    return send(res, 404, 'not found');
  }
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) return send(res, 404, 'not found');
  res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream', 'Content-Length': info.size, 'Cache-Control': 'no-cache', ...ISOLATED });
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

const server = createServer((req, res) => {
  // Nothing a request does may end the server: every failure is answered (or the socket closed).
  handle(req, res).catch(() => (res.headersSent ? res.destroy() : send(res, 500, 'internal error')));
});
server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`was-edge demo: http://127.0.0.1:${server.address().port}/demo/  (models from ${models})`);
});
