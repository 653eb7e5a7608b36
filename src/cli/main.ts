// `was-edge` command line: generate text, evaluate perplexity, calibrate, search sparsity schedules.
// Each command parses its arguments, then takes the SDK's path: createBackend, resolveSchedule,
// setThresholds, generate/perplexity.

import { WasEdgeError } from '../errors.js';
import { USAGE, usage } from './args.js';
import { cmdChat } from './chat.js';
import { cmdGenerate, cmdEval } from './run.js';
import { cmdCalibrate, cmdSchedule } from './search.js';

/** Runs the CLI; returns the process exit code (0 ok, 1 runtime error, 2 bad usage or input). */
export async function main(argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'generate': await cmdGenerate(rest, out, err); return 0;
      case 'eval': await cmdEval(rest, out, err); return 0;
      case 'chat': await cmdChat(rest, out, err); return 0;
      case 'calibrate': await cmdCalibrate(rest, out, err); return 0;
      case 'schedule': await cmdSchedule(rest, out, err); return 0;
      case undefined: case '-h': case '--help': case 'help': out(USAGE + '\n'); return cmd ? 0 : 2;
      default: throw usage(`unknown command "${cmd}".`);
    }
  } catch (e) {
    if (e instanceof WasEdgeError) {
      err(`was-edge: ${e.name} [${e.code}]: ${e.message}\n`);
      return 2;
    }
    // parseArgs reports unknown or malformed flags with these codes.
    const code = (e as { code?: string }).code;
    if (code?.startsWith('ERR_PARSE_ARGS')) {
      err(`was-edge: ${(e as Error).message}\n${USAGE}\n`);
      return 2;
    }
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      err(`was-edge: ${(e as Error).message}\n`);
      return 2;
    }
    err(`was-edge: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
