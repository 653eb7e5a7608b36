// `was-edge tokenize` and `was-edge logits`: what the model sees and what it computes, as JSON, for
// comparing with other runtimes (llama.cpp's llama-tokenize, a transformers forward).

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { FinishReason } from '../generate.js';
import { loadModelFile } from '../node.js';
import { cliBackend, intOption, usage } from './args.js';
import { resolveDefaultModel } from './default-model.js';

/** The finish reason as the CLI and the SDK's chat report it: the model's end of generation is 'eog'. */
export function finishReason(r: FinishReason): string {
  return r === 'eos' ? 'eog' : r;
}

function textOf(v: { text?: string; 'text-file'?: string }, flag: string): string {
  if (v.text !== undefined && v['text-file'] !== undefined) throw usage(`give --${flag} or --${flag}-file, not both.`);
  if (v['text-file'] !== undefined) return readFileSync(v['text-file'], 'utf8');
  if (v.text === undefined) throw usage(`needs --${flag} TEXT or --${flag}-file F.`);
  return v.text;
}

export async function cmdTokenize(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: { model: { type: 'string' }, text: { type: 'string' }, 'text-file': { type: 'string' }, 'no-parse-special': { type: 'boolean' }, json: { type: 'boolean' } },
    strict: true,
  });
  const text = textOf(v, 'text');
  const model = await loadModelFile(v.model ?? (await resolveDefaultModel(err)));
  // BOS (and EOS) as the file says, as llama-tokenize adds them.
  const ids = model.tokenizer.encode(text, { parseSpecial: !v['no-parse-special'] });
  out(v.json ? `${JSON.stringify({ ids })}\n` : `${ids.map((id) => `${id} ${JSON.stringify(model.tokenizer.piece(id))}`).join('\n')}\n`);
}

export async function cmdLogits(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: {
      model: { type: 'string' }, prompt: { type: 'string' }, 'prompt-file': { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' },
      ctx: { type: 'string' }, json: { type: 'boolean' },
    },
    strict: true,
  });
  const { text: prompt, 'text-file': file } = { text: v.prompt, 'text-file': v['prompt-file'] };
  const text = textOf({ text: prompt, 'text-file': file }, 'prompt');
  const model = await loadModelFile(v.model ?? (await resolveDefaultModel(err)));
  const ids = model.tokenizer.encode(text, { parseSpecial: true });
  if (ids.length === 0) ids.push(model.tokenizer.bos);
  const backend = await cliBackend(model, v, intOption('ctx', v.ctx) ?? Math.min(model.config.contextLength, Math.max(ids.length, 16)), err);
  try {
    const logits = await backend.feed(ids, 0);
    const top = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]! || a - b).slice(0, 8);
    out(v.json ? `${JSON.stringify({ prompt_ids: ids, logits: Array.from(logits) })}\n`
      : `${ids.length} prompt tokens on ${backend.name}; top: ${top.map((id) => `${id} ${JSON.stringify(model.tokenizer.piece(id))} ${logits[id]!.toFixed(4)}`).join(', ')}\n`);
  } finally {
    backend.dispose();
  }
}
