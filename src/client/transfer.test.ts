/** The pack bodies' buffers of a transfer (PackBuffers), alone and as ChunkSender uses them. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PACK_FRAME_HEADER_BYTES, type Capabilities, type PackPutResponse } from '../core/protocol.js';
import type { FerryApi } from './api.js';
import { ChunkSender, PackBuffers, TransferContext } from './transfer.js';

describe('PackBuffers', () => {
  it('hands out a buffer of the size asked, and the same memory again once it is given back', () => {
    const buffers = new PackBuffers(2);
    const a = buffers.take(100, 1000);
    expect(a.length).toBe(100);
    expect(a.buffer.byteLength).toBe(1000);
    buffers.give(a);
    expect(buffers.kept).toBe(1);
    const b = buffers.take(900, 1000);
    expect(b.length).toBe(900);
    expect(b.buffer).toBe(a.buffer);
    expect(buffers.kept).toBe(0);
    // Larger than any kept buffer (and than `capacity`): a buffer of its own.
    buffers.give(b);
    const c = buffers.take(5000, 1000);
    expect(c.buffer).not.toBe(a.buffer);
    expect(c.buffer.byteLength).toBe(5000);
    expect(buffers.kept).toBe(1);
  });

  it('keeps at most `keep` buffers, and never a view into the middle of one', () => {
    const buffers = new PackBuffers(1);
    const [a, b] = [buffers.take(10, 100), buffers.take(10, 100)];
    buffers.give(a);
    buffers.give(b);
    expect(buffers.kept).toBe(1);
    buffers.give(new Uint8Array(new ArrayBuffer(100), 10, 20));
    expect(buffers.kept).toBe(1);
  });
});

/** A sender over a fake API whose pack PUTs record their bodies and succeed or fail as told. */
function senderOver(buffers: PackBuffers, fail: () => boolean) {
  const bodies: Uint8Array[] = [];
  const copies: Buffer[] = [];
  const api = {
    parallel: 1,
    putPack: async (_id: string, body: Uint8Array): Promise<PackPutResponse> => {
      bodies.push(body);
      copies.push(Buffer.from(body));
      if (fail()) throw new Error('refused');
      return { stored: 0, duplicates: 0, bytes: body.length };
    },
  } as unknown as FerryApi;
  const caps = { limits: { packThreshold: 1 << 20, maxPackBytes: 1 << 16 } } as unknown as Capabilities;
  const sender = new ChunkSender(new TransferContext(api, { packBuffers: buffers }), 'up', caps);
  return { sender, bodies, copies };
}

const item = (data: Buffer) => ({ hash: randomBytes(32).toString('hex'), size: data.length, load: async () => data });

describe('ChunkSender, pack bodies', () => {
  it('builds each pack in a buffer given back once its PUT is answered, so the next pack reuses it, with the right bytes', async () => {
    const buffers = new PackBuffers(2);
    const { sender, bodies, copies } = senderOver(buffers, () => false);
    const first = [randomBytes(300), randomBytes(500)];
    for (const d of first) sender.add(item(d));
    await sender.drain();
    expect(buffers.kept).toBe(1);
    const second = [randomBytes(700)];
    sender.add(item(second[0]));
    await sender.drain();
    expect(bodies).toHaveLength(2);
    expect(bodies[1].buffer).toBe(bodies[0].buffer);
    expect(bodies[0].length).toBe(800 + 2 * PACK_FRAME_HEADER_BYTES);
    // Each body as it was sent: the frames' bytes in order after their headers.
    expect(copies[0].subarray(PACK_FRAME_HEADER_BYTES, PACK_FRAME_HEADER_BYTES + 300).equals(first[0])).toBe(true);
    expect(copies[0].subarray(2 * PACK_FRAME_HEADER_BYTES + 300).equals(first[1])).toBe(true);
    expect(copies[1].subarray(PACK_FRAME_HEADER_BYTES).equals(second[0])).toBe(true);
  });

  it('does not take back the buffer of a pack whose PUT failed (the request may still hold it)', async () => {
    const buffers = new PackBuffers(2);
    const { sender, bodies } = senderOver(buffers, () => true);
    sender.add(item(randomBytes(100)));
    await expect(sender.drain()).rejects.toThrow('refused');
    expect(bodies).toHaveLength(1);
    expect(buffers.kept).toBe(0);
  });
});

/** Frames the way a pack holds them: `hash | u32 BE size | data` for each chunk. */
function framesOf(chunks: Array<{ hash: string; data: Buffer }>): Buffer {
  return Buffer.concat(
    chunks.flatMap((c) => {
      const h = Buffer.alloc(PACK_FRAME_HEADER_BYTES);
      Buffer.from(c.hash, 'hex').copy(h);
      h.writeUInt32BE(c.data.length, 32);
      return [h, c.data];
    }),
  );
}

/** Chunks laid out one after another in one buffer with room for a frame header before each (`gap` more bytes between them). */
function laidOut(sizes: number[], gap = 0) {
  let total = 0;
  for (const n of sizes) total += PACK_FRAME_HEADER_BYTES + n + gap;
  const buf = randomBytes(total + 1);
  const chunks: Array<{ hash: string; data: Buffer }> = [];
  let o = 0;
  for (const n of sizes) {
    o += PACK_FRAME_HEADER_BYTES;
    chunks.push({ hash: randomBytes(32).toString('hex'), data: buf.subarray(o, o + n) });
    o += n + gap;
  }
  return { buf, chunks };
}

describe('ChunkSender, framed chunks', () => {
  it('sends framed chunks that follow each other in one buffer as that buffer, headers written in place, and takes no pack buffer', async () => {
    const buffers = new PackBuffers(2);
    const { sender, bodies, copies } = senderOver(buffers, () => false);
    const { buf, chunks } = laidOut([300, 1, 5000]);
    const before = chunks.map((c) => Buffer.from(c.data));
    for (const c of chunks) sender.add({ hash: c.hash, size: c.data.length, load: async () => c.data, framed: true });
    await sender.drain();
    expect(bodies).toHaveLength(1);
    expect(bodies[0].buffer).toBe(buf.buffer);
    expect(bodies[0].byteOffset).toBe(buf.byteOffset);
    expect(copies[0].equals(framesOf(chunks.map((c, i) => ({ hash: c.hash, data: before[i] }))))).toBe(true);
    // The chunks' own bytes are untouched, and nothing came from or went back to the buffers.
    chunks.forEach((c, i) => expect(c.data.equals(before[i])).toBe(true));
    expect(buffers.kept).toBe(0);
  });

  it('copies into a pack buffer when the framed chunks do not follow each other, leaving the bytes between them alone', async () => {
    const buffers = new PackBuffers(2);
    const { sender, bodies, copies } = senderOver(buffers, () => false);
    const { buf, chunks } = laidOut([200, 300], 1);
    const original = Buffer.from(buf);
    for (const c of chunks) sender.add({ hash: c.hash, size: c.data.length, load: async () => c.data, framed: true });
    await sender.drain();
    expect(bodies[0].buffer).not.toBe(buf.buffer);
    expect(copies[0].equals(framesOf(chunks))).toBe(true);
    expect(buf.equals(original)).toBe(true);
    expect(buffers.kept).toBe(1);
  });

  it('copies when one chunk of the pack is not framed, even where the layout would fit (its room may hold other bytes)', async () => {
    const buffers = new PackBuffers(2);
    const { sender, bodies, copies } = senderOver(buffers, () => false);
    const { buf, chunks } = laidOut([100, 100, 100]);
    const original = Buffer.from(buf);
    chunks.forEach((c, i) => sender.add({ hash: c.hash, size: c.data.length, load: async () => c.data, framed: i !== 1 }));
    await sender.drain();
    expect(bodies[0].buffer).not.toBe(buf.buffer);
    expect(copies[0].equals(framesOf(chunks))).toBe(true);
    expect(buf.equals(original)).toBe(true);
  });

  it('copies a framed chunk that starts too close to the start of its buffer for a header', async () => {
    const buffers = new PackBuffers(2);
    const { sender, bodies, copies } = senderOver(buffers, () => false);
    const buf = randomBytes(100);
    const c = { hash: randomBytes(32).toString('hex'), data: buf.subarray(PACK_FRAME_HEADER_BYTES - 1, 90) };
    sender.add({ hash: c.hash, size: c.data.length, load: async () => c.data, framed: true });
    await sender.drain();
    expect(bodies[0].buffer).not.toBe(buf.buffer);
    expect(copies[0].equals(framesOf([c]))).toBe(true);
  });
});
