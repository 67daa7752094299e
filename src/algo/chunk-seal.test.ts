/** ChunkSealer: the hash and frame of the calling thread's code, from a worker that takes the area's memory and gives it back; inline when the worker fails. */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkSealer, sealPlain } from './chunk-seal.js';
import { decompressChunk } from './zstd-chunk.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const text = (n: number): Buffer => Buffer.from('{"level":30,"msg":"request","path":"/a/b/c.txt"}\n'.repeat(Math.ceil(n / 49))).subarray(0, n);

/** `bytes` in an area of `sealer`, as a rebuild leaves them. */
function inArea(sealer: ChunkSealer, bytes: Uint8Array): Buffer {
  const area = sealer.area(bytes.length);
  area.set(bytes);
  return area;
}

describe('ChunkSealer', () => {
  it('seals on a worker: the area goes to it, the hash and frame are the calling thread’s', async () => {
    const sealer = new ChunkSealer({ offload: true });
    for (const bytes of [text(2_500_000), randomBytes(1 << 20), text(3000), Buffer.alloc(0)]) {
      const area = inArea(sealer, bytes);
      const sealing = sealer.seal(area, bytes.length);
      // The memory is the worker's now (transferred, not copied): nothing of it is left here.
      expect(area.buffer.byteLength).toBe(0);
      const sealed = await sealing;
      const here = sealPlain(bytes);
      expect(sealed.hash).toBe(sha(bytes));
      expect(sealed.frame?.equals(here.frame!) ?? here.frame).toBe(here.frame ? true : undefined);
      if (sealed.frame) {
        expect(decompressChunk(sealed.frame, bytes.length).equals(bytes)).toBe(true);
        expect(sealed.plain).toBeUndefined();
      } else {
        expect(sealed.plain?.equals(bytes)).toBe(true);
      }
    }
  });

  it('reuses an area that came back, and keeps several seals in flight apart', async () => {
    const sealer = new ChunkSealer({ offload: true });
    const chunks = [text(1_000_000), randomBytes(700_000), text(2_000_000).reverse(), randomBytes(300_000)];
    const areas = chunks.map((c) => inArea(sealer, c));
    const sealed = await Promise.all(areas.map((a, i) => sealer.seal(a, chunks[i].length)));
    sealed.forEach((s, i) => expect(s.hash).toBe(sha(chunks[i])));
    // An area back from the worker still holds the chunk sealed in it (a new one is zeros).
    const prefix = (b: Uint8Array): string => Buffer.from(b.subarray(0, 64)).toString('hex');
    expect(chunks.map(prefix)).toContain(prefix(sealer.area(1000)));
    sealer.dropAreas();
    expect(sealer.area(1000).subarray(0, 64).every((b) => b === 0)).toBe(true);
  });

  it('lets an idle worker go on dropAreas, and starts another for the next seal', async () => {
    const sealer = new ChunkSealer({ offload: true });
    const state = sealer as unknown as { worker?: { threadId: number } };
    const bytes = text(300_000);
    await sealer.seal(inArea(sealer, bytes), bytes.length);
    const first = state.worker?.threadId;
    expect(first).toBeGreaterThan(0);
    sealer.dropAreas();
    expect(state.worker).toBeUndefined();
    const area = inArea(sealer, bytes);
    const sealing = sealer.seal(area, bytes.length);
    expect(area.buffer.byteLength).toBe(0); // on a worker again, not here
    expect((await sealing).hash).toBe(sha(bytes));
    expect(state.worker?.threadId).not.toBe(first);
  });

  it('seals here when the worker cannot run, and from then on', async () => {
    const sealer = new ChunkSealer({ offload: true, workerUrl: () => new URL('file:///nonexistent/chunk-seal-worker.js') });
    const bytes = text(500_000);
    const first = sealer.seal(inArea(sealer, bytes), bytes.length);
    // The area went to a worker that never ran: that seal fails with an internal error, not a wrong answer.
    const outcome = await first.then((s) => s.hash, (err: Error & { code?: string }) => err.code);
    expect([sha(bytes), 'FERRY_ERR_INTERNAL']).toContain(outcome);
    const area = inArea(sealer, bytes);
    const second = sealer.seal(area, bytes.length);
    expect(area.buffer.byteLength).toBeGreaterThan(0); // not sent anywhere
    expect((await second).hash).toBe(sha(bytes));
  });

  it('seals on the calling thread with offload off', async () => {
    const sealer = new ChunkSealer({ offload: false });
    const bytes = text(100_000);
    const area = inArea(sealer, bytes);
    const sealed = await sealer.seal(area, bytes.length);
    expect(area.buffer.byteLength).toBeGreaterThan(0);
    expect(sealed.hash).toBe(sha(bytes));
    expect(sealed.frame?.equals(sealPlain(bytes).frame!)).toBe(true);
  });

  it('refuses a buffer that is not an area', async () => {
    const sealer = new ChunkSealer({ offload: true });
    await expect(sealer.seal(Buffer.from(new ArrayBuffer(100), 10, 50), 50)).rejects.toMatchObject({ code: 'FERRY_ERR_INTERNAL' });
  });
});

describe('ChunkSealer.warm', () => {
  it('starts the worker before the first seal, and seals here when none can start', async () => {
    const sealer = new ChunkSealer({ offload: true });
    sealer.warm();
    expect((sealer as unknown as { worker?: unknown }).worker).toBeDefined();
    const bytes = text(200_000);
    expect((await sealer.seal(inArea(sealer, bytes), bytes.length)).hash).toBe(sha(bytes));

    const missing = new ChunkSealer({
      offload: true,
      workerUrl: () => {
        throw new Error('no compiled worker');
      },
    });
    missing.warm();
    const area = inArea(missing, bytes);
    const sealing = missing.seal(area, bytes.length);
    expect(area.buffer.byteLength).toBeGreaterThan(0); // sealed here, not sent
    expect((await sealing).hash).toBe(sha(bytes));
  });
});
