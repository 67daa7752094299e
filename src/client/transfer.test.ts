/** The pack bodies' buffers of a transfer (PackBuffers), alone and as ChunkSender uses them; ChunkSender asking for delta signatures ahead. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PACK_FRAME_HEADER_BYTES, type Capabilities, type PackPutResponse } from '../core/protocol.js';
import type { DeltaBase, FerryApi } from './api.js';
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

/**
 * A sender (one slot) over a fake API whose delta signature requests and chunk PUTs wait
 * until the test settles them, recording the order of events.
 */
function deltaSenderOver() {
  const events: string[] = [];
  const sigs = new Map<string, { promise: Promise<Uint8Array[] | undefined>; resolve: (v: Uint8Array[]) => void; reject: (e: unknown) => void }>();
  const puts = new Map<string, { resolve: () => void; signatures?: Promise<Uint8Array[] | undefined> }>();
  let asked = 0;
  let mostAsked = 0;
  const api = {
    parallel: 1,
    chunkFrames: false,
    deltaSignatures: (_size: number, base: DeltaBase): Promise<Uint8Array[] | undefined> => {
      const name = base.hashes[0];
      events.push(`sig ${name}`);
      mostAsked = Math.max(mostAsked, ++asked);
      let resolve!: (v: Uint8Array[]) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<Uint8Array[] | undefined>((res, rej) => ((resolve = res), (reject = rej)));
      sigs.set(name, { promise, resolve, reject });
      return promise;
    },
    putChunk: async (_id: string, hash: string, _data: Uint8Array, options: { base?: DeltaBase; signatures?: Promise<Uint8Array[] | undefined> }) => {
      const name = options.base!.hashes[0];
      await options.signatures; // the delta is made from them, then sent
      events.push(`put ${name}`);
      await new Promise<void>((resolve) => puts.set(name, { resolve, signatures: options.signatures }));
      asked--;
      events.push(`done ${name}`);
      return { hash, size: 0, stored: true };
    },
  } as unknown as FerryApi;
  const caps = { features: [], limits: { packThreshold: 16, maxPackBytes: 1 << 16 } } as unknown as Capabilities;
  const ctx = new TransferContext(api, {});
  const sender = new ChunkSender(ctx, 'up', caps);
  const addTo = (to: ChunkSender, name: string) => to.add({ hash: randomBytes(32).toString('hex'), size: 100, load: async () => Buffer.alloc(100), base: { hashes: [name], path: '/f' } });
  const add = (name: string) => addTo(sender, name);
  /** Another file's sender in the same operation. */
  const another = () => new ChunkSender(ctx, 'up2', caps);
  return { sender, events, sigs, puts, add, addTo, another, mostAsked: () => mostAsked };
}

/** Lets every promise that can settle now settle (the fakes above chain a few). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ChunkSender, delta signatures', () => {
  it("asks for the next deltas' signatures while the current delta's PUT runs, at most twice the slots at once, each handed to its own PUT", async () => {
    const { sender, events, sigs, puts, add, mostAsked } = deltaSenderOver();
    for (const name of ['a', 'b', 'c', 'd']) add(name);
    await settle();
    // One slot: a's PUT runs, b's signatures are already on their way, c's wait their turn.
    expect(events).toEqual(['sig a', 'sig b']);
    sigs.get('a')!.resolve([new Uint8Array(1)]);
    await settle();
    expect(events).toEqual(['sig a', 'sig b', 'put a']);
    expect(puts.get('a')!.signatures).toBe(sigs.get('a')!.promise);
    sigs.get('b')!.resolve([new Uint8Array(2)]);
    puts.get('a')!.resolve();
    await settle();
    expect(events).toEqual(['sig a', 'sig b', 'put a', 'done a', 'sig c', 'put b']);
    for (const name of ['b', 'c', 'd']) {
      sigs.get(name)?.resolve([new Uint8Array(3)]);
      await settle();
      puts.get(name)!.resolve();
      await settle();
    }
    sigs.get('d')?.resolve([new Uint8Array(4)]);
    await sender.drain();
    expect(events.filter((e) => e.startsWith('done'))).toEqual(['done a', 'done b', 'done c', 'done d']);
    expect(events.indexOf('sig d')).toBeLessThan(events.indexOf('done c'));
    expect(mostAsked()).toBe(2);
    for (const name of ['b', 'c', 'd']) expect(puts.get(name)!.signatures).toBe(sigs.get(name)!.promise);
  });

  it("keeps to twice the slots across the operation's files, not per file", async () => {
    const { sender, events, sigs, puts, add, addTo, another, mostAsked } = deltaSenderOver();
    const second = another();
    add('a');
    add('b');
    addTo(second, 'x');
    addTo(second, 'y');
    await settle();
    expect(events).toEqual(['sig a', 'sig b']);
    for (const name of ['a', 'b', 'x', 'y']) {
      sigs.get(name)!.resolve([new Uint8Array(1)]);
      await settle();
      puts.get(name)!.resolve();
      await settle();
    }
    await Promise.all([sender.drain(), second.drain()]);
    expect(events.filter((e) => e.startsWith('done'))).toEqual(['done a', 'done b', 'done x', 'done y']);
    expect(mostAsked()).toBe(2);
  });

  it('fails the upload with the error of a signature request asked ahead, once that chunk has its turn, and never as an unhandled rejection', async () => {
    const { sender, sigs, puts, add } = deltaSenderOver();
    add('a');
    add('b');
    await settle();
    // b's request fails long before b's turn: nothing may see it until then.
    sigs.get('b')!.reject(new Error('signature refused'));
    sigs.get('a')!.resolve([new Uint8Array(1)]);
    await settle();
    await settle();
    puts.get('a')!.resolve();
    await expect(sender.drain()).rejects.toThrow('signature refused');
    expect(puts.has('b')).toBe(false);
  });
});
