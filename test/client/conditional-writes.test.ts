/**
 * The SDK's conditional writes (`ifMatch` on putFile, putStream, move, copy and remove): a
 * write from a stale ETag throws PreconditionFailedError (FERRY_ERR_PRECONDITION_FAILED) with
 * the path and the file's ETag now in `details`, replaces nothing, and leaves no upload
 * session behind (a refused commit would keep one open until its TTL, counting against the
 * user's session limit). Against a real server over real HTTP, with files of one chunk and
 * of many (the upload flow's two ways in).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient, PreconditionFailedError, etagOfHash, isFerryError, type FerryError } from '../../src/client/index.js';
import type { ChunkingParams } from '../../src/core/manifest.js';
import { xorshiftBytes as bytes } from '../helpers/cdc-reference.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const CHUNKING: ChunkingParams = { algorithm: 'fastcdc-v1', minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024, normalization: 0 };

let t: TestServer;
let client: FerryClient;
let dir: string;
beforeAll(async () => {
  t = await startTestServer({ chunking: CHUNKING });
  client = new FerryClient({ server: t.url, token: t.token });
  dir = mkdtempSync(join(tmpdir(), 'ferry-cond-'));
});
afterAll(async () => {
  await client.close();
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const local = (name: string, data: Buffer | string): string => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};
const etag = async (path: string) => etagOfHash((await client.stat(path)).hash!);
const sessions = () => t.server.ctx.meta.db.selectFrom('uploads').select('id').execute();

/** The error `p` rejects with (it must reject). */
async function refusal(p: Promise<unknown>): Promise<FerryError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(PreconditionFailedError);
  return err as FerryError;
}

describe('ifMatch in the SDK', () => {
  for (const [what, size] of [['a small file', 1000], ['a file of many chunks', 3 * 1024 * 1024]] as const) {
    it(`putFile, ${what}: replaces from the current ETag; from a stale one throws PreconditionFailedError and replaces nothing`, async () => {
      const remote = `/put-${size}.bin`;
      await client.putFile(local(`a-${size}`, bytes(size, 1)), remote);
      const first = await etag(remote);
      await client.putFile(local(`b-${size}`, bytes(size, 2)), remote, { ifMatch: first });
      const second = await etag(remote);
      expect(second).not.toBe(first);
      const err = await refusal(client.putFile(local(`c-${size}`, bytes(size, 3)), remote, { ifMatch: first }));
      expect(err.code).toBe('FERRY_ERR_PRECONDITION_FAILED');
      expect(err.details).toMatchObject({ path: remote, condition: 'If-Match', etag: second });
      expect(err.message).toContain(`${remote} changed since you read it`);
      expect(await etag(remote)).toBe(second);
      expect(await sessions()).toEqual([]);
    });
  }

  it('putStream: the same, and a file that went away is refused too', async () => {
    await client.putStream(Readable.from([Buffer.from('one')]), '/stream.txt');
    const first = await etag('/stream.txt');
    await client.putStream(Readable.from([Buffer.from('two')]), '/stream.txt', { ifMatch: first });
    const err = await refusal(client.putStream(Readable.from([Buffer.from('three')]), '/stream.txt', { ifMatch: first }));
    expect(err.details).toMatchObject({ etag: await etag('/stream.txt') });
    await client.remove('/stream.txt');
    expect((await refusal(client.putStream(Readable.from([Buffer.from('four')]), '/stream.txt', { ifMatch: first }))).details).toMatchObject({ etag: null });
    expect(await client.statIfExists('/stream.txt')).toBeUndefined();
    expect(await sessions()).toEqual([]);
  });

  it('move, copy and remove: ifMatch is the ETag of what they replace or remove', async () => {
    await client.putStream(Readable.from([Buffer.from('src')]), '/m/src.txt');
    await client.putStream(Readable.from([Buffer.from('dst')]), '/m/dst.txt');
    const dst = await etag('/m/dst.txt');
    const src = await etag('/m/src.txt');
    await refusal(client.copy('/m/src.txt', '/m/dst.txt', { ifMatch: src }));
    await refusal(client.move('/m/src.txt', '/m/dst.txt', { ifMatch: src }));
    await refusal(client.remove('/m/dst.txt', { ifMatch: src }));
    expect(await etag('/m/dst.txt')).toBe(dst);
    await client.copy('/m/src.txt', '/m/dst.txt', { ifMatch: dst });
    expect(await etag('/m/dst.txt')).toBe(src);
    await client.move('/m/src.txt', '/m/dst.txt', { ifMatch: src });
    expect(await client.statIfExists('/m/src.txt')).toBeUndefined();
    await client.remove('/m/dst.txt', { ifMatch: src });
    expect(await client.statIfExists('/m/dst.txt')).toBeUndefined();
  });

  it('a malformed ETag is a validation error, not a precondition', async () => {
    await client.putStream(Readable.from([Buffer.from('x')]), '/bad.txt');
    const hash = (await client.stat('/bad.txt')).hash!;
    const err = await client.putStream(Readable.from([Buffer.from('y')]), '/bad.txt', { ifMatch: hash }).then(() => undefined, (e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_VALIDATION')).toBe(true);
    expect(await etag('/bad.txt')).toBe(etagOfHash(hash));
  });
});
