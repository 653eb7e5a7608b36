// Records llama.cpp's token ids for the tokenization matrix (issue 17): for each family it writes the
// tokenizer-only GGUF of test/fixtures/tokenize/vocab.ts, runs llama-tokenize on every string of
// test/fixtures/tokenize/corpus.ts with BOS as the file says, special parsing on and then off, and
// writes test/fixtures/tokenize/<family>.json. See README.md for the command.
//
// Each string goes to llama-tokenize through a file (-f): read_prompt_from_file reads it in binary,
// byte for byte, so leading and trailing whitespace, CR and NUL survive; --no-escape keeps "\n" and
// "\\" as written (by default llama-tokenize turns the two characters \ n into a newline).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CORPUS } from '../../test/fixtures/tokenize/corpus.js';
import { FAMILY_VOCAB, TOKENIZE_FAMILIES, vocabGGUF, type TokenizeFamily } from '../../test/fixtures/tokenize/vocab.js';

const run = promisify(execFile);
const bin = process.argv[2] ?? '../llama.cpp/build/bin';
const only = process.argv.slice(3) as TokenizeFamily[];
const out = resolve('test/fixtures/tokenize');
const tmp = mkdtempSync(join(tmpdir(), 'tokenize-refs-'));
const PARALLEL = 2;

async function tokenize(model: string, file: string, parseSpecial: boolean): Promise<number[]> {
  const args = ['-m', model, '-f', file, '--ids', '--log-disable', '--no-escape', ...(parseSpecial ? [] : ['--no-parse-special'])];
  const { stdout } = await run(join(bin, 'llama-tokenize'), args, { maxBuffer: 1 << 24 });
  const line = stdout.trim().split('\n').at(-1)!;
  const ids = JSON.parse(line) as unknown;
  if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x))) throw new Error(`llama-tokenize printed ${line}`);
  return ids as number[];
}

async function family(f: TokenizeFamily): Promise<void> {
  const t0 = performance.now();
  const bytes = vocabGGUF(f);
  const model = join(tmp, `${f}.gguf`);
  writeFileSync(model, bytes);
  const cases: { category: string; text: string; ids: number[]; plain?: number[] }[] = new Array(CORPUS.length);
  let at = 0;
  const worker = async (): Promise<void> => {
    for (let i = at++; i < CORPUS.length; i = at++) {
      const { category, text } = CORPUS[i]!;
      const file = join(tmp, `${f}-${i}.txt`);
      writeFileSync(file, text, 'utf8');
      const ids = await tokenize(model, file, true);
      const plain = await tokenize(model, file, false);
      rmSync(file);
      cases[i] = JSON.stringify(plain) === JSON.stringify(ids) ? { category, text, ids } : { category, text, ids, plain };
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  const v = FAMILY_VOCAB[f];
  const head = {
    family: f,
    made: 'bench/llama-cpp/tokenize-refs.ts with llama-tokenize of llama.cpp c392e509 (-f FILE --ids --no-escape [--no-parse-special])',
    vocabulary: v.source,
    architecture: v.arch,
    pre: v.vocab.pre,
    add_bos: v.vocab.addBos ?? false,
    gguf_sha256: createHash('sha256').update(bytes).digest('hex'),
    note: 'ids: special parsing on; plain: special parsing off, given only where it differs from ids',
  };
  // One case a line: small diffs when the corpus grows.
  const json = JSON.stringify(head, null, 2).replace(/\n}$/, ',\n  "cases": [\n') +
    cases.map((c) => '    ' + JSON.stringify(c)).join(',\n') + '\n  ]\n}\n';
  writeFileSync(join(out, `${f}.json`), json);
  console.log(`${f}: ${cases.length} strings, ${cases.filter((c) => c.plain).length} differ without special parsing, ` +
    `${(json.length / 1024).toFixed(0)} KB, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

try {
  for (const f of only.length > 0 ? only : TOKENIZE_FAMILIES) await family(f);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
