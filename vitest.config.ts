import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 1_200_000,
    pool: 'forks',
    setupFiles: ['./test/helpers/cleanup.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
