/**
 * `ferry serve` start-up as an operator meets it: what it refuses (a weak admin token, a
 * data directory another server holds, an address it cannot listen on), with which exit code
 * and message, and what it leaves behind when it fails.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

let tmp: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir('ferry-serve-');
});
afterAll(async () => {
  await tmp.cleanup();
});

describe('a weak FERRY_ADMIN_TOKEN', () => {
  for (const [what, token] of [
    ['short', 'abc'],
    ['31 characters', 'x9F2kQ7mZ1pL4vB8nR3tY6wC0dH5jG2'],
    ['repeated', 'abcd'.repeat(10)],
    ['uniform', 'a'.repeat(40) + 'b'],
  ] as const) {
    it(`is refused at start (${what}): exit 2, a plain message, nothing created`, async () => {
      const data = `${tmp.path}/weak-${what.replace(/\W/g, '')}`;
      const r = await runFerry(['serve', '--addr', '127.0.0.1:0', '--data', data], { env: { FERRY_ADMIN_TOKEN: token }, timeoutMs: 30_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^ferry: FERRY_ADMIN_TOKEN is too weak to guard the server: .*openssl rand -hex 32.* \(FERRY_ERR_CONFIG\)\n$/);
      expect(r.stderr).not.toContain(token);
      expect(r.stdout).not.toContain('"ready"');
      expect(existsSync(data)).toBe(false);
    });
  }
});
