import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Image builds and namespace clusters are heavy: 2 cores in CI, so no file parallelism.
    fileParallelism: false,
    reporters: ['default'],
  },
});
