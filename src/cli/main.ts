// `was-edge` command line: generate text, evaluate perplexity, calibrate, search sparsity schedules.
// Each command parses its arguments, then takes the SDK's path: createBackend, resolveSchedule,
// setThresholds, generate/perplexity. Every failure prints one way: `was-edge: Name [CODE]: message`.

import { readFileSync } from 'node:fs';
import { fileError, WasEdgeError } from '../errors.js';
import { COMMAND_USAGE, USAGE, usage } from './args.js';
import { cmdChat } from './chat.js';
import { cmdLogits, cmdTokenize } from './inspect.js';
import { cmdGenerate, cmdEval } from './run.js';
import { cmdCalibrate, cmdSchedule } from './search.js';

type Command = (args: string[], out: (s: string) => void, err: (s: string) => void) => Promise<void>;

const COMMANDS: Record<string, Command> = {
  generate: cmdGenerate, chat: cmdChat, eval: cmdEval, calibrate: cmdCalibrate, schedule: cmdSchedule, tokenize: cmdTokenize, logits: cmdLogits,
};

/** The package's version: package.json above dist/cli.js (or above src/cli/ when run from the sources). */
export function packageVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'was-edge' && pkg.version) return pkg.version;
    } catch {
      // not there: try one folder up
    }
  }
  return 'unknown';
}

/** An error as the user should see it: a WasEdgeError, or null for a bug (printed with its stack). */
function typedError(e: unknown, cmd: string | undefined): WasEdgeError | null {
  if (e instanceof WasEdgeError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  // parseArgs: unknown or malformed flags. Its message's first sentence says which.
  if (code.startsWith('ERR_PARSE_ARGS')) return usage(`${(e as Error).message.split(/\.\s/)[0]!.replace(/\.$/, '')}.`, cmd);
  // A file error that no command wrapped with its path (they do: this is the net under them).
  const typed = fileError(e, (e as { path?: string }).path ?? '(a file)');
  return typed instanceof WasEdgeError ? typed : null;
}

/** Runs the CLI; returns the process exit code (0 ok, 1 a bug, 2 bad usage or input). */
export async function main(argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
      out(`was-edge ${packageVersion()}\n`);
      return 0;
    }
    if (cmd === undefined) {
      err(`${USAGE}\n`);
      return 2;
    }
    if (cmd === '-h' || cmd === '--help' || cmd === 'help') {
      out(`${(rest[0] !== undefined && COMMAND_USAGE[rest[0]]) || USAGE}\n`);
      return 0;
    }
    const run = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
    if (!run) throw usage(`unknown command "${cmd}"; the commands are ${Object.keys(COMMANDS).join(', ')}.`);
    if (rest.includes('--help') || rest.includes('-h')) {
      out(`${COMMAND_USAGE[cmd]}\n`);
      return 0;
    }
    await run(rest, out, err);
    return 0;
  } catch (e) {
    const typed = typedError(e, cmd);
    if (typed) {
      err(`was-edge: ${typed.name} [${typed.code}]: ${typed.message}\n`);
      return 2;
    }
    err(`was-edge: internal error (a bug: please report it with this trace): ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}


