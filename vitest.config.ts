import { defineConfig } from 'vitest/config';
import LongestFirst from './test/longest-first.js';

/**
 * Suites that drive Chromium or start clusters of servers: they run one file at a time, after
 * the rest, with the machine to themselves. Beside another suite a browser's pace changes the
 * most, and these suites take the most memory. Two cluster suites are left with the rest, as
 * they mostly wait: cluster-stall on its stopped node (the sweep's minimum age), cluster-rolling
 * on uploads held to 2 MB/s; both passed run side by side at a load of 16 to 27 (2 cores).
 */
const ALONE = ['test/web/**/*.test.ts', 'test/deploy/!(cluster-stall|cluster-rolling).test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The longest files first, also in a fresh clone (test/longest-first.ts says why).
    sequence: { sequencer: LongestFirst },
    globalSetup: ['test/global-setup.ts'],
    // expect.poll waits for a condition to hold (a page's alert, a row gone): vitest's default
    // of 1 s is less than a browser round trip can take on a busy two-core machine. Polls that
    // need longer still say so; a condition that never holds fails as before.
    expect: { poll: { timeout: 30_000 } },
    projects: [
      // Two files at a time even on two cores: one at a time (vitest's default there, cores - 1)
      // left a CI machine at a load of about 1 for the whole run, the suites mostly waiting on
      // the servers and clients they start. Every server, sshd and PostgreSQL cluster a suite
      // starts takes a free loopback port and a fresh temporary directory.
      // The unit tests under src/ first, two at a time in two reused worker processes
      // (isolate: false): a fresh process per file spent more time importing than testing.
      // `vitest run src` (85 files, 656 tests), isolated and not, alternating (chrt -r 10,
      // load 26-30): 28.8 and 27.8 s against 18.1 and 18.2 s.
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'], maxWorkers: 2, isolate: false, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'shared', include: ['test/**/*.test.ts'], exclude: ALONE, maxWorkers: 2, sequence: { groupOrder: 1 } } },
      // One worker process for the whole group, reused file after file (isolate: false): each
      // of these files paid ~1 s to import playwright-core, axe and the server's modules again
      // in a fresh process, one file at a time. Every file launches its own browser and starts
      // its own servers and closes them; cluster-limits puts back the one variable it unsets.
      // Measured: 8 of these files, isolated and not, alternating (chrt -r 10, load 19-24):
      // 50.0 and 46.1 s against 40.3 and 40.8 s (vitest's import time 7.9 -> 2.6 s).
      { extends: true, test: { name: 'alone', include: ALONE, maxWorkers: 1, isolate: false, sequence: { groupOrder: 2 } } },
    ],
  },
});
