/** `ferry whoami` and `ferry logout` against a real server, with a token made for the test. */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

describe('whoami and logout', () => {
  it('whoami names the server, the user and the token with its expiry; logout --revoke forgets and revokes it', async () => {
    const created = JSON.parse(ok(await w.ferry(['token', 'create', '--expires', '7d', '--json'])).stdout) as { id: string; token: string };
    const saved = { FERRY_SERVER: undefined, FERRY_TOKEN: undefined };
    ok(await w.ferry(['login', w.server.url, '--token', '-', '-q'], { input: created.token + '\n', env: saved }));
    const who = JSON.parse(ok(await w.ferry(['whoami', '--json'], { env: saved })).stdout) as Record<string, unknown>;
    expect(who).toMatchObject({ server: w.server.url, user: 'admin', role: 'admin', tokenId: created.id });
    expect(who.expiresAt as number).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    expect(ok(await w.ferry(['whoami'], { env: saved })).stdout).toMatch(/^server: +http.*\nuser: +admin \(admin\)/);
    const out = ok(await w.ferry(['logout', '--revoke'], { env: saved }));
    expect(out.stderr).toContain('token revoked');
    expect(JSON.parse(await readFile(w.env.FERRY_CONFIG!, 'utf8'))).not.toHaveProperty('token');
    expect((await w.ferry(['whoami'], { env: saved })).code).toBe(4); // no token saved
    const revoked = await w.ferry(['ls', '/'], { env: { FERRY_TOKEN: created.token } });
    expect(revoked.code).toBe(4); // and the token itself no longer works
  });
});
