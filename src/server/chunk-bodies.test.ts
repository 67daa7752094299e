import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BodyMemory, STREAM_WINDOW, partyReserve, readWholeBody, type BodyLease } from './chunk-bodies.js';

const MiB = 1024 * 1024;

describe('BodyMemory', () => {
  it('gives whole buffers up to three quarters of the budget, then stream windows, then makes bodies wait, never past the budget', async () => {
    const mem = new BodyMemory(16 * MiB);
    expect(mem.largestWhole).toBe(12 * MiB);
    const leases: BodyLease[] = [];
    for (let i = 0; i < 12; i++) leases.push(await mem.admitChunk(MiB));
    expect(leases.every((l) => l.kind === 'whole' && l.buffer!.length >= MiB)).toBe(true);
    expect(mem.stats().held).toBe(12 * MiB);
    // Whole buffers are used up: the last quarter goes in stream windows.
    for (let i = 0; i < (4 * MiB) / STREAM_WINDOW; i++) leases.push(await mem.admitChunk(MiB));
    expect(leases.slice(12).every((l) => l.kind === 'stream' && l.buffer === undefined)).toBe(true);
    expect(mem.stats()).toMatchObject({ held: 16 * MiB, peak: 16 * MiB, waiting: 0, waits: 0 });

    // Full: the next two wait, in order.
    const order: string[] = [];
    const a = mem.admitChunk(MiB).then((l) => (order.push('a'), l));
    const b = mem.admitChunk(10).then((l) => (order.push('b'), l));
    await Promise.resolve();
    expect(mem.stats()).toMatchObject({ waiting: 2, waits: 2 });
    expect(order).toEqual([]);
    // A window given back is too little for a whole MiB but lets `a` stream; `b` waits behind it.
    leases.pop()!.release();
    const la = await a;
    expect(la.kind).toBe('stream');
    expect(mem.stats().waiting).toBe(1);
    // A whole buffer given back is kept and lent again (the same memory) to `b`.
    const given = leases[0];
    given.release();
    given.release(); // idempotent
    const lb = await b;
    expect(order).toEqual(['a', 'b']);
    expect(lb.kind).toBe('whole');
    expect(lb.buffer!.buffer).toBe(given.buffer!.buffer);
    expect(mem.stats().held).toBeLessThanOrEqual(16 * MiB);
    expect(mem.stats().peak).toBe(16 * MiB);

    for (const l of [...leases, la, lb]) l.release();
    // Everything back: only the kept whole buffers are held, and they make way for windows.
    expect(mem.stats()).toMatchObject({ held: 12 * MiB, waiting: 0 });
    const windows: BodyLease[] = [];
    for (let i = 0; i < (16 * MiB) / STREAM_WINDOW; i++) windows.push(await mem.admitChunk(64 * MiB));
    expect(windows.every((l) => l.kind === 'stream')).toBe(true);
    expect(mem.stats()).toMatchObject({ held: 16 * MiB, peak: 16 * MiB, waiting: 0 });
  });

  it('drops the whole buffers it keeps when told (an idle server), and lends new ones after', async () => {
    const mem = new BodyMemory(16 * MiB);
    const leases = [await mem.admitChunk(MiB), await mem.admitChunk(2 * MiB)];
    const lent = leases.map((l) => l.buffer!);
    // One still lent: only the one given back goes.
    leases[0].release();
    expect(mem.stats().held).toBe(3 * MiB);
    mem.dropKept();
    expect(mem.stats().held).toBe(2 * MiB);
    leases[1].release();
    mem.dropKept();
    expect(mem.stats().held).toBe(0);
    const again = await mem.admitChunk(MiB);
    expect(again.kind).toBe('whole');
    expect(lent.some((b) => b.buffer === again.buffer!.buffer)).toBe(false);
    expect(mem.stats().held).toBe(MiB);
    again.release();
  });

  it('reserves room for bodies read whole by the chunk store, refuses more than whole bodies may take, and tryReserve never waits', async () => {
    const mem = new BodyMemory(16 * MiB);
    await expect(mem.reserve(12 * MiB + 1)).rejects.toThrow(RangeError);
    const r = await mem.reserve(8 * MiB);
    expect(r.kind).toBe('reserved');
    expect(mem.tryReserve(5 * MiB)).toBeUndefined();
    const small = mem.tryReserve(4 * MiB);
    expect(small?.kind).toBe('reserved');
    const waiting = mem.reserve(MiB);
    expect(mem.stats().waiting).toBe(1);
    // Someone waits: tryReserve does not jump the queue even where the bytes would fit.
    expect(mem.tryReserve(1)).toBeUndefined();
    small!.release();
    await waiting;
    expect(mem.stats().waiting).toBe(0);
  });

  it('a request that closes while it waits leaves the queue with FERRY_ERR_ABORTED, and the ones behind it move up', async () => {
    const mem = new BodyMemory(4 * STREAM_WINDOW);
    const held = await mem.reserve(3 * STREAM_WINDOW);
    const w = await mem.admitChunk(MiB);
    expect(w.kind).toBe('stream');
    const gone = new AbortController();
    const first = mem.reserve(3 * STREAM_WINDOW, gone.signal);
    const second = mem.admitChunk(10);
    expect(mem.stats().waiting).toBe(2);
    gone.abort();
    await expect(first).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
    expect(mem.stats().waiting).toBe(1);
    w.release();
    expect((await second).kind).toBe('stream');
    held.release();
    // Already closed: refused at once.
    await expect(mem.admitChunk(10, AbortSignal.abort())).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
    expect(() => new BodyMemory(STREAM_WINDOW)).toThrow(RangeError);
  });

  it('one party (a user holding slow bodies) never takes the whole budget: the others always get room, and its own waiters do not hold them up', async () => {
    const mem = new BodyMemory(16 * MiB);
    expect(partyReserve(16 * MiB)).toBe(MiB);
    // The slow party asks for far more than the budget: it gets 15 MiB, the rest of its bodies wait.
    const slow: BodyLease[] = [];
    const queued: Promise<BodyLease>[] = [];
    for (let i = 0; i < 3; i++) slow.push(await mem.admitChunk(4 * MiB, undefined, 'user:slow'));
    for (let i = 0; i < 12; i++) slow.push(await mem.admitChunk(4 * MiB, undefined, 'user:slow'));
    expect(slow.map((l) => l.kind)).toEqual([...Array(3).fill('whole'), ...Array(12).fill('stream')]);
    for (let i = 0; i < 8; i++) queued.push(mem.admitChunk(4 * MiB, undefined, 'user:slow'));
    expect(mem.stats()).toMatchObject({ held: 15 * MiB, waiting: 8 });
    // Another user is not queued behind those: four windows are theirs at once.
    const other: BodyLease[] = [];
    for (let i = 0; i < 4; i++) other.push(await mem.admitChunk(4 * MiB, undefined, 'user:other'));
    expect(other.every((l) => l.kind === 'stream')).toBe(true);
    expect(mem.stats()).toMatchObject({ held: 16 * MiB, waiting: 8 });
    // A window given back goes to the other user's next body, not to the capped waiters ahead of it.
    other.pop()!.release();
    other.push(await mem.admitChunk(MiB, undefined, 'user:other'));
    // A third party waits for room (the budget is full), ahead of the capped waiters, and gets
    // the next room given back, whoever gives it.
    const third = mem.admitChunk(MiB, undefined, 'share:x');
    expect(mem.stats().waiting).toBe(9);
    other.pop()!.release();
    const t = await third;
    expect(t.kind).toBe('stream');
    // The slow party's own releases admit its own waiters, one window each.
    slow.pop()!.release();
    expect((await queued[0]).kind).toBe('stream');
    expect(mem.stats().waiting).toBe(7);
    for (const l of [...slow, ...other, t, await queued[0]]) l.release();
    // Everything else given back: the waiters of the slow party get room up to its cap again.
    const rest = await Promise.all(queued.slice(1));
    expect(rest.length).toBe(7);
    expect(mem.stats().waiting).toBe(0);
    for (const l of rest) l.release();

    // tryReserve is not held back by waiters only their own party's cap keeps waiting.
    const windows = new BodyMemory(16 * MiB);
    const held: BodyLease[] = [];
    for (let i = 0; i < 60; i++) held.push(await windows.admitChunk(64 * MiB, undefined, 'user:slow'));
    const capped = windows.admitChunk(64 * MiB, undefined, 'user:slow');
    expect(windows.stats()).toMatchObject({ held: 15 * MiB, waiting: 1 });
    const gathered = windows.tryReserve(MiB);
    expect(gathered?.kind).toBe('reserved');
    gathered!.release();
    held.pop()!.release();
    expect((await capped).kind).toBe('stream');
  });

  it('a budget lent as reservations (chunks being sent) keeps a chunk of room for others when one party stops reading', async () => {
    const mem = new BodyMemory(16 * MiB, 4 * MiB);
    const slow = [await mem.reserve(4 * MiB, undefined, 'share:s'), await mem.reserve(4 * MiB, undefined, 'share:s')];
    const third = mem.reserve(4 * MiB, undefined, 'share:s');
    expect(mem.tryReserve(MiB, 'share:s')).toBeUndefined();
    expect(mem.stats()).toMatchObject({ held: 8 * MiB, waiting: 1 });
    const other = await mem.reserve(4 * MiB, undefined, 'user:ana');
    expect(other.kind).toBe('reserved');
    other.release();
    slow[0].release();
    await third;
  });
});

describe('readWholeBody', () => {
  it('copies a body of exactly the announced length into the buffer', async () => {
    const body = new PassThrough();
    const buf = Buffer.alloc(64);
    const read = readWholeBody(body, 10, buf);
    body.write(Buffer.from('hello'));
    body.end(Buffer.from('world'));
    expect((await read).toString()).toBe('helloworld');
  });

  it('refuses more or fewer bytes than announced', async () => {
    const more = new PassThrough();
    const a = readWholeBody(more, 4, Buffer.alloc(8));
    more.end(Buffer.from('toolong'));
    await expect(a).rejects.toMatchObject({ code: 'FERRY_ERR_SIZE_MISMATCH' });
    const fewer = new PassThrough();
    const b = readWholeBody(fewer, 8, Buffer.alloc(8));
    fewer.end(Buffer.from('abc'));
    await expect(b).rejects.toMatchObject({ code: 'FERRY_ERR_SIZE_MISMATCH' });
  });
});
