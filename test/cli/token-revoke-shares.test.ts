/**
 * Revoking a token revokes the share links it made (a leaked token must not leave its links
 * open), unless --keep-shares; `share ls` (table and --json) says what made each link: a
 * token (id and name), "web session", or "-" for a link made before this was recorded, which a
 * revocation leaves as it is. Each link revoked is audited.
 */
import Database from 'better-sqlite3';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
  await writeFile(join(w.dir, 'f'), 'secret report\n');
  ok(await w.ferry(['put', join(w.dir, 'f'), '/docs/report.txt']));
});
afterAll(async () => {
  await w?.close();
});

const newToken = async (name: string) => JSON.parse(ok(await w.ferry(['token', 'create', '--name', name, '--json'])).stdout) as { id: string; token: string };
const shareWith = async (secret: string) => JSON.parse(ok(await w.ferry(['share', 'create', '/docs/report.txt', '--json'], { env: { FERRY_TOKEN: secret } })).stdout) as { id: string; url: string; madeWith: unknown };
const statusOf = async (url: string) => (await fetch(url)).status;

describe('ferry token revoke and the links the token made', () => {
  it('revokes them with the token, says how many, and leaves links made otherwise working', async () => {
    const leak = await newToken('laptop');
    const made = await shareWith(leak.token);
    expect(made.madeWith).toEqual({ kind: 'token', tokenId: leak.id, tokenName: 'laptop' });
    ok(await w.ferry(['user', 'add', 'pam', '--password-stdin'], { input: 'pam-password-long-1\n' }));
    // The web app's way: a session, then the link.
    const session = await fetch(`${w.server.url}/api/v1/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'pam', password: 'pam-password-long-1' }) });
    expect(session.status).toBe(201);
    const { accessToken } = (await session.json()) as { accessToken: string };
    const bySession = await fetch(`${w.server.url}/api/v1/shares`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/', kind: 'upload' }),
    });
    expect(bySession.status).toBe(201);
    const pamLink = (await bySession.json()) as { id: string; url: string };
    const other = await shareWith(w.server.adminToken);
    // A link from before the server recorded what made it: its made_with is null.
    const old = await shareWith(leak.token);
    const db = new Database(join(w.server.dataDir, 'meta.db'));
    db.prepare('UPDATE shares SET made_with = NULL WHERE id = ?').run(old.id);
    db.close();

    const listed = JSON.parse(ok(await w.ferry(['share', 'ls', '--all', '--json'])).stdout) as Array<{ id: string; madeWith: unknown }>;
    const by = new Map(listed.map((s) => [s.id, s.madeWith]));
    expect([by.get(made.id), by.get(pamLink.id), by.get(old.id)]).toEqual([{ kind: 'token', tokenId: leak.id, tokenName: 'laptop' }, { kind: 'session' }, null]);
    const table = ok(await w.ferry(['share', 'ls', '--all'])).stdout.split('\n');
    expect(table[0]).toMatch(/ MADE WITH$/);
    expect(table.find((l) => l.startsWith(made.id))).toMatch(new RegExp(`${leak.id} \\(laptop\\)$`));
    expect(table.find((l) => l.startsWith(pamLink.id))).toMatch(/ web session$/);
    expect(table.find((l) => l.startsWith(old.id))).toMatch(/ -$/);

    const revoked = ok(await w.ferry(['token', 'revoke', leak.id, '--json']));
    expect(JSON.parse(revoked.stdout)).toEqual({ revoked: leak.id, sharesRevoked: 1 });
    expect(await statusOf(made.url)).toBe(410);
    expect([await statusOf(other.url), await statusOf(old.url)]).toEqual([200, 200]);
    // Listed after: the token's name is gone from nothing (a revoked token is kept), the link revoked.
    const after = JSON.parse(ok(await w.ferry(['share', 'ls', '--all', '--json'])).stdout) as Array<{ id: string; revokedAt: number | null }>;
    expect(after.find((s) => s.id === made.id)?.revokedAt).not.toBeNull();
    const audit = ok(await w.ferry(['admin', 'audit', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; target: string; details?: Record<string, unknown> });
    expect(audit.find((e) => e.event === 'share.revoke' && e.target === made.id)?.details).toMatchObject({ withToken: leak.id });
    expect(audit.find((e) => e.event === 'token.revoke' && e.target === leak.id)?.details).toMatchObject({ sharesRevoked: 1 });
  });

  it('--keep-shares keeps them, and says so; revoking again without it takes them', async () => {
    const t = await newToken('ci');
    const link = await shareWith(t.token);
    const kept = ok(await w.ferry(['token', 'revoke', '--keep-shares', t.id]));
    expect(kept.stderr).toBe(`revoked ${t.id}; its share links kept\n`);
    expect(await statusOf(link.url)).toBe(200);
    const again = ok(await w.ferry(['token', 'revoke', t.id]));
    expect(again.stderr).toBe(`revoked ${t.id} and 1 share link it made\n`);
    expect(await statusOf(link.url)).toBe(410);
  });

  it('a token that made no links: "and 0 share links"; an unknown token is still a not-found error', async () => {
    const t = await newToken('idle');
    expect(ok(await w.ferry(['token', 'revoke', t.id])).stderr).toBe(`revoked ${t.id} and 0 share links it made\n`);
    const missing = await w.ferry(['token', 'revoke', 'tok_nope']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no token tok_nope');
  });
});
