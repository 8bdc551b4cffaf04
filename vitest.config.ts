import { defineConfig } from 'vitest/config';

// Unit tests run anywhere; integration tests (test/integration) need root and make their own
// network namespaces, so they run one file at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
