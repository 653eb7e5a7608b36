// Linear-memory regions for zero-copy calls from TypeScript (STYLE lesson 8): callers allocate once,
// fill f32 views over `memory.buffer`, and pass pointers to the kernels.
//
// The stub runtime is a bump allocator: `alloc` never moves earlier regions, `free` reclaims only the
// most recent one (so free in reverse order), and `reset` drops everything at once.

/** A region of at least `bytes` bytes, 16-byte aligned (the stub's AL_MASK), so v128 loads are aligned. */
export function alloc(bytes: usize): usize {
  return heap.alloc(bytes);
}

/** Releases `ptr`; space is reclaimed only when it is the most recent live region (LIFO). */
export function free(ptr: usize): void {
  heap.free(ptr);
}

/** Drops every region; all earlier pointers and views become invalid. */
export function reset(): void {
  // @ts-ignore: std has heap.reset (stub runtime only); the editor typings (index.d.ts) omit it.
  heap.reset();
}
