import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two test files at a time even on two cores: vitest's default (cores - 1) ran one at a
    // time there, and the machine sat at a load of about 1 for the whole run, the suites
    // mostly waiting on the servers, browsers and clients they start. `--maxWorkers 1` runs
    // them one by one again.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    globalSetup: ['test/global-setup.ts'],
    // expect.poll waits for a condition to hold (a page's alert, a row gone): vitest's default
    // of 1 s is less than a browser round trip can take on a busy two-core machine. Polls that
    // need longer still say so; a condition that never holds fails as before.
    expect: { poll: { timeout: 30_000 } },
  },
});
