// Reference outputs for the test suite's family models (test/helpers/families.ts), committed under
// test/fixtures/families/<family>-<format>.json and keyed by each file's sha256:
//   llama3, smollm, qwen2: llama.cpp c392e509's refdump (bench/llama-cpp/refdump.cpp) — its own
//     tokenization of each prompt, last-position logits, 32 greedy ids;
//   qwen3 (newer than that snapshot): transformers through bench/transformers-ref/hf_ref.py on the GPU
//     machine, its JSON lines passed here with --hf FILE.
// node dist/family-refs.mjs LLAMA_CPP_BIN_DIR [--hf hf.jsonl] [--write-hf-input OUT.json]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openModel } from '../../src/model/model.js';
import { FAMILIES, FAMILY_PROMPTS, FORMATS, familyGGUF, ODD_WIDTH, sha256, type Family, type Format } from '../../test/helpers/families.js';

const args = process.argv.slice(2);
const bin = args[0]!;
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const outDir = 'test/fixtures/families';
mkdirSync(outDir, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'was-edge-families-'));
const round = (v: number) => Number(v.toPrecision(7));

interface Case { prompt: string; prompt_ids: number[]; logits: number[]; greedy_ids: number[] }
const write = (f: Family, fmt: Format, source: string, cases: Case[]) => {
  const bytes = familyGGUF(f, fmt);
  writeFileSync(join(outDir, `${f}-${fmt}.json`), `${JSON.stringify({ family: f, format: fmt, sha256: sha256(bytes), source, cases: cases.map((c) => ({ ...c, logits: c.logits.map(round) })) })}\n`);
};

const hfInput = opt('--write-hf-input');
if (hfInput) {
  // Prompt ids for transformers: our tokenizer, which the qwen2 files check against llama.cpp (same vocabulary and pre).
  const cases = [];
  for (const f of ['qwen2', 'qwen3'] as Family[]) for (const fmt of FORMATS) {
    const m = openModel(familyGGUF(f, fmt));
    for (const prompt of FAMILY_PROMPTS) cases.push({ file: `${f}-${fmt}`, prompt, ids: m.tokenizer.encode(prompt, { bos: m.tokenizer.addBos }) });
    writeFileSync(join(hfInput, '..', `${f}-${fmt}.gguf`), familyGGUF(f, fmt));
  }
  writeFileSync(hfInput, JSON.stringify({ cases }));
  process.exit(0);
}

const hf = opt('--hf');
if (hf) {
  const lines = readFileSync(hf, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Case & { file: string });
  for (const fmt of FORMATS) write('qwen3', fmt, 'transformers 5.17 Qwen3ForCausalLM, float64, weights dequantized by llama.cpp gguf-py', lines.filter((l) => l.file === `qwen3-${fmt}`));
  process.exit(0);
}

const runs: [Family, readonly Format[]][] = [...FAMILIES.filter((x) => x !== 'qwen3').map((f) => [f, FORMATS] as [Family, readonly Format[]]),
  [ODD_WIDTH, ['Q4_K_M', 'Q5_K_M']]];
for (const [f, formats] of runs) {
  for (const fmt of formats) {
    const model = join(work, `${f}-${fmt}.gguf`);
    writeFileSync(model, familyGGUF(f, fmt));
    const cases = FAMILY_PROMPTS.map((prompt) => {
      const p = join(work, 'prompt.txt');
      writeFileSync(p, prompt);
      const out = JSON.parse(execFileSync(join(bin, 'refdump'), [model, p, '32'], { encoding: 'utf8', maxBuffer: 1 << 26 })) as Omit<Case, 'prompt'>;
      return { prompt, ...out };
    });
    write(f, fmt, 'llama.cpp c392e509 refdump (CPU, f32 KV cache)', cases);
    console.log(`${f}-${fmt}: ${cases.map((c) => c.prompt_ids.length).join(', ')} prompt tokens`);
  }
}
