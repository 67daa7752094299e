/**
 * A backup copies every user's metadata and the server's secrets (the session key, TLS and
 * SSH keys) into a directory of the caller's choice on the server: an admin token narrowed
 * to a path prefix may not make one (security audit, tenth round), as it may make no webhook.
 * One that expires makes one without the session key (eleventh round): the key signs every
 * web session, so whoever reads the backup could sign in long after the token ended.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedToken } from '../../src/core/protocol.js';
import { runFerry } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-backup-prefix-'));
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
  rmSync(work, { recursive: true, force: true });
});

async function adminToken(spec: Record<string, unknown>): Promise<string> {
  const res = await t.api('/api/v1/tokens', { method: 'POST', json: { name: 'backup test', ...spec } });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as CreatedToken).token;
}

describe('a backup', () => {
  it("is refused to an admin token narrowed to a prefix, and nothing is written", async () => {
    const narrowed = await adminToken({ pathPrefix: '/pub', scopes: ['list', 'read', 'admin'] });
    const dir = join(work, 'narrowed');
    const res = await t.api('/api/v1/admin/backup', { method: 'POST', json: { dir }, token: narrowed });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'FERRY_ERR_FORBIDDEN', message: expect.stringMatching(/without a path prefix/) });
    expect(existsSync(dir)).toBe(false);
  });

  it('made with an admin token that expires leaves out the session key, which would outlive it', async () => {
    const expiring = await adminToken({ expiresInSeconds: 3600 });
    const dir = join(work, 'expiring');
    const res = await t.api('/api/v1/admin/backup', { method: 'POST', json: { dir }, token: expiring });
    expect(res.status, await res.clone().text()).toBe(200);
    const manifest = (await res.json()) as { files: { path: string }[]; leftOut?: { path: string; reason: string }[] };
    expect(readdirSync(dir)).toContain('meta.db');
    expect(readdirSync(dir)).not.toContain('session-key');
    expect(manifest.files.map((f) => f.path)).not.toContain('session-key');
    expect(manifest.leftOut).toEqual([{ path: 'session-key', reason: expect.stringMatching(/expires/) }]);
    // The CLI says so.
    const cli = await runFerry(['admin', 'backup', join(work, 'expiring-cli')], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: expiring } });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr).toContain('left out session-key: made with a credential that expires');
    expect(readdirSync(join(work, 'expiring-cli'))).not.toContain('session-key');
  });

  it('without the session key, restores, says so, and the restored server starts with a new key', async () => {
    const expiring = await adminToken({ expiresInSeconds: 3600 });
    expect((await t.api('/api/v1/users', { method: 'POST', json: { name: 'kept' } })).status).toBe(201);
    const backup = join(work, 'expiring-restore');
    expect((await runFerry(['admin', 'backup', backup], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: expiring } })).code).toBe(0);

    const fresh = join(work, 'restored-fresh');
    const restored = await runFerry(['admin', 'restore', backup, '--data', fresh]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/^restored 1 file from the backup of /);
    expect(restored.stderr).toBe('not in the backup: session-key, made with a credential that expires: the key signs every web session, and would outlive it (a restored server makes a new one; web sessions then end)\n');
    expect(readdirSync(fresh)).not.toContain('session-key');
    const started = await startTestServer({ dataDir: fresh });
    try {
      expect(readdirSync(fresh)).toContain('session-key');
      expect((await started.api('/api/v1/users/kept')).status).toBe(200);
    } finally {
      await started.close();
    }

    // Over a data directory that has a key, that key stays, and the restore says so.
    const keyed = join(work, 'restored-keyed');
    mkdirSync(keyed, { mode: 0o700 });
    writeFileSync(join(keyed, 'session-key'), 'the key already there', { mode: 0o600 });
    const again = await runFerry(['admin', 'restore', backup, '--data', keyed]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/^not in the backup: session-key, .*; the one already in .*restored-keyed is kept\n$/);
    expect(readFileSync(join(keyed, 'session-key'), 'utf8')).toBe('the key already there');
  });

  it('is made with an admin token without one', async () => {
    const full = await adminToken({});
    const dir = join(work, 'full');
    const res = await t.api('/api/v1/admin/backup', { method: 'POST', json: { dir }, token: full });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['meta.db', 'session-key']));
    expect(((await res.json()) as { leftOut?: unknown }).leftOut).toBeUndefined();
  });
});
