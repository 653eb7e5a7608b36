// `npm run demo`'s server (demo/serve.mjs) as a child process on a port the OS picks, over a models
// folder the test makes.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface DemoServer {
  readonly origin: string;
  readonly process: ChildProcess;
  close(): Promise<void>;
}

export async function startDemoServer(models: string): Promise<DemoServer> {
  const script = fileURLToPath(new URL('../../demo/serve.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, '--port', '0', '--models', models], { stdio: ['ignore', 'pipe', 'pipe'] });
  const origin = await new Promise<string>((ok, fail) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
      if (m) ok(m[0]);
    });
    child.once('exit', (code) => fail(new Error(`demo/serve.mjs exited (${code}) before listening: ${out}`)));
  });
  return {
    origin,
    process: child,
    close: () => new Promise<void>((ok) => {
      if (child.exitCode !== null) return ok();
      child.once('exit', () => ok());
      child.kill();
    }),
  };
}
