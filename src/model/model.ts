// A loaded model: the parsed file, its hyper-parameters and its tokenizer.

import { ModelFormatError } from '../errors.js';
import { llamaConfig, type LlamaConfig } from './config.js';
import { parseGGUF, type GGUFFile, type GGUFSource } from './gguf.js';
import { Tokenizer } from './tokenizer.js';
import { modelTensors } from './weights.js';

export interface Model {
  file: GGUFFile;
  config: LlamaConfig;
  tokenizer: Tokenizer;
}

/** Parses and validates everything up front, so a bad file fails here, not mid-generation. */
export function openModel(bytes: ArrayBuffer | Uint8Array | GGUFSource): Model {
  const file = parseGGUF(bytes);
  const config = llamaConfig(file);
  modelTensors(file, config); // shape check of every tensor (token_embd and output have vocabSize rows)
  const tokenizer = Tokenizer.fromGGUF(file);
  // Ids past the embedding table would read other memory; a short list fails part-way through generation.
  if (tokenizer.vocabSize !== config.vocabSize) {
    throw new ModelFormatError('VOCAB_MISMATCH',
      `GGUF vocabulary has ${tokenizer.vocabSize} tokens but the embedding table has ${config.vocabSize} rows; the file is inconsistent. Re-convert it with llama.cpp.`);
  }
  return { file, config, tokenizer };
}
