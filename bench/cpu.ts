// CPU decode speed in headless Chromium (WebGPU off): our CPU backend (Wasm SIMD, dense and WAS-sparse)
// against wllama (llama.cpp compiled to Wasm, npm @wllama/wllama) on the same GGUF file and thread
// count, all in one page and one run, so the table's ratios share the machine's state. Decode only:
// `--tokens` greedy steps after the prompt; ours timed on the wall clock (every token crosses into JS),
// wllama by llama.cpp's own decode timer. Pages are served cross-origin isolated (COOP/COEP), so
// both use worker threads over shared memory.
//
// Build and run:  npm run build && npm run bench:cpu [-- --threads 1,2 --tokens 128]
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer';

const { values: args } = parseArgs({
  options: { threads: { type: 'string' }, tokens: { type: 'string' }, models: { type: 'string' }, shared: { type: 'string' }, file: { type: 'string' } },
});
const root = resolve(import.meta.dirname, '..');
const shared = resolve(args.shared ?? process.env.WAS_EDGE_SHARED ?? join(root, '../shared'));
const threads = (args.threads ?? [1, availableParallelism()].filter((t, i, a) => a.indexOf(t) === i).join(',')).split(',').map(Number);
const tokens = Number(args.tokens ?? 128);
// --file PATH: one GGUF of your own instead (e.g. bench/make-synthetic.ts's), dense only (no calibration for it).
const models = args.file ? [basename(args.file)] : (args.models ?? 'F32,Q4_0').split(',');

const ROOTS: Record<string, string> = {
  '/dist/': join(root, 'dist'),
  '/bench/': join(root, 'bench'),
  '/schedules/': join(root, 'schedules'),
  '/wllama/': join(root, 'node_modules/@wllama/wllama/esm'),
  '/models/': join(shared, 'models'),
  ...(args.file ? { '/file/': dirname(resolve(args.file)) } : {}),
};
const MIME: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.html': 'text/html' };
const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
  if (path === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html', ...isolation });
    return res.end('<!doctype html><meta charset="utf-8"><script type="module" src="/bench/cpu-page.js"></script>');
  }
  const prefix = Object.keys(ROOTS).find((p) => path.startsWith(p));
  const file = prefix && resolve(ROOTS[prefix]!, '.' + path.slice(prefix.length - 1));
  if (!file || !file.startsWith(ROOTS[prefix!]!) || !existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream', ...isolation });
  createReadStream(file).pipe(res);
});
await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const chromium = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => p && existsSync(p));
// No --enable-unsafe-webgpu: WebGPU stays off, as on a machine without a GPU.
const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--no-first-run'] });
const page = await browser.newPage();
page.on('pageerror', (e) => console.error('[page]', e));
await page.goto(origin + '/');
await page.waitForFunction(() => (window as unknown as { __ready?: boolean }).__ready === true, { timeout: 60_000 });

console.log(`# ${new Date().toISOString()}  ${cpus()[0]?.model ?? '?'} × ${availableParallelism()}  ${await browser.version()}  ` +
  `decode ${tokens} tokens after "The meaning of life is", context 512; load average ${loadavg()[0]!.toFixed(2)}`);
const rows: string[][] = [['model', 'threads', 'wllama tok/s', 'ours dense tok/s', 'ours / wllama', 'WAS 0.5 tok/s', '× dense (skipped)', 'WAS 0.7 tok/s', '× dense (skipped)']];
for (const q of models) {
  for (const t of threads) {
    const r = await page.evaluate((o) => (window as unknown as { runBench(o: unknown): Promise<unknown> }).runBench(o), {
      model: args.file ? `/file/${q}` : `/models/llama16m-debtext/llama16m-debtext-${q}.gguf`,
      calibration: args.file ? null : '/schedules/llama16m-debtext-F32.calib.json',
      threads: t, tokens, prompt: 'The meaning of life is', levels: args.file ? [] : [0.5, 0.7],
    }) as { dense: number; wllama: number; wllamaTokens: number; ourThreads: number; isolated: boolean; sparse: Record<string, { rate: number; skipped: number }> };
    if (!r.isolated || r.ourThreads !== t) throw new Error(`the page is not cross-origin isolated or ran ${r.ourThreads} threads`);
    if (r.wllamaTokens !== tokens) console.log(`# note: wllama decoded ${r.wllamaTokens} tokens (EOS?)`);
    const level = (s: string) => {
      const x = r.sparse[s];
      return x ? [x.rate.toFixed(1), `${(x.rate / r.dense).toFixed(2)} (${(100 * x.skipped).toFixed(1)} %)`] : ['—', '—'];
    };
    rows.push([q, String(t), r.wllama.toFixed(1), r.dense.toFixed(1), (r.dense / r.wllama).toFixed(2), ...level('0.5'), ...level('0.7')]);
    console.error(`done: ${q} × ${t} threads`);
  }
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const [i, r] of rows.entries()) {
  console.log(`| ${r.map((c, j) => c.padEnd(widths[j]!)).join(' | ')} |`);
  if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
}
console.log(`# load average at the end ${loadavg()[0]!.toFixed(2)} (other processes on the machine skew the 2-thread rows first)`);
await browser.close();
server.close();
