// Inputs for the authors' pipeline (bench/reference-impl/run_reference.py), made with our tokenizer
// and our reference forward so that both sides see the same token ids:
//   calib.u16   the calibration chunks exactly as `was-edge calibrate` records them
//               (chunks of --ctx tokens of the BOS-prefixed text, first token set to BOS)
//   dev.u16, wiki.u16
//               the evaluation chunks exactly as `was-edge eval` feeds them (llama.cpp chunking:
//               ctx tokens per chunk, BOS first; the second half is scored)
//   logits.f32  our reference logits (f32) for positions 0, 8, 16, … of the first calibration chunk,
//               to check the converted Hugging Face checkpoint (ctx/8 rows × vocab)
//   meta.json   shapes and counts
//
// Build and run (after npm run build):
//   npx esbuild bench/reference-impl/export.ts --bundle --platform=node --format=esm \
//     --target=node20 --packages=external --outfile=dist/bench-refimpl-export.mjs
//   node dist/bench-refimpl-export.mjs --model M.gguf --calib C.txt --dev D.txt --wiki W.txt \
//     --ctx 256 --calib-tokens 16384 --eval-chunks 20 --out DIR
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { openModel } from '../../src/model/model.js';
import { createRunState, forward } from '../../src/reference/llama.js';

const { values: v } = parseArgs({ options: {
  model: { type: 'string' }, calib: { type: 'string' }, dev: { type: 'string' }, wiki: { type: 'string' },
  ctx: { type: 'string', default: '256' }, 'calib-tokens': { type: 'string', default: '16384' },
  'eval-chunks': { type: 'string', default: '20' }, out: { type: 'string' },
} });
if (!v.model || !v.calib || !v.dev || !v.wiki || !v.out) throw new Error('needs --model, --calib, --dev, --wiki and --out (see the header).');
const ctx = Number(v.ctx);
const buf = readFileSync(v.model);
const model = openModel(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
const c = model.config;
const bos = model.tokenizer.bos;
mkdirSync(v.out, { recursive: true });

/** The first `n` chunks of ctx tokens of a text, each starting with BOS (as calibrate and eval cut them). */
function chunks(path: string, n: number): Uint16Array {
  const all = model.tokenizer.encode(readFileSync(path, 'utf8'), { bos: true });
  const k = Math.min(n, Math.floor(all.length / ctx));
  const out = new Uint16Array(k * ctx);
  for (let i = 0; i < k; i++) {
    out.set(all.slice(i * ctx, (i + 1) * ctx), i * ctx);
    out[i * ctx] = bos;
  }
  return out;
}

const calib = chunks(v.calib, Math.ceil(Number(v['calib-tokens']) / ctx));
const evalChunks = Number(v['eval-chunks']);
const dev = chunks(v.dev, evalChunks);
const wiki = chunks(v.wiki, evalChunks);
for (const [name, a] of [['calib', calib], ['dev', dev], ['wiki', wiki]] as const) writeFileSync(join(v.out, `${name}.u16`), a);

// Reference logits of the first calibration chunk, every 8th position (rope far from 0 included).
const w = loadWeightsF32(model.file, c);
const state = createRunState(c, ctx);
const rows: number[] = [];
const logits = new Float32Array((ctx / 8) * c.vocabSize);
for (let pos = 0; pos < ctx; pos++) {
  const l = forward(c, w, state, calib[pos]!, pos);
  if (pos % 8 === 0) {
    logits.set(l, rows.length * c.vocabSize);
    rows.push(pos);
  }
}
writeFileSync(join(v.out, 'logits.f32'), logits);
writeFileSync(join(v.out, 'meta.json'), JSON.stringify({
  ctx, bos, vocab: c.vocabSize, logitPositions: rows,
  chunks: { calib: calib.length / ctx, dev: dev.length / ctx, wiki: wiki.length / ctx },
}, null, 1) + '\n');
console.log(`wrote ${v.out}: calib ${calib.length / ctx}, dev ${dev.length / ctx}, wiki ${wiki.length / ctx} chunks of ${ctx}; logits at ${rows.length} positions`);
