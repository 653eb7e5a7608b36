// Tests read models and data from ../shared (read-only), or from $WAS_EDGE_SHARED.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function sharedPath(...parts: string[]): string {
  return resolve(process.env.WAS_EDGE_SHARED ?? resolve(repoRoot, '../shared'), ...parts);
}

export function hasShared(...parts: string[]): boolean {
  return existsSync(sharedPath(...parts));
}

export function readShared(...parts: string[]): Uint8Array {
  const b = readFileSync(sharedPath(...parts));
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function readF32(...parts: string[]): Float32Array {
  const b = readFileSync(sharedPath(...parts));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
