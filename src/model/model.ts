// A loaded model: the parsed file, its hyper-parameters and its tokenizer.

import { llamaConfig, type LlamaConfig } from './config.js';
import { parseGGUF, type GGUFFile } from './gguf.js';
import { Tokenizer } from './tokenizer.js';
import { modelTensors } from './weights.js';

export interface Model {
  file: GGUFFile;
  config: LlamaConfig;
  tokenizer: Tokenizer;
}

/** Parses and validates everything up front, so a bad file fails here, not mid-generation. */
export function openModel(bytes: ArrayBuffer | Uint8Array): Model {
  const file = parseGGUF(bytes);
  const config = llamaConfig(file);
  modelTensors(file, config); // shape check of every tensor
  return { file, config, tokenizer: Tokenizer.fromGGUF(file) };
}
