// Our reference forward on GGUFs that llama.cpp's own llama-quantize made, against llama.cpp's
// refdump on the same files: node dist/check-quantized.mjs LLAMA_CPP_BIN_DIR FILE.gguf...
// (the test suite's families are written by our test quantizer; this checks the files users download
// are made the same way: llama-quantize's Q4_K_M/Q5_K_M/Q6_K mixes, block layouts and scales).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { argmax } from '../../src/reference/ops.js';
import { FAMILY_PROMPTS } from '../../test/helpers/families.js';

const [bin, ...files] = process.argv.slice(2);
const TYPE_NAMES: Record<number, string> = { 0: 'F32', 1: 'F16', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K' };
console.log('| file | tensor types | prompt ids equal | max \\|Δlogit\\| / range | greedy tokens equal (of 32) |');
console.log('|---|---|---|---|---|');
for (const file of files) {
  const m = openModel(readFileSync(file));
  const types = new Map<string, number>();
  for (const t of m.file.tensors.values()) types.set(TYPE_NAMES[t.type] ?? String(t.type), (types.get(TYPE_NAMES[t.type] ?? String(t.type)) ?? 0) + 1);
  const b = new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), 128);
  const rows: string[] = [];
  let sameIds = true, worst = 0;
  for (const prompt of FAMILY_PROMPTS) {
    const p = join(tmpdir(), 'was-edge-prompt.txt');
    writeFileSync(p, prompt);
    const ref = JSON.parse(execFileSync(join(bin!, 'refdump'), [file, p, '32'], { encoding: 'utf8', maxBuffer: 1 << 26 }));
    const ids = m.tokenizer.encode(prompt, { bos: m.tokenizer.addBos });
    sameIds &&= JSON.stringify(ids) === JSON.stringify(ref.prompt_ids);
    let logits = await b.feed(ids, 0);
    let lo = Infinity, hi = -Infinity, d = 0;
    logits.forEach((v, i) => { d = Math.max(d, Math.abs(v - ref.logits[i])); lo = Math.min(lo, ref.logits[i]); hi = Math.max(hi, ref.logits[i]); });
    worst = Math.max(worst, d / (hi - lo));
    let same = 0;
    for (let i = 0; i < 32; i++) {
      const t = argmax(logits);
      if (t !== ref.greedy_ids[i]) break;
      same++;
      logits = await b.feed([t], ids.length + i);
    }
    rows.push(String(same));
  }
  console.log(`| ${basename(file)} | ${[...types].map(([k, v]) => `${k}×${v}`).join(' ')} | ${sameIds} | ${worst.toFixed(4)} | ${rows.join(', ')} |`);
}
