/**
 * SFTP uploads take their memory from the server's ingest budget (ServerContext.ingestMemory,
 * the one every streamed upload takes from), and wait for it. They used to take room only
 * when some was free and otherwise stream on regardless: 100 OpenSSH `sftp put`s of 32 MiB at
 * once took the server to a peak RSS of 2.26 GB (benchmarks/sftp-ingest-rss.mjs).
 *
 * SFTP cannot answer "busy": a file's first WRITE waits, unanswered, until the budget has
 * room, and the session reads nothing more meanwhile (the client's SSH window fills). A file
 * never waits while another file of its own session holds room (that file's writes would be
 * stuck behind the wait); the connection closing ends a wait.
 *
 * The budget is held by the test itself (a reservation, as another upload would hold it), so
 * that whether an upload fits is decided by the test, not by timing.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BodyLease } from '../../src/server/chunk-bodies.js';
import { streamRoom } from '../../src/server/sftp/upload.js';
import { sftpBatch, sftpOf, sshClient, sshUser, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';

const MiB = 1024 * 1024;

let s: SftpServer;
let una: SshUser;

beforeAll(async () => {
  s = await startSftpServer();
  una = await sshUser(s, 'una');
});
afterAll(async () => s?.close());

const memory = () => s.t.server.ctx.ingestMemory;

/** Takes all of the ingest budget but `free` bytes (as the admin: no party cap), as uploads in progress would. */
function holdAllBut(free: number): BodyLease {
  const lease = memory().tryReserve(memory().largestWhole - free);
  if (!lease) throw new Error('the ingest budget is in use: the test cannot hold it');
  return lease;
}

/** Resolves once `cond()` holds (checked every 20 ms); what the test waits on, never a fixed sleep. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
}

const p = <T>(f: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> => new Promise((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T))));
const open = (sf: ssh2.SFTPWrapper, path: string): Promise<Buffer> => p((cb) => sf.open(path, 'w', cb));
const close = (sf: ssh2.SFTPWrapper, h: Buffer): Promise<void> => p((cb) => sf.close(h, cb));
const write = (sf: ssh2.SFTPWrapper, h: Buffer, data: Buffer, at: number): Promise<void> => p((cb) => sf.write(h, data, 0, data.length, at, cb));

describe('SFTP uploads and the ingest memory budget', () => {
  it('an upload with no room waits, unanswered, and completes whole once room is given back', async () => {
    const data = randomBytes(12 * MiB);
    await writeFile(join(s.dir, 'waits.bin'), data);
    const held = holdAllBut(streamRoom(s.t.server.ctx) - 64 * 1024);
    const waitsBefore = memory().stats().waits;
    const put = sftpBatch(s, una, ['put waits.bin /waits.bin']);
    try {
      expect(await Promise.race([put.then(() => 'finished'), until(() => memory().stats().waiting === 1).then(() => 'waiting')])).toBe('waiting');
      expect(memory().stats().waits).toBe(waitsBefore + 1);
      // Nothing stored or committed meanwhile.
      expect((await s.t.api('/api/v1/stat/users/una/waits.bin')).status).toBe(404);
    } finally {
      held.release();
    }
    const r = await put;
    expect(r.code, r.stderr).toBe(0);
    expect(memory().stats().waiting).toBe(0);
    const back = await s.t.api('/api/v1/files/users/una/waits.bin');
    expect(Buffer.from(await back.arrayBuffer()).equals(data)).toBe(true);
  });

  it('a second file of a session does not wait for room the first holds: both complete', async () => {
    // Room for one stream only: the first file takes it, the second goes on without.
    const held = holdAllBut(streamRoom(s.t.server.ctx));
    const client = await sshClient(s, { username: 'una', privateKey: await readFile(una.key) });
    try {
      const sftp = await sftpOf(client);
      const a = randomBytes(6 * MiB);
      const b = randomBytes(6 * MiB);
      const ha = await open(sftp, '/both-a.bin');
      await write(sftp, ha, a.subarray(0, MiB), 0);
      const hb = await open(sftp, '/both-b.bin');
      for (let at = 0; at < b.length; at += MiB) await write(sftp, hb, b.subarray(at, at + MiB), at);
      for (let at = MiB; at < a.length; at += MiB) await write(sftp, ha, a.subarray(at, at + MiB), at);
      await close(sftp, hb);
      await close(sftp, ha);
      expect(memory().stats().waiting).toBe(0);
      for (const [name, want] of [['both-a.bin', a], ['both-b.bin', b]] as const) {
        const back = await s.t.api(`/api/v1/files/users/una/${name}`);
        expect(Buffer.from(await back.arrayBuffer()).equals(want), name).toBe(true);
      }
    } finally {
      client.end();
      held.release();
    }
  });

  it('a client that goes away while its upload waits for room ends the wait; nothing is stored', async () => {
    const held = holdAllBut(0);
    const client = await sshClient(s, { username: 'una', privateKey: await readFile(una.key) });
    try {
      const sftp = await sftpOf(client);
      const h = await open(sftp, '/gone.bin');
      const written = write(sftp, h, randomBytes(MiB), 0).catch((err: unknown) => err);
      expect(await Promise.race([written.then(() => 'answered'), until(() => memory().stats().waiting === 1).then(() => 'waiting')])).toBe('waiting');
      client.end();
      await until(() => memory().stats().waiting === 0);
      expect(await written).toBeInstanceOf(Error);
    } finally {
      held.release();
    }
    expect((await s.t.api('/api/v1/stat/users/una/gone.bin')).status).toBe(404);
  });
});
