/**
 * Streamed uploads (src/server/ingest.ts), the path every front without a client-side
 * chunker takes: the file appears whole at commit or not at all, quota and size limits hold
 * while the stream grows, and the chunks are the ones a CLI upload of the same bytes makes.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdcParamsOf } from '../../src/algo/cdc-kernel.js';
import { chunkLengths } from '../../src/algo/fastcdc.js';
import { fileHashOf } from '../../src/core/manifest.js';
import type { AuthContext } from '../../src/server/authz.js';
import { ingestStream } from '../../src/server/ingest.js';
import { sha256, startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => t?.close());

async function authFor(name: string, limits: Record<string, unknown> = {}): Promise<AuthContext> {
  await addUser(t, name, limits);
  const { ctx } = t.server;
  const row = await ctx.users.userByName(name);
  if (!row) throw new Error(`no user ${name}`);
  return ctx.auth.contextFor(row, { kind: 'token', tokenId: 'test', scopes: '*', pathPrefix: null });
}

/** A body that yields `buf` in pieces of `piece` bytes, then fails if `failAt` is reached. */
async function* pieces(buf: Buffer, piece: number, failAt?: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += piece) {
    if (failAt !== undefined && i >= failAt) throw new Error('connection reset');
    yield buf.subarray(i, i + piece);
  }
}

async function download(path: string): Promise<{ status: number; body: Buffer }> {
  const res = await t.api(`/api/v1/files${path}`);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

describe('ingestStream', () => {
  it('stores a stream as a file whose manifest is the server chunker’s cut of the bytes', async () => {
    const auth = await authFor('ivy');
    const data = randomBytes(9 * 1024 * 1024 + 17);
    const entry = await ingestStream(t.server.ctx, { auth, path: `${auth.home}/a/b.bin`, body: pieces(data, 65_536), mtime: 1_700_000_000_000, mode: 0o640 });
    let at = 0;
    const cut = chunkLengths(data, cdcParamsOf(t.server.ctx.config.chunking)).map((n) => ({ hash: sha256(data.subarray(at, (at += n))), size: n }));
    expect(cut.length).toBeGreaterThan(1);
    expect(entry).toMatchObject({ size: data.length, hash: fileHashOf(cut), mtime: 1_700_000_000_000, mode: 0o640 });
    const got = await download(`${auth.home}/a/b.bin`);
    expect(got.status).toBe(200);
    expect(got.body.equals(data)).toBe(true);
  });

  it('stores an empty stream as an empty file', async () => {
    const auth = await authFor('jo');
    const entry = await ingestStream(t.server.ctx, { auth, path: `${auth.home}/empty`, body: Readable.from([]) });
    expect(entry.size).toBe(0);
    expect((await download(`${auth.home}/empty`)).body.length).toBe(0);
  });

  it('leaves nothing visible, and no session, when the stream fails or is aborted midway', async () => {
    const auth = await authFor('kit');
    const data = randomBytes(6 * 1024 * 1024);
    await expect(ingestStream(t.server.ctx, { auth, path: `${auth.home}/cut`, body: pieces(data, 65_536, 5 * 1024 * 1024) })).rejects.toThrow('connection reset');
    expect((await download(`${auth.home}/cut`)).status).toBe(404);
    const controller = new AbortController();
    async function* slow(): AsyncGenerator<Buffer> {
      yield data.subarray(0, 3 * 1024 * 1024);
      controller.abort();
      yield data.subarray(3 * 1024 * 1024);
    }
    await expect(ingestStream(t.server.ctx, { auth, path: `${auth.home}/aborted`, body: slow(), signal: controller.signal })).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
    expect((await download(`${auth.home}/aborted`)).status).toBe(404);
    expect(await t.server.ctx.meta.countUploads(auth.userId)).toBe(0);
  });

  it('refuses a body whose length differs from the one announced, keeping the old file', async () => {
    const auth = await authFor('lou');
    const old = randomBytes(1000);
    await ingestStream(t.server.ctx, { auth, path: `${auth.home}/f`, body: Readable.from([old]) });
    const data = randomBytes(5 * 1024 * 1024);
    await expect(ingestStream(t.server.ctx, { auth, path: `${auth.home}/f`, body: pieces(data, 65_536), declaredSize: 100 })).rejects.toMatchObject({ code: 'FERRY_ERR_VALIDATION' });
    await expect(ingestStream(t.server.ctx, { auth, path: `${auth.home}/f`, body: Readable.from([data]), declaredSize: data.length + 1 })).rejects.toMatchObject({ code: 'FERRY_ERR_VALIDATION' });
    expect((await download(`${auth.home}/f`)).body.equals(old)).toBe(true);
  });

  it('stops a stream that grows past the quota or the largest file allowed, before it ends', async () => {
    const auth = await authFor('max', { quotaBytes: 3 * 1024 * 1024, maxFileSize: 64 * 1024 * 1024 });
    let sent = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      for (;;) {
        const b = randomBytes(256 * 1024);
        sent += b.length;
        yield b;
      }
    }
    await expect(ingestStream(t.server.ctx, { auth, path: `${auth.home}/huge`, body: endless() })).rejects.toMatchObject({ code: 'FERRY_ERR_QUOTA_EXCEEDED' });
    // Quota is checked every few chunks: the stream is cut well before it runs away.
    expect(sent).toBeLessThan(3 * 1024 * 1024 + 16 * 4 * 1024 * 1024 + 1);
    expect((await download(`${auth.home}/huge`)).status).toBe(404);
    const small = await authFor('nia', { maxFileSize: 1024 * 1024 });
    await expect(ingestStream(t.server.ctx, { auth: small, path: `${small.home}/big`, body: pieces(randomBytes(4 * 1024 * 1024), 65_536) })).rejects.toMatchObject({ code: 'FERRY_ERR_PAYLOAD_TOO_LARGE' });
  });

  it('with noOverwrite, refuses to replace an existing file', async () => {
    const auth = await authFor('oz');
    await ingestStream(t.server.ctx, { auth, path: `${auth.home}/keep`, body: Readable.from([Buffer.from('first')]) });
    await expect(ingestStream(t.server.ctx, { auth, path: `${auth.home}/keep`, body: Readable.from([Buffer.from('second')]), noOverwrite: true })).rejects.toMatchObject({ code: 'FERRY_ERR_ALREADY_EXISTS' });
    expect((await download(`${auth.home}/keep`)).body.toString()).toBe('first');
  });
});
