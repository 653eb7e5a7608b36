#!/usr/bin/env node
// Thin launcher: all logic, error printing included, is in src/cli/main.ts, bundled to dist/cli.js by `npm run build`.
import { main } from '../dist/cli.js';

const code = await main(process.argv.slice(2));
// Exit explicitly once stdout has drained: Dawn's GPU instance (kept alive for the process) would
// otherwise hold the event loop open.
process.stdout.write('', () => process.exit(code));
