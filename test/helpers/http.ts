// A local HTTP server for loader tests: serves byte arrays by path, optionally in slices with a
// pause between them (so a test can abort a download half-way), or an error status.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Route {
  body?: Uint8Array;
  status?: number;
  /** Send the body in this many slices with `pauseMs` between them. */
  slices?: number;
  pauseMs?: number;
}

export interface TestServer {
  readonly origin: string;
  /** Requests seen, by path. */
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

export async function serveRoutes(routes: Record<string, Route>): Promise<TestServer> {
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes[path];
    if (!route) {
      res.writeHead(404).end('not found');
      return;
    }
    if (route.status && route.status !== 200) {
      res.writeHead(route.status).end('error');
      return;
    }
    const body = route.body ?? new Uint8Array();
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.byteLength, 'Access-Control-Allow-Origin': '*' });
    const n = route.slices ?? 1;
    let i = 0;
    const next = () => {
      if (res.destroyed) return;
      const from = Math.floor((i * body.byteLength) / n);
      const to = Math.floor(((i + 1) * body.byteLength) / n);
      i++;
      if (i < n) {
        res.write(body.subarray(from, to));
        setTimeout(next, route.pauseMs ?? 0);
      } else {
        res.end(body.subarray(from, to));
      }
    };
    next();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}
