/**
 * litmus (Debian's WebDAV compliance suite, 0.13) against /dav/: the basic, copymove, props,
 * locks and http suites, every test passing with no warning. A user logs in with a password
 * (litmus speaks HTTP Basic); litmus works in a fresh `litmus/` collection of the user's home.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { addUser } from '../helpers/users.js';

const run = promisify(execFile);
let t: TestServer;
let cwd: string;

beforeAll(async () => {
  expect(ensureCommand('litmus'), 'litmus (Debian package) is needed').toBe(true);
  t = await startTestServer();
  await addUser(t, 'lit', { password: 'litmus-password-1' });
  // litmus writes debug.log and child.log where it runs.
  cwd = mkdtempSync(join(tmpdir(), 'ferry-litmus-'));
});
afterAll(async () => {
  await t?.close();
  rmSync(cwd, { recursive: true, force: true });
});

/** Suite -> number of tests litmus 0.13 runs in it (init, begin and finish included). */
const SUITES: Record<string, number> = { basic: 16, copymove: 13, props: 30, locks: 41, http: 4 };

describe('litmus against /dav/', () => {
  for (const [suite, count] of Object.entries(SUITES)) {
    it(`${suite}: all ${count} tests pass, without warnings`, async () => {
      const { stdout } = await run('litmus', [`${t.url}/dav/`, 'lit', 'litmus-password-1'], { cwd, env: { ...process.env, TESTS: suite }, timeout: 120_000 }).catch((err: { stdout?: string; stderr?: string }) => {
        throw new Error(`litmus ${suite} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      });
      const summary = new RegExp(`summary for \`${suite}': of (\\d+) tests run: (\\d+) passed, (\\d+) failed`).exec(stdout);
      expect(summary, stdout).not.toBeNull();
      expect([Number(summary![1]), Number(summary![2]), Number(summary![3])], stdout).toEqual([count, count, 0]);
      expect(stdout, 'litmus warned').not.toMatch(/warning/i);
      expect(stdout).not.toMatch(/SKIPPED/);
    });
  }
});
