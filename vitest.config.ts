import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/gpu/**/*.test.ts', 'test/browser/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // dawn.node and Chromium are heavy: one worker per file, files in parallel up to the core count.
    pool: 'forks',
  },
});
