/**
 * SFTP writes that cost the client nothing and the server a lot. Ferry stores a file whole,
 * so a hole (a write past the end, a size extended by SETSTAT) is zeros the server must cut,
 * hash and store: before the fix one 1-byte WRITE at offset 4 GB cost 6 s of the server's
 * CPU at CLOSE (a terabyte: hours), and `truncate -s` to any size by path the same. Holes
 * beyond the bytes sent are now limited (HOLE_ALLOWANCE). And a client writing single bytes
 * with gaps between made every write a pass over all earlier ones (100,000 writes: 20 s of
 * CPU, 200,000: minutes); the written ranges are now found by binary search and at most
 * MAX_EXTENTS of them are taken.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOLE_ALLOWANCE } from '../../src/server/sftp/upload.js';
import { MAX_EXTENTS } from '../../src/server/sftp/spool.js';
import { uploadBuffer } from '../helpers/in-process-server.js';
import { sftpOf, sshClient, sshUser, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';

let s: SftpServer;
let hal: SshUser;
let client: ssh2.Client;
let sftp: ssh2.SFTPWrapper;

beforeAll(async () => {
  s = await startSftpServer({});
  hal = await sshUser(s, 'hal');
  client = await sshClient(s, { username: 'hal', privateKey: await readFile(hal.key) });
  sftp = await sftpOf(client);
});
afterAll(async () => {
  client?.end();
  await s?.close();
});

const call = <T>(f: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<{ err?: Error; value?: T }> =>
  new Promise((resolve) => f((err, value) => resolve(err ? { err } : { value })));

const open = async (path: string, flags: Parameters<ssh2.SFTPWrapper['open']>[1]): Promise<Buffer> => {
  const r = await call<Buffer>((cb) => sftp.open(path, flags, cb));
  expect(r.err).toBeUndefined();
  return r.value!;
};
const write = (h: Buffer, data: Buffer, offset: number) => call<void>((cb) => sftp.write(h, data, 0, data.length, offset, cb));
const close = (h: Buffer) => call<void>((cb) => sftp.close(h, cb));

async function stat(path: string): Promise<{ status: number; size?: number }> {
  const res = await s.t.api(`/api/v1/stat/users/hal${path}`);
  return res.status === 200 ? { status: 200, size: ((await res.json()) as { size: number }).size } : { status: res.status };
}

describe('holes in files written over SFTP', () => {
  it('a write far past the end is refused, and the file never appears', async () => {
    const h = await open('/far.bin', 'w');
    const r = await write(h, Buffer.from('x'), 4_000_000_000);
    expect(r.err?.message).toMatch(/hole/);
    await close(h);
    expect((await stat('/far.bin')).status).toBe(404);
  });

  it('SETSTAT of a size far past the end is refused, by path and on an open file; the file stays as it was', async () => {
    const body = randomBytes(1000);
    expect((await uploadBuffer(s.t, '/users/hal/kept.bin', body)).status).toBe(200);
    const byPath = await call<void>((cb) => sftp.setstat('/kept.bin', { size: 2 ** 40 }, cb));
    expect(byPath.err?.message).toMatch(/hole/);
    const h = await open('/kept.bin', 'r+');
    const onHandle = await call<void>((cb) => sftp.fsetstat(h, { size: 2 ** 40 }, cb));
    expect(onHandle.err?.message).toMatch(/hole/);
    await close(h);
    const now = Buffer.from(await (await s.t.api('/api/v1/files/users/hal/kept.bin')).arrayBuffer());
    expect(now.equals(body)).toBe(true);
    // The path is free again: a new write by path works.
    const again = await call<void>((cb) => sftp.setstat('/kept.bin', { size: 10 }, cb));
    expect(again.err).toBeUndefined();
    expect(await stat('/kept.bin')).toEqual({ status: 200, size: 10 });
  });

  it('holes within the allowance still work: zeros where nothing was written', async () => {
    const h = await open('/sparse.bin', 'w');
    const at = HOLE_ALLOWANCE / 2;
    expect((await write(h, Buffer.from('end'), at)).err).toBeUndefined();
    expect((await close(h)).err).toBeUndefined();
    expect(await stat('/sparse.bin')).toEqual({ status: 200, size: at + 3 });
    const res = await s.t.api('/api/v1/files/users/hal/sparse.bin', { headers: { range: `bytes=${at - 2}-${at + 2}` } });
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from([0, 0, ...Buffer.from('end')]));
  });
});

describe('writes with gaps between them', () => {
  it(`are taken up to ${MAX_EXTENTS} separate pieces, then refused; the server goes on serving`, { timeout: 300_000 }, async () => {
    const h = await open('/gaps.bin', 'w');
    const byte = Buffer.from('g');
    let refused: Error | undefined;
    let sent = 0;
    // A window of writes in flight, as a client pipelines them.
    const next = async (): Promise<void> => {
      while (refused === undefined && sent < MAX_EXTENTS + 10) {
        const offset = 2 * sent++;
        const r = await write(h, byte, offset);
        if (r.err) refused ??= r.err;
      }
    };
    await Promise.all(Array.from({ length: 32 }, next));
    expect(refused?.message).toMatch(/separate pieces/);
    await close(h);
    expect((await stat('/gaps.bin')).status).toBe(404);
    expect((await s.t.api('/healthz')).status).toBe(200);
    // The same bytes in order are one piece: fine.
    const ok = await open('/in-order.bin', 'w');
    expect((await write(ok, Buffer.alloc(100_000, 1), 0)).err).toBeUndefined();
    expect((await close(ok)).err).toBeUndefined();
    expect(await stat('/in-order.bin')).toEqual({ status: 200, size: 100_000 });
  });
});
