import { defineConfig } from 'vitest/config';
import { prebuiltSchedules, wgsl } from './rollup.config.mjs';

export default defineConfig({
  // Kernels import their WGSL as strings, and the SDK its prebuilt schedules, as in the rollup build (the same plugins).
  plugins: [wgsl(), prebuiltSchedules()],
  test: {
    include: ['test/unit/**/*.test.ts', 'test/gpu/**/*.test.ts', 'test/browser/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // dawn.node and Chromium are heavy: one worker per file, files in parallel up to the core count.
    pool: 'forks',
    // Every run ends with a line of what was skipped and why (GPU or browser missing, filters).
    reporters: ['default', './test/reporters/skip-summary.ts'],
  },
});
