// Writes the test suite's family GGUFs (test/helpers/families.ts) into a folder, for llama.cpp and
// transformers to read: node dist/write-families.mjs OUT_DIR → OUT_DIR/<family>-<format>.gguf
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAMILIES, FORMATS, familyGGUF, sha256 } from '../../test/helpers/families.js';

const out = process.argv[2] ?? 'families';
mkdirSync(out, { recursive: true });
for (const f of FAMILIES) {
  for (const fmt of FORMATS) {
    const bytes = familyGGUF(f, fmt);
    writeFileSync(join(out, `${f}-${fmt}.gguf`), bytes);
    console.log(`${f}-${fmt}.gguf ${bytes.length} ${sha256(bytes)}`);
  }
}
