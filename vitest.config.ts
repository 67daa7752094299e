import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    // expect.poll waits for a condition to hold (a page's alert, a row gone): vitest's default
    // of 1 s is less than a browser round trip can take on a busy two-core machine. Polls that
    // need longer still say so; a condition that never holds fails as before.
    expect: { poll: { timeout: 30_000 } },
  },
});
