/**
 * The SFTP front's doors: what a read-only grant refuses, a wrong key, a removed key, the
 * defender's bans at connection time, password logins only when allowed, the user's address
 * lists, quotas; paths that try to leave the home; malformed packets. Every refusal is
 * checked to have changed nothing, and the server to go on serving others.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromSystemError } from '../../src/core/errors.js';
import { DEFAULT_DEFENDER } from '../../src/server/defender.js';
import { DEFAULT_CONNECTION_LIMITS } from '../../src/server/slow-clients.js';
import { connect, type Socket } from 'node:net';
import { addUser, auditEvents } from '../helpers/users.js';
import { newKey, rawSftp, sftpBatch, sftpOf, sshClient, sshUser, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';
import { uploadBuffer } from '../helpers/in-process-server.js';

let s: SftpServer;
let alice: SshUser;

beforeAll(async () => {
  s = await startSftpServer({}, { passwordAuth: false });
  alice = await sshUser(s, 'alice', { password: 'alice-password-1' });
});
afterAll(async () => s?.close());

async function exists(path: string): Promise<boolean> {
  return (await s.t.api(`/api/v1/stat${path}`)).status === 200;
}

describe('permissions over SFTP', () => {
  it('a read-only grant lets the user list and read, and refuses every change', async () => {
    const reo = await sshUser(s, 'reo', { grants: [{ path: '/', permissions: ['list', 'read'] }] });
    const doc = randomBytes(5000);
    expect((await uploadBuffer(s.t, '/users/reo/doc.txt', doc)).status).toBe(200);
    await writeFile(join(s.dir, 'mine.txt'), 'mine');
    const read = await sftpBatch(s, reo, ['ls -l', 'get doc.txt reo-doc.txt']);
    expect(read.code, read.stderr).toBe(0);
    expect((await readFile(join(s.dir, 'reo-doc.txt'))).equals(doc)).toBe(true);
    for (const cmd of ['put mine.txt mine.txt', 'put mine.txt doc.txt', 'mkdir d', 'rm doc.txt', 'rename doc.txt moved.txt', 'chmod 600 doc.txt']) {
      const r = await sftpBatch(s, reo, [cmd]);
      expect(r.code, cmd).not.toBe(0);
      expect(r.stderr, cmd).toMatch(/Permission denied/);
    }
    expect(await exists('/users/reo/mine.txt')).toBe(false);
    expect(await exists('/users/reo/d')).toBe(false);
    expect(await exists('/users/reo/moved.txt')).toBe(false);
    const now = Buffer.from(await (await s.t.api('/api/v1/files/users/reo/doc.txt')).arrayBuffer());
    expect(now.equals(doc)).toBe(true);
    const denied = await auditEvents(s.t, 'event=access.denied&user=reo');
    expect(denied.length).toBeGreaterThanOrEqual(5);
    expect(denied.every((e) => (e as { front?: string }).front === 'sftp')).toBe(true);
  });

  it('a directory renamed onto an empty one needs delete there: without it both stay', async () => {
    const dex = await sshUser(s, 'dex', { grants: [{ path: '/', permissions: ['list', 'read', 'write', 'mkdir'] }, { path: '/src', permissions: ['list', 'read', 'write', 'mkdir', 'delete'] }] });
    for (const dir of ['src/d', 'empty', 'src/empty2']) expect((await s.t.api(`/api/v1/mkdir/users/dex/${dir}?parents=true`, { method: 'POST' })).status).toBe(201);
    const r = await sftpBatch(s, dex, ['rename src/d empty']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    expect(await exists('/users/dex/empty')).toBe(true);
    expect(await exists('/users/dex/src/d')).toBe(true);
    // where the grant has delete, the empty directory is replaced
    expect((await sftpBatch(s, dex, ['rename src/d src/empty2'])).code).toBe(0);
    expect(await exists('/users/dex/src/d')).toBe(false);
    expect((await (await s.t.api('/api/v1/stat/users/dex/src/empty2')).json()) as { type: string }).toMatchObject({ type: 'dir' });
  });

  it('refuses a key the user does not have, and audits it', async () => {
    const stranger = await newKey(s, 'stranger');
    const r = await sftpBatch(s, { name: 'alice', ...stranger }, ['ls']);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
    const failures = await auditEvents(s.t, 'event=auth.failure&user=alice');
    expect(failures[0]).toMatchObject({ front: 'sftp', details: { method: 'publickey' } });
  });

  it('ends a logged-in session at its next request once its key is removed', async () => {
    const kim = await sshUser(s, 'kim');
    const client = await sshClient(s, { username: 'kim', privateKey: await readFile(kim.key) });
    try {
      const sftp = await sftpOf(client);
      await new Promise<void>((resolve, reject) => sftp.readdir('/', (err) => (err ? reject(err) : resolve())));
      const keys = (await (await s.t.api('/api/v1/users/kim/keys')).json()) as { id: string }[];
      expect((await s.t.api(`/api/v1/users/kim/keys/${keys[0].id}`, { method: 'DELETE' })).status).toBe(204);
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      const err = await new Promise<Error | undefined>((resolve) => sftp.readdir('/', (e) => resolve(e ?? undefined)));
      expect(err).toBeDefined();
      await closed;
    } finally {
      client.end();
    }
    const r = await sftpBatch(s, kim, ['ls']);
    expect(r.code).toBe(255);
  });

  it('takes passwords only when the admin allows it', async () => {
    await expect(sshClient(s, { username: 'alice', password: 'alice-password-1' })).rejects.toThrow(/authentication methods failed/);
    const withPasswords = await startSftpServer({}, { passwordAuth: true });
    try {
      await sshUser(withPasswords, 'pat', { password: 'pat-password-12' });
      const c = await sshClient(withPasswords, { username: 'pat', password: 'pat-password-12' });
      const sftp = await sftpOf(c);
      const list = await new Promise<unknown[]>((resolve, reject) => sftp.readdir('/', (err, l) => (err ? reject(err) : resolve(l))));
      expect(list).toEqual([]);
      c.end();
      await expect(sshClient(withPasswords, { username: 'pat', password: 'not-the-password' })).rejects.toThrow(/authentication methods failed/);
      const failures = await auditEvents(withPasswords.t, 'event=auth.failure&user=pat');
      expect(failures[0]).toMatchObject({ front: 'sftp', details: { method: 'password' } });
      const logins = await auditEvents(withPasswords.t, 'event=auth.login&user=pat');
      expect(logins[0]).toMatchObject({ front: 'sftp', details: { method: 'password' } });
    } finally {
      await withPasswords.close();
    }
  });

  it("applies the user's address lists", async () => {
    const ida = await sshUser(s, 'ida', { ipDeny: ['127.0.0.1'] });
    const r = await sftpBatch(s, ida, ['ls']);
    expect(r.code).toBe(255);
    const failures = await auditEvents(s.t, 'event=auth.failure&user=ida');
    expect(String((failures[0].details as { reason: string }).reason)).toMatch(/may not be used from 127\.0\.0\.1/);
  });

  it("refuses addresses on the server's deny list at connection, and only those", async () => {
    // The front listens on 127.0.0.1; a client bound to 127.0.0.2 (also loopback) is the
    // denied one, so that the suite's own API calls from 127.0.0.1 still pass.
    const d = await startSftpServer({ ipDeny: ['127.0.0.2/32'] });
    try {
      const dan = await sshUser(d, 'dan');
      const denied = await sftpBatch(d, dan, ['ls'], ['-o', 'BindAddress=127.0.0.2']);
      // 255 from ssh, or no code at all: sftp may die of SIGPIPE writing to its dead ssh.
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toMatch(/kex_exchange_identification|Connection closed/i);
      const ok = await sftpBatch(d, dan, ['ls']);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      await d.close();
    }
  });

  it('takes a reloaded deny list (SIGHUP) at the next connection', async () => {
    const d = await startSftpServer();
    try {
      const dan = await sshUser(d, 'dan');
      const before = await sftpBatch(d, dan, ['ls'], ['-o', 'BindAddress=127.0.0.2']);
      expect(before.code, before.stderr).toBe(0);
      const next = { ...d.t.server.ctx.config, ipDeny: ['127.0.0.2/32'] };
      expect(await d.t.server.reload(next, ['ipDeny'])).toEqual([]);
      const denied = await sftpBatch(d, dan, ['ls'], ['-o', 'BindAddress=127.0.0.2']);
      // 255 from ssh, or no code at all: sftp may die of SIGPIPE writing to its dead ssh.
      expect(denied.code).not.toBe(0);
      const ok = await sftpBatch(d, dan, ['ls']);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      await d.close();
    }
  });

  it("holds a user to their live upload sessions: a second file opened for writing at once is refused until the first is closed", async () => {
    await sshUser(s, 'una', { maxSessions: 1 });
    const c = await sshClient(s, { username: 'una', privateKey: await readFile(join(s.dir, 'key-una')) });
    try {
      const sftp = await sftpOf(c);
      const open = (p: string) => new Promise<Buffer>((resolve, reject) => sftp.open(p, 'w', (e, hd) => (e ? reject(e) : resolve(hd))));
      const write = (h: Buffer, data: Buffer) => new Promise<void>((resolve, reject) => sftp.write(h, data, 0, data.length, 0, (e) => (e ? reject(e) : resolve())));
      const close = (h: Buffer) => new Promise<void>((resolve, reject) => sftp.close(h, (e) => (e ? reject(e) : resolve())));
      const first = await open('/one.bin');
      await write(first, randomBytes(100_000));
      // Refused at OPEN (where the upload session begins), with the reason.
      await expect(open('/two.bin')).rejects.toThrow(/at most 1 upload sessions/);
      await close(first);
      const again = await open('/two.bin');
      await write(again, randomBytes(1000));
      await close(again);
    } finally {
      c.end();
    }
    expect(await exists('/users/una/one.bin')).toBe(true);
    expect(await exists('/users/una/two.bin')).toBe(true);
    const refusals = await auditEvents(s.t, 'event=quota.exceeded&user=una');
    expect(refusals[0]).toMatchObject({ front: 'sftp', details: { limit: 'sessions' } });
  });

  it('holds uploads to the largest file allowed', async () => {
    const max = await sshUser(s, 'max', { maxFileSize: 1024 * 1024 });
    await writeFile(join(s.dir, 'too-big.bin'), randomBytes(1024 * 1024 + 1));
    const r = await sftpBatch(s, max, ['put too-big.bin too-big.bin']);
    expect(r.code).not.toBe(0);
    expect(await exists('/users/max/too-big.bin')).toBe(false);
    const refusals = await auditEvents(s.t, 'event=quota.exceeded&user=max');
    expect(refusals[0]).toMatchObject({ front: 'sftp', details: { max: 1024 * 1024 } });
  });

  it('needs read as well as write to change a file in place, not to replace it', async () => {
    const wo = await sshUser(s, 'wo', { grants: [{ path: '/', permissions: ['list', 'write'] }] });
    expect((await uploadBuffer(s.t, '/users/wo/f.txt', Buffer.from('original'))).status).toBe(200);
    const c = await sshClient(s, { username: 'wo', privateKey: await readFile(wo.key) });
    try {
      const sftp = await sftpOf(c);
      const err = await new Promise<Error | undefined>((resolve) => sftp.open('/f.txt', 'a', (e) => resolve(e ?? undefined)));
      expect(err?.message).toMatch(/needs the 'read' permission/);
      const h = await new Promise<Buffer>((resolve, reject) => sftp.open('/f.txt', 'w', (e, hd) => (e ? reject(e) : resolve(hd))));
      await new Promise<void>((resolve, reject) => sftp.write(h, Buffer.from('replaced'), 0, 8, 0, (e) => (e ? reject(e) : resolve())));
      await new Promise<void>((resolve, reject) => sftp.close(h, (e) => (e ? reject(e) : resolve())));
    } finally {
      c.end();
    }
    expect(Buffer.from(await (await s.t.api('/api/v1/files/users/wo/f.txt')).arrayBuffer()).toString()).toBe('replaced');
  });

  it('refuses shells, commands and port forwarding with a message', async () => {
    const c = await sshClient(s, { username: 'alice', privateKey: await readFile(alice.key) });
    try {
      let stderr = '';
      // (listeners set in the callback: the refusal arrives right behind the channel)
      const code = await new Promise<number>((resolve, reject) =>
        c.shell(false, (err, ch) => {
          if (err) return reject(err);
          ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          ch.once('exit', (n: number) => resolve(n));
          ch.resume();
        }),
      );
      expect(code).toBe(1);
      expect(stderr).toMatch(/no shell[\s\S]*SFTP only/);
      const fwd = await new Promise<Error | undefined>((resolve) => c.forwardOut('127.0.0.1', 0, '127.0.0.1', s.port, (err) => resolve(err ?? undefined)));
      expect(fwd?.message).toMatch(/prohibited|failure|open/i);
    } finally {
      c.end();
    }
  });

  it('limits connections per address as it limits requests', async () => {
    // Two admin calls (user, key) and one connection fit in the limit of 3; the next is refused.
    const r = await startSftpServer({ rateLimit: { windowMs: 60_000, perIp: 3, perToken: 0, authPerIp: 30 } });
    try {
      const ray = await sshUser(r, 'ray');
      const first = await sftpBatch(r, ray, ['pwd']);
      expect(first.code, first.stderr).toBe(0);
      const second = await sftpBatch(r, ray, ['pwd']);
      expect(second.code).toBe(255);
    } finally {
      await r.close();
    }
  });

  it('holds uploads to the quota: a file that does not fit fails and leaves nothing', async () => {
    const quinn = await sshUser(s, 'quinn', { quotaBytes: 1024 * 1024 });
    await writeFile(join(s.dir, 'two-mib.bin'), randomBytes(2 * 1024 * 1024));
    const r = await sftpBatch(s, quinn, ['put two-mib.bin two-mib.bin']);
    expect(r.code).not.toBe(0);
    expect(await exists('/users/quinn/two-mib.bin')).toBe(false);
    const refusals = await auditEvents(s.t, 'event=quota.exceeded&user=quinn');
    expect(refusals[0]).toMatchObject({ front: 'sftp' });
    await writeFile(join(s.dir, 'small.bin'), randomBytes(1000));
    const ok = await sftpBatch(s, quinn, ['put small.bin small.bin']);
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe('key types', () => {
  it('logs in with RSA (3072 bits: rsa-sha2-256/512 signatures), ECDSA P-384 and Ed25519 keys through OpenSSH', async () => {
    for (const [name, type, bits] of [['rsa-user', 'rsa', '3072'], ['ecdsa-user', 'ecdsa', '384'], ['ed-user', 'ed25519', '']] as const) {
      const key = join(s.dir, `key-${name}`);
      execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', bits] : []), '-N', '', '-C', `${name}@test`, '-f', key]);
      const user = await sshUserWithKey(name, key);
      const r = await sftpBatch(s, user, ['pwd']);
      expect(r.code, `${type}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain('Remote working directory: /');
    }
  });
});

/** A user whose key is `key` (made by the caller). */
async function sshUserWithKey(name: string, key: string): Promise<SshUser> {
  await addUser(s.t, name);
  const publicKey = (await readFile(key + '.pub', 'utf8')).trim();
  const r = await s.t.api(`/api/v1/users/${name}/keys`, { method: 'POST', json: { keys: publicKey } });
  expect(r.status).toBe(201);
  return { name, key, publicKey };
}

describe('paths and packets', () => {
  it('resolves .. by name inside the home: nothing outside it can be named', async () => {
    const bob = await sshUser(s, 'bob');
    expect((await uploadBuffer(s.t, '/users/bob/secret.txt', Buffer.from('bob only'))).status).toBe(200);
    await writeFile(join(s.dir, 'climb.txt'), 'climber');
    const r = await sftpBatch(s, alice, ['put climb.txt ../../../../climb.txt', 'ls ../..']);
    expect(r.code, r.stderr).toBe(0);
    expect(await exists('/users/alice/climb.txt')).toBe(true);
    expect(await exists('/climb.txt')).toBe(false);
    const peek = await sftpBatch(s, alice, ['get ../bob/secret.txt stolen.txt']);
    expect(peek.code).not.toBe(0);
    const cd = await sftpBatch(s, alice, ['cd /../..', 'pwd']);
    expect(cd.stdout).toContain('Remote working directory: /');
    expect(bob.name).toBe('bob');
  });

  it('names paths in refusals as the client does: the home is /, the server path of the home never shows', async () => {
    const client = await sshClient(s, { username: 'alice', privateKey: await readFile(alice.key) });
    try {
      const sftp = await sftpOf(client);
      const refusal = (call: (cb: (err: Error | null | undefined) => void) => void) => new Promise<string>((resolve) => call((err) => resolve(err ? err.message : 'no error')));
      const messages = [
        await refusal((cb) => sftp.readdir('/no-such-dir', cb)),
        await refusal((cb) => sftp.stat('../bob/secret.txt', cb)),
        await refusal((cb) => sftp.rename('/no-such-file', '/elsewhere', cb)),
        await refusal((cb) => sftp.unlink('/no/such/file', cb)),
      ];
      expect(messages[0]).toBe('/no-such-dir: no such file or directory');
      expect(messages[1]).toBe('/bob/secret.txt: no such file or directory');
      for (const m of messages) expect(m).not.toContain('/users/');
    } finally {
      client.end();
    }
  });

  it("answers the server's own failure (an EXDEV naming an absolute path) with generic words and a request id, never the path", async () => {
    const { meta } = s.t.server.ctx;
    const stat = meta.stat.bind(meta);
    meta.stat = async (path, ...rest) => {
      // As a store reports it: FERRY_ERR_IO with Node's message.
      if (path.includes('broken')) throw fromSystemError(Object.assign(new Error("EXDEV: cross-device link not permitted, rename '/srv/private/x.tmp' -> '/srv/private/x'"), { code: 'EXDEV' }));
      return stat(path, ...rest);
    };
    const client = await sshClient(s, { username: 'alice', privateKey: await readFile(alice.key) });
    try {
      const sftp = await sftpOf(client);
      const message = await new Promise<string>((resolve) => sftp.stat('/broken.txt', (err) => resolve(err ? err.message : 'no error')));
      expect(message).toMatch(/^internal error \(request [0-9a-f]{16}; the details are in the server's log\)$/);
      expect(message).not.toContain('/srv/private');
    } finally {
      client.end();
      meta.stat = stat;
    }
  });

  it('answers malformed requests with a status, closes a stream it cannot follow, and keeps serving others', async () => {
    const client = await sshClient(s, { username: 'alice', privateKey: await readFile(alice.key) });
    const stream = await rawSftp(client);
    const replies = replyReader(stream);
    const send = (type: number, body: Buffer) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(body.length + 1, 0);
      head[4] = type;
      stream.write(Buffer.concat([head, body]));
    };
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    const str = (b: Buffer | string) => Buffer.concat([u32(Buffer.byteLength(b)), Buffer.from(b)]);
    send(1, u32(3)); // INIT v3
    const version = await replies.next();
    expect(version[0]).toBe(2);
    expect(version.includes(Buffer.from('posix-rename@openssh.com'))).toBe(true);

    // READ whose handle string claims more bytes than the packet has
    send(5, Buffer.concat([u32(7), u32(1000), Buffer.from('abc')]));
    expect(status(await replies.next())).toMatchObject({ id: 7, code: 5 });
    // OPEN of a name that is not UTF-8
    send(3, Buffer.concat([u32(8), str(Buffer.from([0x66, 0xff, 0xfe])), u32(0x1a), u32(0)]));
    expect(status(await replies.next())).toMatchObject({ id: 8, code: 5 });
    // OPEN of a name with a NUL in it
    send(3, Buffer.concat([u32(9), str('a\u0000b'), u32(0x1a), u32(0)]));
    const nul = status(await replies.next());
    expect(nul).toMatchObject({ id: 9, code: 4 });
    expect(nul.message).toMatch(/NUL/);
    // limits@openssh.com: 256 KiB packets, 255 KiB reads and writes, 256 handles
    send(200, Buffer.concat([u32(12), str('limits@openssh.com')]));
    const limits = await replies.next();
    expect(limits[0]).toBe(201);
    expect([0, 1, 2, 3].map((i) => limits.readUInt32BE(5 + 8 * i + 4))).toEqual([262144, 261120, 261120, 256]);
    // expand-path@openssh.com: ~ is the home
    send(200, Buffer.concat([u32(13), str('expand-path@openssh.com'), str('~/x/../y')]));
    const expanded = await replies.next();
    expect(expanded[0]).toBe(104);
    expect(expanded.toString('utf8', 13, 13 + expanded.readUInt32BE(9))).toBe('/y');
    // users-groups-by-id@openssh.com: uid/gid 0 is the user, any other id nobody; ids not
    // packed as uint32s, or too many, are refused
    send(200, Buffer.concat([u32(14), str('users-groups-by-id@openssh.com'), str(Buffer.concat([u32(0), u32(1000)])), str(u32(0))]));
    const names = await replies.next();
    expect(names[0]).toBe(201);
    const users = names.subarray(9, 9 + names.readUInt32BE(5));
    expect([users.readUInt32BE(0), users.toString('utf8', 4, 9), users.readUInt32BE(9), users.length]).toEqual([5, 'alice', 0, 13]);
    send(200, Buffer.concat([u32(15), str('users-groups-by-id@openssh.com'), str(Buffer.from([0, 0, 0])), str(Buffer.alloc(0))]));
    expect(status(await replies.next())).toMatchObject({ id: 15, code: 5 });
    send(200, Buffer.concat([u32(16), str('users-groups-by-id@openssh.com'), str(Buffer.alloc(4 * 1025)), str(Buffer.alloc(0))]));
    expect(status(await replies.next())).toMatchObject({ id: 16, code: 4 });
    // copy-data: one handle into itself is refused; a length past the source's end is EOF
    // (the bytes there are copied), a length of 0 copies to the end
    expect((await uploadBuffer(s.t, '/users/alice/cd.txt', Buffer.from('0123456789'))).status).toBe(200);
    const u64 = (n: number) => Buffer.concat([u32(0), u32(n)]);
    const open = async (reqId: number, path: string, pflags: number): Promise<Buffer> => {
      send(3, Buffer.concat([u32(reqId), str(path), u32(pflags), u32(0)]));
      const h = await replies.next();
      expect(h[0], path).toBe(102);
      return h.subarray(9, 9 + h.readUInt32BE(5));
    };
    const src = await open(17, 'cd.txt', 0x01);
    const dst = await open(18, 'cd-copy.txt', 0x02 | 0x08 | 0x10);
    const copyData = (reqId: number, from: Buffer, length: number, to: Buffer) => send(200, Buffer.concat([u32(reqId), str('copy-data'), str(from), u64(0), u64(length), str(to), u64(0)]));
    copyData(19, src, 0, src);
    expect(status(await replies.next())).toMatchObject({ id: 19, code: 4 });
    copyData(23, dst, 0, src);
    expect(status(await replies.next())).toMatchObject({ id: 23, code: 3 });
    copyData(20, src, 100, dst);
    expect(status(await replies.next())).toMatchObject({ id: 20, code: 1 });
    copyData(21, src, 0, dst);
    expect(status(await replies.next())).toMatchObject({ id: 21, code: 0 });
    send(4, Buffer.concat([u32(22), str(dst)]));
    expect(status(await replies.next())).toMatchObject({ id: 22, code: 0 });
    expect(Buffer.from(await (await s.t.api('/api/v1/files/users/alice/cd-copy.txt')).arrayBuffer()).toString()).toBe('0123456789');
    // a request type that does not exist
    send(99, u32(10));
    expect(status(await replies.next())).toMatchObject({ id: 10, code: 8 });
    // READ of a handle never opened
    send(5, Buffer.concat([u32(11), str(Buffer.from([0, 0, 0, 42])), u32(0), u32(0), u32(100)]));
    expect(status(await replies.next())).toMatchObject({ id: 11, code: 4 });
    // A length nobody can follow: the channel ends
    const ended = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    stream.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]));
    await ended;
    client.end();

    // The server is fine, for alice and for others
    const r = await sftpBatch(s, alice, ['ls']);
    expect(r.code, r.stderr).toBe(0);
    expect(await exists('/users/alice/a')).toBe(false);
  });
});

describe('the defender', () => {
  it('bans an address after repeated failed logins and refuses its connections at once', async () => {
    const d = await startSftpServer({ defender: { ...DEFAULT_DEFENDER, threshold: 3, safeList: [] } });
    try {
      const dee = await sshUser(d, 'dee');
      const wrong = await newKey(d, 'wrong');
      for (let i = 0; i < 3; i++) {
        const r = await sftpBatch(d, { name: 'dee', ...wrong }, ['ls']);
        expect(r.code).toBe(255);
      }
      // (The ban holds for every front: the admin API from 127.0.0.1 is refused too, so the
      // suite asks the server in-process.)
      const { defender, auditStore } = d.t.server.ctx;
      for (let i = 0; defender.bans().length === 0; i++) {
        if (i > 100) throw new Error(`no ban after three failed logins: score ${defender.score('127.0.0.1')}`);
        await new Promise((r) => setTimeout(r, 50)); // the third connection's failure is recorded as it closes
      }
      expect(defender.bans().map((b) => b.ip)).toEqual(['127.0.0.1']);
      expect((await d.t.api('/api/v1/me')).status).toBe(403);
      // The right key from a banned address: refused before any key exchange.
      const refused = await sftpBatch(d, dee, ['ls']);
      expect(refused.code).toBe(255);
      expect(refused.stderr).toMatch(/kex_exchange_identification|Connection closed/i);
      const { entries } = await auditStore.query({ event: 'defender.ban', limit: 10 });
      expect(entries[0]).toMatchObject({ front: 'sftp' });
      expect(defender.unban('127.0.0.1')).toBe(true);
      const again = await sftpBatch(d, dee, ['ls']);
      expect(again.code, again.stderr).toBe(0);
    } finally {
      await d.close();
    }
  });
});

describe('connections that never log in', () => {
  /** A raw TCP connection from `localAddress`; resolves with it and the first bytes the server sends. */
  function rawConnection(port: number, localAddress: string, send?: string): Promise<{ socket: Socket; first: string }> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress }, () => {
        if (send !== undefined) socket.write(send);
      });
      socket.once('error', reject);
      socket.once('data', (d: Buffer) => resolve({ socket, first: d.toString('latin1') }));
    });
  }

  function passwordLogin(port: number, localAddress: string, username: string, password: string): Promise<string> {
    return new Promise((resolve) => {
      const c = new ssh2.Client();
      c.on('ready', () => c.sftp((err, sftp) => (err ? resolve(err.message) : sftp.readdir('/', (e) => (c.end(), resolve(e ? e.message : 'listed'))))));
      c.on('error', (e) => resolve(e.message));
      c.connect({ host: '127.0.0.1', port, localAddress, username, password });
    });
  }

  it('one address holds at most maxConnectionsPerIp of them, and each is dropped when its login grace runs out', async () => {
    const d = await startSftpServer({
      connections: { ...DEFAULT_CONNECTION_LIMITS, maxPerAddress: 4 },
      sftp: { host: '127.0.0.1', port: 0, passwordAuth: true, loginGraceMs: 1500 },
    });
    const held: Socket[] = [];
    try {
      await addUser(d.t, 'erin', { password: 'erin-password-1' });
      // Four connections that said their version and nothing more: each got the server's.
      for (let i = 0; i < 4; i++) {
        const c = await rawConnection(d.port, '127.0.0.1', 'SSH-2.0-idle\r\n');
        held.push(c.socket);
        expect(c.first).toMatch(/^SSH-2\.0-Ferry/);
      }
      // A fifth from the same address is told why and closed.
      const fifth = await rawConnection(d.port, '127.0.0.1', 'SSH-2.0-idle\r\n');
      held.push(fifth.socket);
      expect(fifth.first).toMatch(/too many connections from 127\.0\.0\.1/);
      // Another address is served meanwhile.
      expect(await passwordLogin(d.port, '127.0.0.2', 'erin', 'erin-password-1')).toBe('listed');
      // A connection that sends nothing at all is closed by the server once its grace is over.
      const silent = connect({ host: '127.0.0.1', port: d.port, localAddress: '127.0.0.3' }).resume();
      held.push(silent);
      await new Promise((resolve) => silent.once('close', resolve));
      // So are the idle ones, which frees their address.
      await Promise.all(held.slice(0, 4).map((socket) => (socket.destroyed ? undefined : new Promise((resolve) => socket.once('close', resolve)))));
      expect(await passwordLogin(d.port, '127.0.0.1', 'erin', 'erin-password-1')).toBe('listed');
    } finally {
      for (const socket of held) socket.destroy();
      await d.close();
    }
  });
});

/** Reads SFTP packets off a raw channel, one per `next()`. */
function replyReader(stream: ssh2.ClientChannel): { next(): Promise<Buffer> } {
  let buf = Buffer.alloc(0);
  const waiting: ((b: Buffer) => void)[] = [];
  const ready: Buffer[] = [];
  stream.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const p = buf.subarray(4, 4 + buf.readUInt32BE(0));
      buf = buf.subarray(4 + p.length);
      const w = waiting.shift();
      if (w) w(p);
      else ready.push(p);
    }
  });
  return { next: () => (ready.length > 0 ? Promise.resolve(ready.shift()!) : new Promise((resolve) => waiting.push(resolve))) };
}

function status(p: Buffer): { type: number; id: number; code: number; message: string } {
  const id = p.readUInt32BE(1);
  const code = p.readUInt32BE(5);
  const len = p.readUInt32BE(9);
  return { type: p[0], id, code, message: p.toString('utf8', 13, 13 + len) };
}
