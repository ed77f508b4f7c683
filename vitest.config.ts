import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // generous: the suite also runs on a busy 2-core machine; a hang still fails
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Real servers (InfluxDB, PostgreSQL, our broker) run per test file;
    // two cores cannot carry many of them at once.
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default'],
  },
});
