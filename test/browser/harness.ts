// Browser end-to-end harness: a static server on 127.0.0.1 (a secure context, so WebGPU is exposed)
// for dist/, test pages and the shared models, plus Debian's chromium through puppeteer. Without a
// chromium binary, suites are skipped with the reason in their name, unless WAS_EDGE_REQUIRE_GPU=1
// (CI), where that is an error — as test/gpu/context.ts does for dawn.node.
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer';
import { describe } from 'vitest';
import { sharedPath } from '../helpers/shared.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

// ---------------------------------------------------------------------------------------------
// Static server

/** URL prefix (no trailing slash) → folder on disk. */
export type Roots = Record<string, string>;

export const DEFAULT_ROOTS: Roots = {
  // No /schedules: the worker's prebuilt schedules travel inside dist/ (src/sdk/prebuilt.ts).
  '/dist': join(repoRoot, 'dist'),
  '/demo': join(repoRoot, 'demo'),
  '/pages': join(repoRoot, 'test/browser/pages'),
  '/models': sharedPath('models'),
};

/**
 * `/slow/<path>` serves `<path>` in 64 KiB slices 50 ms apart, so that a page can abort a download
 * half-way.
 */
export const SLOW_PREFIX = '/slow';
const SLOW_SLICE = 64 << 10;
const SLOW_PAUSE_MS = 50;

const MIME: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.gguf': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wgsl': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

export interface StaticServer {
  /** Origin without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  readonly origin: string;
  close(): Promise<void>;
}

/** Serves each root read-only under its prefix on 127.0.0.1, on a port the OS picks. */
export async function startServer(roots: Roots = DEFAULT_ROOTS): Promise<StaticServer> {
  // Real paths once, so that a symlink inside a root cannot lead outside it.
  const real: [prefix: string, dir: string][] = [];
  for (const [prefix, dir] of Object.entries(roots)) {
    real.push([prefix.replace(/\/+$/, ''), existsSync(dir) ? await realpath(dir) : resolve(dir)]);
  }
  const server = createServer((req, res) => {
    serve(real, req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, `internal error: ${(e as Error).message}`);
      else res.destroy();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections(); // keep-alive sockets would otherwise hold close() open
      }),
  };
}

async function serve(roots: [string, string][], req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'method not allowed');
  }
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    return send(res, 400, 'bad URL');
  }
  if (path.includes('\0')) return send(res, 400, 'bad URL');
  const slow = path.startsWith(SLOW_PREFIX + '/');
  if (slow) path = path.slice(SLOW_PREFIX.length);
  const root = roots.find(([prefix]) => path.startsWith(prefix + '/'));
  if (!root) return send(res, 404, 'not found');
  const [prefix, dir] = root;
  // Checked again after resolving, on the real path: `%2e%2e%2f` and symlinks both end up here.
  const file = resolve(dir, '.' + path.slice(prefix.length));
  let target: string;
  try {
    target = await realpath(file);
  } catch {
    return send(res, 404, 'not found');
  }
  if (target !== dir && !target.startsWith(dir + sep)) return send(res, 403, 'forbidden');
  const info = await stat(target);
  if (!info.isFile()) return send(res, 404, 'not found');
  res.writeHead(200, {
    'Content-Type': MIME[extname(target).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': info.size,
    'Cache-Control': 'no-store',
    // Cross-origin isolation: SharedArrayBuffer and fine-grained timers for later engine pages.
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
  });
  if (req.method === 'HEAD') return void res.end();
  const stream = createReadStream(target, slow ? { highWaterMark: SLOW_SLICE } : {});
  if (slow) {
    stream.on('data', () => {
      stream.pause();
      setTimeout(() => stream.resume(), SLOW_PAUSE_MS);
    });
  }
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

function send(res: ServerResponse, status: number, text: string): void {
  const body = Buffer.from(text + '\n');
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
}

// ---------------------------------------------------------------------------------------------
// Chromium

/** The first chromium binary that exists: $CHROMIUM_PATH, else Debian's, else /usr/bin/chromium. */
export function findChromium(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium', '/usr/bin/chromium'];
  return candidates.find((p) => existsSync(p));
}

const chromium = findChromium();
const reason = chromium
  ? undefined
  : `no chromium at ${process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium'} or /usr/bin/chromium; ` +
    'apt-get install -y --no-install-recommends chromium, or set CHROMIUM_PATH';
if (reason && process.env.WAS_EDGE_REQUIRE_GPU === '1') throw new Error(`browser tests required: ${reason}`);

/** describe() that is skipped, with the reason in its name, when there is no chromium. */
export function describeBrowser(name: string, fn: () => void): void {
  describe.skipIf(!chromium)(chromium ? name : `${name} [skipped: ${reason}]`, fn);
}

export interface LaunchOptions {
  /** Expose WebGPU (SwiftShader on CPU-only machines); false leaves out --enable-unsafe-webgpu. */
  webgpu: boolean;
}

export interface LaunchedBrowser {
  readonly browser: Browser;
  /** Closes the browser (killing it if it does not exit) and deletes its profile folder. */
  close(): Promise<void>;
}

export async function launchBrowser(opts: LaunchOptions): Promise<LaunchedBrowser> {
  if (!chromium) throw new Error(`cannot launch chromium: ${reason}`);
  const userDataDir = await mkdtemp(join(tmpdir(), 'was-edge-chromium-'));
  const args = [
    '--no-sandbox',
    '--disable-gpu-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
  ];
  // The only WebGPU switch that works in Chromium 156 (measured): without it requestAdapter()
  // resolves null here; --disable-webgpu, --disable-blink-features=WebGPU and
  // --disable-features=WebGPU change nothing. `navigator.gpu` stays defined either way, and a GPU
  // that Chromium allows by default would still be exposed: pages must check the adapter.
  if (opts.webgpu) args.push('--enable-unsafe-webgpu');
  let browser: Browser;
  try {
    browser = await puppeteer.launch({ executablePath: chromium, headless: true, userDataDir, args });
  } catch (e) {
    await rm(userDataDir, { recursive: true, force: true });
    throw e;
  }
  // Every tab, including ones a test opens itself with browser.newPage().
  browser.on('targetcreated', (target) => {
    void target.page().then((page) => page && forwardPageLogs(page), () => undefined);
  });
  return {
    browser,
    async close() {
      const child = browser.process();
      try {
        await Promise.race([browser.close(), new Promise((ok) => setTimeout(ok, 10_000))]);
      } catch {
        // already gone
      }
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await rm(userDataDir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

const forwarded = new WeakSet<Page>();

/**
 * Sends the page's console, uncaught errors and failed requests to this process's stdout, once per
 * page. Puppeteer already routes its workers' console and uncaught errors here (checked).
 */
export function forwardPageLogs(page: Page): void {
  if (forwarded.has(page)) return;
  forwarded.add(page);
  page.on('console', (msg) => console.log(`[page] ${msg.type()}: ${msg.text()}`));
  page.on('pageerror', (err) => console.log(`[page] uncaught: ${err instanceof Error ? err.stack ?? err.message : String(err)}`));
  page.on('requestfailed', (r) => console.log(`[page] request failed: ${r.url()} (${r.failure()?.errorText ?? '?'})`));
  page.on('response', (r) => {
    if (r.status() >= 400) console.log(`[page] HTTP ${r.status()}: ${r.url()}`);
  });
}

// ---------------------------------------------------------------------------------------------
// A session: one server and one browser per test file

export interface BrowserSession {
  readonly server: StaticServer;
  readonly browser: Browser;
  /** Opens `path` (e.g. `/pages/generate.html`) on the server in a new tab, logs forwarded. */
  openPage(path: string): Promise<Page>;
  close(): Promise<void>;
}

export async function startSession(opts: LaunchOptions, roots: Roots = DEFAULT_ROOTS): Promise<BrowserSession> {
  const server = await startServer(roots);
  let launched: LaunchedBrowser;
  try {
    launched = await launchBrowser(opts);
  } catch (e) {
    await server.close();
    throw e;
  }
  return {
    server,
    browser: launched.browser,
    async openPage(path) {
      const page = await launched.browser.newPage();
      forwardPageLogs(page); // also done on targetcreated, but asynchronously: be sure before goto
      await page.goto(server.origin + path, { waitUntil: 'load' });
      return page;
    },
    async close() {
      await launched.close();
      await server.close();
    },
  };
}

/** What a test page stores in `window.__error`: an error with its `name` and `code` kept. */
export interface PageError {
  name: string;
  code?: string;
  message: string;
  stack?: string;
}

export class PageFailedError extends Error {
  override readonly name = 'PageFailedError';
  constructor(readonly page: PageError) {
    super(`the page failed: ${page.name}${page.code ? ` [${page.code}]` : ''}: ${page.message}`);
  }
}

/**
 * Waits for the page contract: it sets `window.__result` (resolved) or `window.__error` (rejected,
 * thrown here as PageFailedError). Polls on a timer because a busy page may starve rAF.
 */
export async function waitForResult<T>(page: Page, timeoutMs: number): Promise<T> {
  try {
    await page.waitForFunction(
      () => {
        const g = window as unknown as Record<string, unknown>;
        return '__result' in g || '__error' in g;
      },
      { timeout: timeoutMs, polling: 100 },
    );
  } catch (e) {
    throw new Error(`no window.__result or window.__error after ${timeoutMs} ms on ${page.url()}`, { cause: e });
  }
  const out = await page.evaluate(() => {
    const g = window as unknown as { __result?: unknown; __error?: PageError };
    return { result: g.__result, error: g.__error };
  });
  if (out.error) throw new PageFailedError(out.error);
  return out.result as T;
}
