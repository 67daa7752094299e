/**
 * The Authenticator's memory of verified API tokens: a repeated token costs no token, user
 * or grant query, and every change of security state (here or by another connection to the
 * database file) is seen on the next request.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { AuthStore } from '../store/auth-store.js';
import { MetaStore } from '../store/meta-store.js';
import { Authenticator } from './auth.js';

let dir: string;
let meta: MetaStore;
let users: AuthStore;
let auth: Authenticator;
let clock: number;
let token: string;
let tokenId: string;

const IP = '192.0.2.1';

/** Queries run by `fn`. */
async function queries<T>(fn: () => Promise<T>): Promise<{ result: T; n: number }> {
  const before = meta.statements!.lookups;
  const result = await fn();
  return { result, n: meta.statements!.lookups - before };
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isFerryError(err)) throw new Error(`expected a Ferry error, got ${String(err)}`);
  return { code: err.code, message: err.message };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-auth-'));
  clock = 1_700_000_000_000;
  meta = await MetaStore.openSqlite(join(dir, 'meta.db'), { now: () => clock });
  users = new AuthStore(meta);
  auth = new Authenticator(meta, users, { now: () => clock, sessionKey: Buffer.alloc(32, 7), accessTtlMs: 60_000, refreshTtlMs: 3_600_000 });
  await users.createUser({ id: 'u-erin', name: 'erin', role: 'user', password_hash: null, home: '/users/erin', created_at: clock, disabled: 0, quota_bytes: null, quota_files: null, max_file_size: null, max_sessions: null, ip_allow: null, ip_deny: null }, [{ path: '/', perms: 'list,read' }]);
  const user = (await users.userById('u-erin'))!;
  const created = await auth.createToken(user, { name: 't', scopes: '*', pathPrefix: null, expiresAt: clock + 3_600_000 });
  token = created.token;
  tokenId = created.row.id;
});
afterEach(async () => {
  await meta.close();
  rmSync(dir, { recursive: true, force: true });
});

const header = () => `Bearer ${token}`;

describe('verified API tokens', () => {
  it('costs one query (the security epoch) once a token was verified, and answers the same', async () => {
    const first = await queries(() => auth.verify(header(), IP));
    const again = await queries(() => auth.verify(header(), IP));
    expect(first.n).toBeGreaterThanOrEqual(4); // epoch, token, user, grants (+ the touch)
    expect(again.n).toBe(1);
    expect(again.result).toEqual(first.result);
    expect(again.result).not.toBe(first.result); // a request may not change another's identity
    expect(again.result).toMatchObject({ userName: 'erin', tokenId, grants: [{ path: '/' }] });
  });

  it('sees a revocation on the next request', async () => {
    await auth.verify(header(), IP);
    expect(await users.revokeToken(tokenId, clock)).toBe(true);
    expect(await rejection(auth.verify(header(), IP))).toMatchObject({ code: 'FERRY_ERR_AUTH_INVALID', message: 'the token was revoked' });
  });

  it('sees a disabled user, changed grants and a deleted user on the next request', async () => {
    await auth.verify(header(), IP);
    await users.setGrant('u-erin', '/', 'list,read,write');
    const ctx = await auth.verify(header(), IP);
    expect([...ctx.grants[0].perms]).toEqual(['list', 'read', 'write']);
    await users.updateUser('u-erin', { disabled: 1 });
    expect((await rejection(auth.verify(header(), IP))).message).toMatch(/disabled/);
    await users.updateUser('u-erin', { disabled: 0 });
    await auth.verify(header(), IP);
    await users.deleteUser('u-erin');
    expect((await rejection(auth.verify(header(), IP))).code).toBe('FERRY_ERR_AUTH_INVALID');
  });

  it('sees a revocation committed by another connection to the database file', async () => {
    await auth.verify(header(), IP);
    const other = new Database(join(dir, 'meta.db'));
    try {
      other.prepare('update tokens set revoked_at = ? where id = ?').run(clock, tokenId);
    } finally {
      other.close();
    }
    expect((await rejection(auth.verify(header(), IP))).message).toBe('the token was revoked');
  });

  it('checks expiry and the IP lists on every request', async () => {
    await auth.verify(header(), IP);
    await users.updateUser('u-erin', { ip_allow: '198.51.100.0/24' });
    expect((await rejection(auth.verify(header(), IP))).code).toBe('FERRY_ERR_FORBIDDEN');
    const allowed = await queries(() => auth.verify(header(), '198.51.100.7'));
    expect((await rejection(auth.verify(header(), IP))).code).toBe('FERRY_ERR_FORBIDDEN');
    expect((await queries(() => auth.verify(header(), '198.51.100.7'))).n).toBe(1);
    expect(allowed.result.userName).toBe('erin');
    clock += 3_600_000;
    expect((await rejection(auth.verify(header(), '198.51.100.7'))).message).toBe('the token has expired');
  });

  it('remembers no failure: a wrong secret is looked up every time', async () => {
    const wrong = `Bearer ${token.slice(0, -4)}AAAA`;
    for (let i = 0; i < 2; i++) {
      const r = await queries(() => rejection(auth.verify(wrong, IP)));
      expect(r.result.message).toBe('the token is not valid');
      expect(r.n).toBe(2); // epoch and token row
    }
    // The right token still works, and a wrong one after it is still wrong.
    await auth.verify(header(), IP);
    expect((await rejection(auth.verify(wrong, IP))).message).toBe('the token is not valid');
  });
});
