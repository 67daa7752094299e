/**
 * The SFTP front's part of the drain on SIGTERM (`ferry serve` calls drain() then close(), as
 * here; `drainTimeout` bounds the wait): new SSH connections are refused, a connection with
 * no file open for writing ends at once, an upload in flight finishes and is committed (a
 * new upload on that connection is refused meanwhile), and one that does not finish within
 * `drainTimeout` is cut, leaving no file. Before, close() ended every SSH connection at once:
 * an upload in flight at SIGTERM was cut however short the rest of it was.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { sftpOf, sshClient, sshUser, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';

const call = <T>(f: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, value) => (err ? reject(err) : resolve(value as T))));

/** Resolves when the connection is closed (by either side). */
const closedOf = (client: ssh2.Client): Promise<void> => new Promise((resolve) => client.once('close', () => resolve()));

/** A new SSH connection's outcome: 'connected', or the error that refused it. */
async function tryConnect(s: SftpServer, user: SshUser): Promise<string> {
  try {
    const c = await sshClient(s, { username: user.name, privateKey: await readFile(user.key) });
    c.end();
    return 'connected';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

let s: SftpServer | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

async function connectedUser(overrides: Parameters<typeof startSftpServer>[0] = {}) {
  s = await startSftpServer(overrides);
  const dee = await sshUser(s, 'dee', { home: '/home/dee' });
  const login = { username: 'dee', privateKey: await readFile(dee.key) };
  const client = await sshClient(s, login);
  client.on('error', () => undefined);
  const sftp = await sftpOf(client);
  return { s, dee, client, sftp, closed: closedOf(client) };
}

describe('SFTP and the drain on SIGTERM', () => {
  it('refuses new connections, ends idle ones, lets the upload in flight finish and commits it', async () => {
    const { s, dee, client, sftp, closed } = await connectedUser();
    const idle = await sshClient(s, { username: 'dee', privateKey: await readFile(dee.key) });
    idle.on('error', () => undefined);
    await sftpOf(idle);
    const idleClosed = closedOf(idle);
    const data = randomBytes(512 * 1024);
    const handle = await call<Buffer>((cb) => sftp.open('up.bin', 'w', cb));
    await call((cb) => sftp.write(handle, data, 0, data.length / 2, 0, cb));

    s.t.server.drain();
    let shut = false;
    const closing = s.t.server.close().then(() => (shut = true));
    await idleClosed;
    await expect.poll(() => tryConnect(s, dee), { timeout: 15_000 }).toBe('ECONNREFUSED');
    // No new upload on the connection that stays for its upload in flight.
    await expect(call<Buffer>((cb) => sftp.open('late.bin', 'w', cb))).rejects.toThrow(/shutting down/);
    expect(shut).toBe(false);

    await call((cb) => sftp.write(handle, data, data.length / 2, data.length / 2, data.length / 2, cb));
    await call((cb) => sftp.close(handle, cb));
    await closed;
    await closing;

    await s.t.restart();
    const got = await s.t.api('/api/v1/files/home/dee/up.bin');
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
    expect((await s.t.api('/api/v1/files/home/dee/late.bin')).status).toBe(404);
  });

  it('cuts an upload that does not finish within drainTimeout: the server closes, and no file is there', async () => {
    const { s, sftp, closed } = await connectedUser({ drainTimeoutMs: 1000 });
    const handle = await call<Buffer>((cb) => sftp.open('stuck.bin', 'w', cb));
    const half = randomBytes(256 * 1024);
    await call((cb) => sftp.write(handle, half, 0, half.length, 0, cb));

    s.t.server.drain();
    await s.t.server.close();
    await closed;

    await s.t.restart();
    expect((await s.t.api('/api/v1/files/home/dee/stuck.bin')).status).toBe(404);
    // The front serves again after the restart.
    expect((await s.t.api('/api/v1/list/home/dee')).status).toBe(200);
  });
});

describe('close({ force: true }): an in-process server (library use) stopped now', () => {
  it('aborts an SFTP file open for writing at once, even with no drainTimeout (0: wait however long), and keeps no file', async () => {
    // drainTimeout 0: a close that waited for the open file would never end (the test would time out).
    const { s, sftp, closed } = await connectedUser({ drainTimeoutMs: 0 });
    const handle = await call<Buffer>((cb) => sftp.open('open.bin', 'w', cb));
    const half = randomBytes(256 * 1024);
    await call((cb) => sftp.write(handle, half, 0, half.length, 0, cb));

    const waiting = s.t.server.close();
    // A second, forced call cuts the close that waits for the file, and is the same close.
    await s.t.server.close({ force: true });
    await waiting;
    await closed;

    await s.t.restart();
    expect((await s.t.api('/api/v1/files/home/dee/open.bin')).status).toBe(404);
    expect((await s.t.api('/api/v1/list/home/dee')).status).toBe(200);
  });
});
