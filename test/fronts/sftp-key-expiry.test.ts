/**
 * An SSH key added with an API token that expires expires with the token: OpenSSH's sftp
 * logs in with it until then and is refused after, an ssh2 connection opened before loses
 * its rights at its next request, and a key added with a token that never expires goes on
 * working. (A key is a credential: one that a `ferry login` token, or a leaked one, added
 * must not outlive it.)
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedToken, SshKeyInfo } from '../../src/core/protocol.js';
import { addUser, tokenFor } from '../helpers/users.js';
import { newKey, sftpBatch, sftpOf, sshClient, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';

let s: SftpServer;
let clock = Date.now();
let hourly: CreatedToken;
let lasting: CreatedToken;

async function addKey(user: string, publicKey: string, token: string): Promise<Response> {
  return s.t.api(`/api/v1/users/${user}/keys`, { method: 'POST', json: { keys: publicKey }, token });
}

beforeAll(async () => {
  s = await startSftpServer({ now: () => clock });
  await addUser(s.t, 'kate');
  hourly = await tokenFor(s.t, 'kate', { expiresInSeconds: 3600 });
  lasting = await tokenFor(s.t, 'kate');
});
afterAll(async () => s?.close());

describe('SSH keys added with an expiring token', () => {
  it('log in until the token expires and not after; a key from a lasting token goes on', async () => {
    const brief: SshUser = { name: 'kate', ...(await newKey(s, 'kate-brief')) };
    const kept: SshUser = { name: 'kate', ...(await newKey(s, 'kate-kept')) };
    const a = await addKey('kate', brief.publicKey, hourly.token);
    expect(a.status, await a.clone().text()).toBe(201);
    expect(((await a.json()) as SshKeyInfo[])[0].expiresAt).toBe(hourly.expiresAt);
    const b = await addKey('kate', kept.publicKey, lasting.token);
    expect(((await b.json()) as SshKeyInfo[])[0].expiresAt).toBeNull();

    expect((await sftpBatch(s, brief, ['ls'])).code).toBe(0);
    const open = await sshClient(s, { username: 'kate', privateKey: await readFile(brief.key) });
    try {
      const sftp = await sftpOf(open);
      await new Promise<void>((resolve, reject) => sftp.readdir('/', (err) => (err ? reject(err) : resolve())));

      clock = hourly.expiresAt! + 1;
      const closed = new Promise<void>((resolve) => open.once('close', () => resolve()));
      const err = await new Promise<Error | undefined>((resolve) => sftp.readdir('/', (e) => resolve(e ?? undefined)));
      expect(err).toBeDefined();
      await closed;
    } finally {
      open.end();
    }
    const refused = await sftpBatch(s, brief, ['ls']);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/Permission denied \(publickey\)/);
    expect((await sftpBatch(s, kept, ['ls'])).code).toBe(0);

    // The expired key is no longer listed, and may be added again (with a lasting token: for good).
    const listed = (await (await s.t.api('/api/v1/users/kate/keys', { token: lasting.token })).json()) as SshKeyInfo[];
    expect(listed.map((k) => [k.comment, k.expiresAt])).toEqual([['kate-kept@test', null]]);
    expect((await addKey('kate', brief.publicKey, lasting.token)).status).toBe(201);
    expect((await sftpBatch(s, brief, ['ls'])).code).toBe(0);
  });

  it('an admin adding a key with a token that never expires gives one that never expires', async () => {
    await addUser(s.t, 'lou');
    const k = await newKey(s, 'lou');
    const r = await s.t.api('/api/v1/users/lou/keys', { method: 'POST', json: { keys: k.publicKey } });
    expect(((await r.json()) as SshKeyInfo[])[0].expiresAt).toBeNull();
  });
});
