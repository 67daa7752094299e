/**
 * The SFTP front with OpenSSH's own clients (`sftp -b`, `scp`): files of every awkward size
 * up and down, byte for byte, stored as chunks (read back over the native API); trees;
 * rename, remove, mkdir, rmdir; attributes; `reput` after the client was killed mid-upload,
 * sending only what was missing while nothing half-uploaded was ever visible.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/e2e.js';
import { auditEvents } from '../helpers/users.js';
import { writeRandomFile } from '../helpers/files.js';
import { rawSftp, scp, sftpOf, sftpBatch, spawnSftp, sshClient, sshUser, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';
import { uploadBuffer } from '../helpers/in-process-server.js';
import { runFerry } from '../helpers/cli.js';

let s: SftpServer;
let ana: SshUser;

beforeAll(async () => {
  s = await startSftpServer();
  ana = await sshUser(s, 'ana');
});
afterAll(async () => s?.close());

/** The file's bytes as the native API serves them (so: as stored in the chunk store). */
async function apiBytes(path: string): Promise<{ status: number; body: Buffer }> {
  const res = await s.t.api(`/api/v1/files${path}`);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

const MiB = 1024 * 1024;

describe('sftp -b and scp', () => {
  it.each([0, 1, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 64 * MiB])('puts and gets %i bytes, byte for byte', async (size) => {
    const name = `f-${size}.bin`;
    const local = join(s.dir, name);
    await writeRandomFile(local, size);
    const up = await sftpBatch(s, ana, [`put ${name} ${name}`]);
    expect(up.code, up.stderr).toBe(0);
    const stored = await apiBytes(`/users/ana/${name}`);
    expect(stored.status).toBe(200);
    const original = await readFile(local);
    expect(stored.body.equals(original)).toBe(true);
    const down = await sftpBatch(s, ana, [`get ${name} back-${name}`]);
    expect(down.code, down.stderr).toBe(0);
    expect((await readFile(join(s.dir, `back-${name}`))).equals(original)).toBe(true);
    // scp (OpenSSH 9: the SFTP protocol) both ways as well
    const scpUp = await scp(s, ana, [name, `remote:scp-${name}`]);
    expect(scpUp.code, scpUp.stderr).toBe(0);
    const scpDown = await scp(s, ana, [`remote:scp-${name}`, `scp-back-${name}`]);
    expect(scpDown.code, scpDown.stderr).toBe(0);
    expect((await readFile(join(s.dir, `scp-back-${name}`))).equals(original)).toBe(true);
  });

  it('copies a tree up with put -r and down with get -r', async () => {
    const tree = join(s.dir, 'tree');
    const files: Record<string, Buffer> = { 'a.txt': Buffer.from('alpha'), 'sub/b.bin': randomBytes(300_000), 'sub/deeper/c.bin': randomBytes(2 * MiB + 3), 'sub/empty.txt': Buffer.alloc(0) };
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(join(tree, rel, '..'), { recursive: true });
      await writeFile(join(tree, rel), data);
    }
    await mkdir(join(tree, 'emptydir'));
    const up = await sftpBatch(s, ana, ['put -r tree']);
    expect(up.code, up.stderr).toBe(0);
    for (const [rel, data] of Object.entries(files)) expect((await apiBytes(`/users/ana/tree/${rel}`)).body.equals(data), rel).toBe(true);
    const down = await sftpBatch(s, ana, ['lmkdir treeback', 'get -r tree treeback']);
    expect(down.code, down.stderr).toBe(0);
    for (const [rel, data] of Object.entries(files)) expect((await readFile(join(s.dir, 'treeback', 'tree', rel))).equals(data), rel).toBe(true);
    expect((await stat(join(s.dir, 'treeback', 'tree', 'emptydir'))).isDirectory()).toBe(true);
    const r = await scp(s, ana, ['-r', 'tree', 'remote:scptree']);
    expect(r.code, r.stderr).toBe(0);
    expect((await apiBytes('/users/ana/scptree/sub/deeper/c.bin')).body.equals(files['sub/deeper/c.bin'])).toBe(true);
  });

  it('renames, removes, makes and removes directories; refuses what POSIX refuses', async () => {
    await writeFile(join(s.dir, 'x.txt'), 'x');
    const ok = await sftpBatch(s, ana, ['mkdir m', 'mkdir m/n', 'put x.txt m/x.txt', 'rename m/x.txt m/n/y.txt', 'put x.txt m/z.txt', 'rename m/z.txt m/n/y.txt', 'ls -l m/n']);
    expect(ok.code, ok.stderr).toBe(0);
    // OpenSSH's client draws the line from the attributes when the server names ids
    // (users-groups-by-id@openssh.com), as against its own sftp-server: no link count.
    expect(ok.stdout).toMatch(/-rw-r--r-- +\? ana +ana +1 .*\/y\.txt/);
    const list = (await (await s.t.api('/api/v1/list/users/ana/m/n')).json()) as { entries: { name: string }[] };
    expect(list.entries.map((e) => e.name)).toEqual(['y.txt']);
    // A directory renamed onto an empty one replaces it, as rename(2) does; onto one that
    // holds something, it fails and both stay
    const dirs = await sftpBatch(s, ana, ['mkdir da', 'put x.txt da/in.txt', 'mkdir db', 'rename da db', 'mkdir dc', 'put x.txt dc/keep.txt', '-rename db dc']);
    expect(dirs.code, dirs.stderr).toBe(0);
    expect(dirs.stderr).toMatch(/rename "\/db" to "\/dc": Failure/);
    expect((await s.t.api('/api/v1/stat/users/ana/db/in.txt')).status).toBe(200);
    expect((await s.t.api('/api/v1/stat/users/ana/da')).status).toBe(404);
    expect((await s.t.api('/api/v1/stat/users/ana/dc/keep.txt')).status).toBe(200);
    expect((await sftpBatch(s, ana, ['rm db/in.txt', 'rmdir db', 'rm dc/keep.txt', 'rmdir dc'])).code).toBe(0);
    // (OpenSSH uses posix-rename@openssh.com: replacing m/n/y.txt above worked)
    for (const [cmd, message] of [
      ['rmdir m', /rmdir.*(not empty|Failure)/i],
      ['rm m', /(is a directory|Failure)/i],
      ['mkdir m', /(already exists|Failure)/i],
      ['rm nothing-here', /No such file/i],
      ['ln -s m/n/y.txt link', /(Operation unsupported|not supported)/i],
      ['get nothing-here', /not found|No such file/i],
      // rename(2) makes no directories: the file stays where it was (the clean-up removes it).
      ['rename m/n/y.txt no-dir/y.txt', /No such file/i],
      // A trailing slash names a directory (open(2): EISDIR), never a file of that name.
      ['put x.txt no-dir/', /Failure|directory/i],
    ] as const) {
      const r = await sftpBatch(s, ana, [cmd]);
      expect(r.code, cmd).not.toBe(0);
      expect(r.stderr, cmd).toMatch(message);
    }
    const scpIntoNothing = await scp(s, ana, ['x.txt', 'remote:no-dir/']);
    expect(scpIntoNothing.code).not.toBe(0);
    expect(scpIntoNothing.stderr).toMatch(/Failure|directory/i);
    expect((await s.t.api('/api/v1/stat/users/ana/no-dir')).status).toBe(404);
    const clean = await sftpBatch(s, ana, ['rm m/n/y.txt', 'rmdir m/n', 'rmdir m']);
    expect(clean.code, clean.stderr).toBe(0);
    expect((await s.t.api('/api/v1/stat/users/ana/m')).status).toBe(404);
    const deletes = await auditEvents(s.t, 'event=file.delete&user=ana');
    expect(deletes.find((e) => e.target === '/users/ana/m/n/y.txt')).toMatchObject({ front: 'sftp' });
    // A rename is a move, as over the API and WebDAV (webhooks and hooks see `move`); its path is the source.
    const moves = await auditEvents(s.t, 'event=file.move&user=ana');
    expect(moves.find((e) => e.path === '/users/ana/m/z.txt')).toMatchObject({ front: 'sftp', target: '/users/ana/m/n/y.txt', details: { from: '/users/ana/m/z.txt', to: '/users/ana/m/n/y.txt', overwrite: true } });
    expect((await auditEvents(s.t, 'event=file.mkdir&user=ana')).map((e) => e.target)).toContain('/users/ana/m/n');
    const downloads = await auditEvents(s.t, 'event=file.download&user=ana');
    expect(downloads[0]).toMatchObject({ front: 'sftp' });
  });

  it("copies in the server with sftp's cp (copy-data): the bytes never travel, the copy is stored like an upload", async () => {
    const data = randomBytes(5 * MiB + 3);
    await writeFile(join(s.dir, 'cp-src.bin'), data);
    const r = await sftpBatch(s, ana, ['put cp-src.bin cp-src.bin', 'cp cp-src.bin cp-dst.bin', 'put x.txt cp-over.bin', 'cp cp-src.bin cp-over.bin', '-cp nothing-here cp-none.bin']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/does not support copy-data/);
    expect(r.stderr).toMatch(/No such file/i);
    for (const name of ['cp-dst.bin', 'cp-over.bin']) expect((await apiBytes(`/users/ana/${name}`)).body.equals(data), name).toBe(true);
    expect((await s.t.api('/api/v1/stat/users/ana/cp-none.bin')).status).toBe(404);
    const src = (await (await s.t.api('/api/v1/stat/users/ana/cp-src.bin')).json()) as { hash: string };
    expect(await (await s.t.api('/api/v1/stat/users/ana/cp-dst.bin')).json()).toMatchObject({ hash: src.hash, size: data.length });
  });

  it('keeps mtime and mode with put -p, and sets them with chmod', async () => {
    const local = join(s.dir, 'p.txt');
    await writeFile(local, 'preserve me');
    const { utimes, chmod } = await import('node:fs/promises');
    await chmod(local, 0o640);
    await utimes(local, 1_600_000_000, 1_600_000_000);
    const r = await sftpBatch(s, ana, ['put -p p.txt p.txt', 'chmod 600 p.txt', 'ls -l p.txt']);
    expect(r.code, r.stderr).toBe(0);
    const entry = (await (await s.t.api('/api/v1/stat/users/ana/p.txt')).json()) as { mtime: number; mode: number };
    expect(entry).toMatchObject({ mtime: 1_600_000_000_000, mode: 0o600 });
    expect(r.stdout).toMatch(/-rw------- .* p\.txt/);
  });

  it('takes chown and chgrp (owners are not kept), scp -p, and uid/gid in a setstat after an upload', async () => {
    const local = join(s.dir, 'owned.txt');
    await writeFile(local, 'owners');
    const { utimes, chmod } = await import('node:fs/promises');
    await chmod(local, 0o604);
    await utimes(local, 1_500_000_000, 1_500_000_000);
    // OpenSSH's chown/chgrp read the owner first and stopped without one ("Can't get current ownership")
    const r = await sftpBatch(s, ana, ['put owned.txt owned.txt', 'chown 1000 owned.txt', 'chgrp 1000 owned.txt', 'ls -l owned.*']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/ownership|denied|unsupported/i);
    // A glob's ls -l has attributes, no long names: the client asks for the ids' names
    // (users-groups-by-id@openssh.com) of uid and gid 0; it showed the numbers before.
    expect(r.stdout).toMatch(/-rw----r-- .* ana +ana +6 .*owned\.txt/);
    const up = await scp(s, ana, ['-p', 'owned.txt', 'remote:scp-p.txt']);
    expect(up.code, up.stderr).toBe(0);
    expect(await (await s.t.api('/api/v1/stat/users/ana/scp-p.txt')).json()).toMatchObject({ mtime: 1_500_000_000_000, mode: 0o604, size: 6 });
    // WinSCP and FileZilla may send the owner with the times after an upload, by handle and by path
    const client = await sshClient(s, { username: 'ana', privateKey: await readFile(ana.key) });
    try {
      const sftp = await sftpOf(client);
      const attrs = { uid: 1234, gid: 5678, mtime: 1_400_000_000, atime: 1_400_000_000 };
      const handle = await new Promise<Buffer>((res, rej) => sftp.open('winscp.txt', 'w', (e, h) => (e ? rej(e) : res(h))));
      await new Promise<void>((res, rej) => sftp.write(handle, Buffer.from('sent'), 0, 4, 0, (e) => (e ? rej(e) : res())));
      await new Promise<void>((res, rej) => sftp.fsetstat(handle, attrs, (e) => (e ? rej(e) : res())));
      await new Promise<void>((res, rej) => sftp.close(handle, (e) => (e ? rej(e) : res())));
      await new Promise<void>((res, rej) => sftp.setstat('winscp.txt', { ...attrs, mode: 0o600 }, (e) => (e ? rej(e) : res())));
      const st = await new Promise<import('ssh2').Stats>((res, rej) => sftp.stat('winscp.txt', (e, a) => (e ? rej(e) : res(a))));
      expect({ uid: st.uid, gid: st.gid, size: st.size, mtime: st.mtime }).toEqual({ uid: 0, gid: 0, size: 4, mtime: 1_400_000_000 });
      // A chown of a file that does not exist still fails as one
      const missing = await new Promise<Error | undefined>((res) => sftp.setstat('nope.txt', { uid: 1, gid: 1 }, (e) => res(e ?? undefined)));
      expect(missing?.message).toMatch(/no such file/i);
    } finally {
      client.end();
    }
    expect(await (await s.t.api('/api/v1/stat/users/ana/winscp.txt')).json()).toMatchObject({ mtime: 1_400_000_000_000, mode: 0o600, size: 4 });
  });

  it('a resumed upload whose writes begin past the end of the partial upload it continues is refused at CLOSE, not stored with zeros in the gap', async () => {
    // reput continues at the size STAT showed; on several nodes another connection's partial
    // upload of the path, a shorter one, may be the one OPEN then finds. Here the client skips
    // ahead of the partial upload itself.
    const name = 'gap.bin';
    const data = randomBytes(12 * MiB);
    const user = (await s.t.server.ctx.users.userByName('ana'))!;
    const first = await sshClient(s, { username: 'ana', privateKey: await readFile(ana.key) });
    const sftp1 = await sftpOf(first);
    const h1 = await new Promise<Buffer>((res, rej) => sftp1.open(name, 'w', (e, h) => (e ? rej(e) : res(h))));
    for (let at = 0; at < 8 * MiB; at += 256 * 1024) await new Promise<void>((res, rej) => sftp1.write(h1, data, at, 256 * 1024, at, (e) => (e ? rej(e) : res())));
    first.destroy(); // gone without CLOSE: what arrived is kept, as a partial upload
    // Every write was answered, so all 8 MiB are kept once the server has seen the connection go.
    await waitFor(async () => (await s.t.server.ctx.meta.findPartial(user.id, `/users/ana/${name}`))?.size === 8 * MiB);
    const partial = { size: 8 * MiB };
    const client = await sshClient(s, { username: 'ana', privateKey: await readFile(ana.key) });
    try {
      const sftp = await sftpOf(client);
      const open = () => new Promise<Buffer>((res, rej) => sftp.open(name, 0x02 | 0x08, (e, h) => (e ? rej(e) : res(h)))); // WRITE | CREAT, no TRUNC: as reput
      const write = (h: Buffer, from: number, to: number) => new Promise<void>((res, rej) => sftp.write(h, data, from, to - from, from, (e) => (e ? rej(e) : res())));
      const close = (h: Buffer) => new Promise<Error | undefined>((res) => sftp.close(h, (e) => res(e ?? undefined)));
      const skipped = await open();
      await write(skipped, partial.size + MiB, data.length);
      const refused = await close(skipped);
      expect(refused?.message).toMatch(new RegExp(`holds ${partial.size} bytes`));
      expect((await s.t.api(`/api/v1/stat/users/ana/${name}`)).status).toBe(404);
      // The partial upload is still there to resume from where it ends.
      expect((await s.t.server.ctx.meta.findPartial(user.id, `/users/ana/${name}`))?.size).toBe(partial.size);
      const resumed = await open();
      await write(resumed, partial.size, data.length);
      expect(await close(resumed)).toBeUndefined();
      expect((await apiBytes(`/users/ana/${name}`)).body.equals(data)).toBe(true);
    } finally {
      client.end();
    }
  });

  it('a resumed upload that went to the spool file (a read, writes out of order) is refused at CLOSE when it leaves a gap past the partial upload, as a streamed one is; a fresh file may still have one', async () => {
    // sshfs reads and writes out of order, so its writes land in the spool file: a gap there
    // must not commit as zeros either.
    const name = 'spool-gap.bin';
    const data = randomBytes(12 * MiB);
    const user = (await s.t.server.ctx.users.userByName('ana'))!;
    const first = await sshClient(s, { username: 'ana', privateKey: await readFile(ana.key) });
    const sftp1 = await sftpOf(first);
    const h1 = await new Promise<Buffer>((res, rej) => sftp1.open(name, 'w', (e, h) => (e ? rej(e) : res(h))));
    for (let at = 0; at < 8 * MiB; at += 256 * 1024) await new Promise<void>((res, rej) => sftp1.write(h1, data, at, 256 * 1024, at, (e) => (e ? rej(e) : res())));
    first.destroy();
    await waitFor(async () => (await s.t.server.ctx.meta.findPartial(user.id, `/users/ana/${name}`))?.size === 8 * MiB);
    const partial = { size: 8 * MiB };
    const client = await sshClient(s, { username: 'ana', privateKey: await readFile(ana.key) });
    try {
      const sftp = await sftpOf(client);
      const open = (path: string) => new Promise<Buffer>((res, rej) => sftp.open(path, 0x01 | 0x02 | 0x08, (e, h) => (e ? rej(e) : res(h)))); // READ | WRITE | CREAT, no TRUNC: as sshfs
      const read = (h: Buffer, at: number) => new Promise<number>((res, rej) => sftp.read(h, Buffer.alloc(4096), 0, 4096, at, (e, n) => (e ? rej(e) : res(n))));
      const write = (h: Buffer, buf: Buffer, from: number, to: number) => new Promise<void>((res, rej) => sftp.write(h, buf, from, to - from, from, (e) => (e ? rej(e) : res())));
      const close = (h: Buffer) => new Promise<Error | undefined>((res) => sftp.close(h, (e) => res(e ?? undefined)));
      // Last MiB first, then the one before: never the MiB right after the partial upload.
      const outOfOrder = async (h: Buffer, buf: Buffer, from: number) => {
        expect(await read(h, 0)).toBeGreaterThan(0);
        for (let at = buf.length - MiB; at >= from; at -= MiB) await write(h, buf, at, at + MiB);
      };
      const skipped = await open(name);
      await outOfOrder(skipped, data, partial.size + MiB);
      const refused = await close(skipped);
      expect(refused?.message).toMatch(new RegExp(`holds ${partial.size} bytes, but bytes ${partial.size} to ${partial.size + MiB} were never sent`));
      expect((await s.t.api(`/api/v1/stat/users/ana/${name}`)).status).toBe(404);
      expect((await s.t.server.ctx.meta.findPartial(user.id, `/users/ana/${name}`))?.size).toBe(partial.size);
      const resumed = await open(name);
      await outOfOrder(resumed, data, partial.size);
      expect(await close(resumed)).toBeUndefined();
      expect((await apiBytes(`/users/ana/${name}`)).body.equals(data)).toBe(true);
      // A fresh file written the same way keeps its gap, as zeros (a sparse write is legal).
      const fresh = await open('spool-sparse.bin');
      const small = randomBytes(3 * MiB);
      await write(fresh, small, 0, MiB);
      expect(await read(fresh, 0)).toBe(4096); // to the spool file
      await write(fresh, small, 2 * MiB, 3 * MiB);
      expect(await close(fresh)).toBeUndefined();
      expect((await apiBytes('/users/ana/spool-sparse.bin')).body.equals(Buffer.concat([small.subarray(0, MiB), Buffer.alloc(MiB), small.subarray(2 * MiB)]))).toBe(true);
    } finally {
      client.end();
    }
  });

  it('a client gone while its reads are answered ends its session, and the server can still shut down', async () => {
    // A server of its own: closing it is the check (it waits for every SFTP session to end).
    const own = await startSftpServer();
    let closed = false;
    try {
      const bo = await sshUser(own, 'bo');
      expect((await uploadBuffer(own.t, '/users/bo/big.bin', randomBytes(24 * MiB), MiB)).status).toBe(200);
      const client = await sshClient(own, { username: 'bo', privateKey: await readFile(bo.key) });
      const stream = await rawSftp(client);
      const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
      const str = (text: string) => Buffer.concat([u32(Buffer.byteLength(text)), Buffer.from(text)]);
      const send = (type: number, body: Buffer) => stream.write(Buffer.concat([u32(body.length + 1), Buffer.from([type]), body]));
      // INIT and OPEN, reading their answers (VERSION, then HANDLE)...
      let got = Buffer.alloc(0);
      const packets: Buffer[] = [];
      const onData = (d: Buffer) => {
        got = Buffer.concat([got, d]);
        while (got.length >= 4 && got.length >= 4 + got.readUInt32BE(0)) {
          packets.push(got.subarray(4, 4 + got.readUInt32BE(0)));
          got = got.subarray(4 + got.readUInt32BE(0));
        }
      };
      stream.on('data', onData);
      send(1, u32(3));
      send(3, Buffer.concat([u32(1), str('/big.bin'), u32(1), u32(0)]));
      await waitFor(() => packets.length === 2);
      expect(packets[1][0]).toBe(102); // SSH_FXP_HANDLE
      const handle = packets[1].subarray(9, 9 + packets[1].readUInt32BE(5));
      // ...then 96 READs of 255 KiB, whose answers the client never reads: once its buffer
      // is full it gives the server no more window, and the session waits for the channel.
      stream.off('data', onData);
      stream.pause();
      const piece = 255 * 1024;
      for (let i = 0; i < 96; i++) send(5, Buffer.concat([u32(2 + i), u32(handle.length), handle, u32(0), u32(i * piece), u32(piece)]));
      await waitFor(() => stream.readableLength >= 2 * MiB);
      // The client dies (no goodbye): the requests it had sent still wait in the channel.
      (client as unknown as { _sock: { destroy(): void } })._sock.destroy();
      await own.close();
      closed = true;
    } finally {
      if (!closed) void own.close();
    }
  }, 180_000);

  it('refuses legacy scp -O and shells with a message that says what to use', async () => {
    await writeFile(join(s.dir, 'legacy.txt'), 'old');
    const r = await scp(s, ana, ['-O', 'legacy.txt', 'remote:legacy.txt']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SFTP only.*do not pass -O/);
    expect((await s.t.api('/api/v1/stat/users/ana/legacy.txt')).status).toBe(404);
  });

  it('lists with ls and answers df from the quota', async () => {
    await s.t.api('/api/v1/users/ana', { method: 'PATCH', json: { quotaBytes: 1024 * MiB } });
    const r = await sftpBatch(s, ana, ['ls -1', 'df']);
    await s.t.api('/api/v1/users/ana', { method: 'PATCH', json: { quotaBytes: null } });
    expect(r.code, r.stderr).toBe(0);
    const listed = r.stdout.split('\n').filter((l) => l && !l.startsWith('sftp>'));
    const api = (await (await s.t.api('/api/v1/list/users/ana')).json()) as { entries: { name: string }[] };
    expect(listed.slice(0, -2).sort()).toEqual(api.entries.map((e) => e.name).sort());
    // df: 1 GiB in 1 KiB blocks, the used part what ana's files take
    const usage = (await (await s.t.api('/api/v1/users/ana')).json()) as { usage: { bytes: number } };
    const [, size, used] = /^\s*(\d+)\s+(\d+)\s+(\d+)/m.exec(listed.slice(-1)[0]) ?? [];
    expect(Number(size)).toBe(1024 * 1024);
    expect(Math.abs(Number(used) - usage.usage.bytes / 1024)).toBeLessThan(8);
  });
});

/**
 * `reput` after a killed `sftp`: on a server of its own with small chunks (256 KiB on
 * average), so the partial upload holds bytes after about 4 MiB (an entry is recorded every
 * 16 chunks) and 16 MiB files do what 40 and 48 MiB files did with the default chunking.
 * The client is killed once the server has recorded its first entries (an event, not a
 * poll): at 40 Mbit/s it needs over 3 s for the file, the entries come after about 1 s.
 */
describe('reput after the client was killed', () => {
  const SMALL_CHUNKS = { algorithm: 'fastcdc-v1', minSize: 64 * 1024, avgSize: 256 * 1024, maxSize: 1024 * 1024, normalization: 0 } as const;
  let rs: SftpServer;
  let rana: SshUser;
  beforeAll(async () => {
    rs = await startSftpServer({ chunking: SMALL_CHUNKS });
    rana = await sshUser(rs, 'ana');
  });
  afterAll(async () => rs?.close());

  const bytesOf = async (path: string): Promise<Buffer> => Buffer.from(await (await rs.t.api(`/api/v1/files${path}`)).arrayBuffer());

  /**
   * Starts `sftp` putting `name` at 40 Mbit/s and kills it (SIGKILL) once the server has recorded
   * the upload's first chunks, which a partial upload keeps; fails if sftp ended before that.
   */
  async function killedPut(user: SshUser, name: string): Promise<void> {
    const meta = rs.t.server.ctx.meta;
    const append = meta.appendEntries;
    const recorded = new Promise<void>((resolve) => {
      meta.appendEntries = async (...args) => {
        const r = await append.apply(meta, args);
        meta.appendEntries = append;
        resolve();
        return r;
      };
    });
    const child = spawnSftp(rs, user, [`put ${name} ${name}`], ['-l', '40000']);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    try {
      await Promise.race([recorded, exited.then(() => Promise.reject(new Error(`sftp ended before it was killed: ${stderr}`)))]);
    } finally {
      meta.appendEntries = append;
    }
    child.kill('SIGKILL');
    await exited;
  }

  it('resumes a put: reput sends only the rest, and nothing half-done was visible', async () => {
    const name = 'resume.bin';
    const size = 16 * MiB;
    await writeRandomFile(join(rs.dir, name), size);
    const user = (await rs.t.server.ctx.users.userByName('ana'))!;
    await killedPut(rana, name);
    expect((await rs.t.server.ctx.meta.findPartial(user.id, `/users/ana/${name}`))?.size).toBeGreaterThan(0);
    // Nothing visible: not over the API, not in a listing, not to a read
    expect((await rs.t.api(`/api/v1/stat/users/ana/${name}`)).status).toBe(404);
    const ls = await sftpBatch(rs, rana, ['ls -1']);
    expect(ls.stdout).not.toContain(name);
    const get = await sftpBatch(rs, rana, [`get ${name} should-not-exist`]);
    expect(get.code).not.toBe(0);
    await expect(stat(join(rs.dir, 'should-not-exist'))).rejects.toThrow();

    const r = await sftpBatch(rs, rana, [`reput ${name} ${name}`]);
    expect(r.code, r.stderr).toBe(0);
    expect((await bytesOf(`/users/ana/${name}`)).equals(await readFile(join(rs.dir, name)))).toBe(true);
    const [upload] = await auditEvents(rs.t, 'event=file.upload&user=ana');
    expect(upload.target).toBe(`/users/ana/${name}`);
    expect(upload).toMatchObject({ front: 'sftp' });
    const d = upload.details as { size: number; received: number; resumedFrom: number };
    expect(d.size).toBe(size);
    expect(d.resumedFrom).toBeGreaterThan(0);
    expect(d.received).toBe(size - d.resumedFrom);
    // The partial is gone with the commit
    expect(await rs.t.server.ctx.meta.findPartial(user.id, `/users/ana/${name}`)).toBeUndefined();
  }, 180_000);

  it('reput works for a user allowed one live upload session, and leaves none', async () => {
    const una = await sshUser(rs, 'una', { maxSessions: 1 });
    const name = 'one-session.bin';
    const size = 16 * MiB;
    await writeRandomFile(join(rs.dir, name), size);
    const user = (await rs.t.server.ctx.users.userByName('una'))!;
    await killedPut(una, name);
    const open = async () => (await (await rs.t.api('/api/v1/admin/uploads?user=una')).json()) as unknown[];
    // The kept partial upload, una's one session, shows the bytes it holds (it said 0).
    const kept = (await rs.t.server.ctx.meta.findPartial(user.id, `/users/una/${name}`))!;
    expect(await open()).toEqual([expect.objectContaining({ kind: 'partial', path: `/users/una/${name}`, bytes: kept.size })]);
    expect(kept.size).toBeGreaterThan(0);
    const listed = await runFerry(['admin', 'uploads', '--user', 'una', '--json'], { env: { FERRY_SERVER: rs.t.url, FERRY_TOKEN: rs.t.token } });
    expect((JSON.parse(listed.stdout) as { bytes: number }[])[0].bytes).toBe(kept.size);
    const r = await sftpBatch(rs, una, [`reput ${name} ${name}`]);
    expect(r.code, r.stderr).toBe(0);
    expect((await bytesOf(`/users/una/${name}`)).equals(await readFile(join(rs.dir, name)))).toBe(true);
    const [upload] = await auditEvents(rs.t, 'event=file.upload&user=una');
    const d = upload.details as { received: number; resumedFrom: number };
    expect(d.resumedFrom).toBeGreaterThan(0);
    expect(d.received).toBe(size - d.resumedFrom);
    expect(await open()).toEqual([]);
  }, 180_000);

  it('resumes an interrupted replacement of a file, the old one readable until the new one is whole', async () => {
    const name = 'replace.bin';
    const v1 = randomBytes(3 * MiB);
    await writeFile(join(rs.dir, name), v1);
    expect((await sftpBatch(rs, rana, [`put ${name} ${name}`])).code).toBe(0);
    const v2 = randomBytes(16 * MiB);
    await writeFile(join(rs.dir, name), v2);
    await killedPut(rana, name);
    expect((await bytesOf(`/users/ana/${name}`)).equals(v1)).toBe(true);
    const r = await sftpBatch(rs, rana, [`reput ${name} ${name}`]);
    expect(r.code, r.stderr).toBe(0);
    expect((await bytesOf(`/users/ana/${name}`)).equals(v2)).toBe(true);
    const [upload] = await auditEvents(rs.t, 'event=file.upload&user=ana');
    expect((upload.details as { resumedFrom: number }).resumedFrom).toBeGreaterThan(0);
  }, 180_000);
});
