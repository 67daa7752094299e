import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChunkingParams } from '../core/manifest.js';
import { chunkFile, type ChunkFileOptions, type ChunkRecord } from './chunk-file.js';
import { ChunkGuide } from './chunk-guide.js';
import { referenceRecords, xorshiftBytes as bytes } from '../../test/helpers/cdc-reference.js';

const SMALL: ChunkingParams = { algorithm: 'fastcdc-v1', minSize: 2048, avgSize: 8192, maxSize: 32768, normalization: 2 };

let dir: string;
let n = 0;
async function file(data: Uint8Array): Promise<string> {
  const path = join(dir, `g${n++}.bin`);
  await writeFile(path, data);
  return path;
}

async function collect(path: string, options: ChunkFileOptions): Promise<ChunkRecord[]> {
  const out: ChunkRecord[] = [];
  for await (const batch of chunkFile(path, SMALL, options)) out.push(...batch);
  return out;
}

/** Every way to chunk a file: in this thread, and in workers with segments of several sizes. */
const RUNS: ChunkFileOptions[] = [
  { workers: 0 },
  { workers: 2, parallelThreshold: 0 },
  { workers: 2, parallelThreshold: 0, segmentSize: 100_003 },
  { workers: 3, parallelThreshold: 0, segmentSize: 3 * SMALL.maxSize + 1 },
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-chunk-guide-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ChunkGuide', () => {
  it('finds chunks by hash and by offset', () => {
    const g = new ChunkGuide([10, 20, 30], ['a', 'b', 'a']);
    expect(g.find('a')).toBe(0);
    expect(g.find('b')).toBe(1);
    expect(g.find('c')).toBe(-1);
    expect([0, 10, 30, 60].map((o) => g.offsetOf([0, 10, 30, 60].indexOf(o)))).toEqual([0, 10, 30, 60]);
    expect([0, 5, 10, 29, 30, 59, 100].map((o) => g.chunkAt(o))).toEqual([0, 0, 1, 1, 2, 2, 2]);
    expect([0, 5, 10, 30, 60].map((o) => g.startingAt(o))).toEqual([0, -1, 1, 2, -1]);
    expect(new ChunkGuide([], []).startingAt(0)).toBe(-1);
    expect(() => new ChunkGuide([1], [])).toThrow(RangeError);
  });
});

describe('chunkFile with a guide (the previous version of the file)', () => {
  const base = bytes(1 << 20, 7);
  const guide = referenceRecords(base, SMALL);

  /** Edits of the base file: in place, inserted, deleted, grown, shrunk, replaced. */
  const variants: Array<[string, Buffer]> = [
    ['unchanged', base],
    ['changed at the start', Buffer.concat([bytes(100, 1), base.subarray(100)])],
    ['changed in the middle', Buffer.concat([base.subarray(0, 500_000), bytes(5000, 2), base.subarray(505_000)])],
    // In place, far from the chunk's ends: its cut stays, the chunk cut by content is the range the guide's chunk was hashed over.
    ['a byte changed inside a chunk', Buffer.concat([base.subarray(0, guide[40].offset + 100), Buffer.from([base[guide[40].offset + 100] ^ 0xff]), base.subarray(guide[40].offset + 101)])],
    ['changed at the end', Buffer.concat([base.subarray(0, base.length - 10), bytes(10, 3)])],
    ['bytes inserted', Buffer.concat([base.subarray(0, 300_000), bytes(777, 4), base.subarray(300_000)])],
    ['bytes deleted', Buffer.concat([base.subarray(0, 300_000), base.subarray(301_234)])],
    ['grown at the end', Buffer.concat([base, bytes(50_000, 5)])],
    ['shrunk', base.subarray(0, 700_001)],
    ['a single byte', base.subarray(0, 1)],
    ['something else', bytes(1 << 20, 6)],
  ];

  it('gives exactly the records of plain chunking, whatever changed', async () => {
    for (const [what, data] of variants) {
      const path = await file(data);
      const expected = referenceRecords(data, SMALL);
      for (const run of RUNS) {
        expect(await collect(path, { ...run, guide }), `${what}, ${JSON.stringify(run)}`).toEqual(expected);
      }
    }
  });

  it('takes a matching guide chunk by its hash, checking one in 64 against a real cut', async () => {
    // A guide that is a chunking of these bytes, not the plain one: after four plain chunks,
    // pairs of plain chunks merged into one (each still ends at a cut point, so the guide's
    // pre-check lets it through to the hash). The first four are checked and right; the next
    // 60 merged ones are taken as they match (hashed, not cut: a correct chunking of these
    // bytes, only not the plain one); the 64th accepted is checked, fails, and plain
    // chunking goes on from there.
    const data = bytes(1_500_000, 11);
    const path = await file(data);
    const plain = referenceRecords(data, SMALL);
    const sha = (offset: number, size: number) => createHash('sha256').update(data.subarray(offset, offset + size)).digest('hex');
    const guide = plain.slice(0, 4).map((r) => ({ hash: r.hash, size: r.size }));
    for (let i = 4; i + 1 < plain.length; i += 2) guide.push({ hash: sha(plain[i].offset, plain[i].size + plain[i + 1].size), size: plain[i].size + plain[i + 1].size });
    expect(guide.length).toBeGreaterThan(70);
    expect(guide.every((g) => g.size < SMALL.maxSize)).toBe(true);
    const expected: ChunkRecord[] = [];
    let at = 0;
    for (const g of guide.slice(0, 64)) {
      expected.push({ offset: at, ...g });
      at += g.size;
    }
    expected.push(...plain.filter((r) => r.offset >= at));
    expect(await collect(path, { workers: 0, guide })).toEqual(expected);
  });

  it('does not hash a guide chunk whose end is no cut point here (an edit moved the bytes)', async () => {
    // Zeros: plain chunking cuts every chunk at maxSize. A guide of four such chunks, then
    // 16 KiB ones: those match by hash, but a 16 KiB chunk of zeros cannot end at a cut point,
    // so each is rejected on its last bytes and the records are plain chunking's (before that
    // check, the four right ones let the next 60 be taken unchecked, by their hash).
    const max = SMALL.maxSize;
    const zeros = new Uint8Array(40 * max);
    const path = await file(zeros);
    const sha = (size: number) => createHash('sha256').update(zeros.subarray(0, size)).digest('hex');
    const guide = [...Array.from({ length: 4 }, () => ({ hash: sha(max), size: max })), ...Array.from({ length: 76 }, () => ({ hash: sha(max / 2), size: max / 2 }))];
    for (const run of RUNS) expect((await collect(path, { ...run, guide })).map((r) => r.size)).toEqual(Array(40).fill(max));
  });

  it('ignores a guide cut with other parameters, or not a chunking at all', async () => {
    const path = await file(base);
    const expected = referenceRecords(base, SMALL);
    const guides = [
      referenceRecords(base, { ...SMALL, avgSize: 16384, maxSize: 65536, minSize: 4096 }),
      referenceRecords(base, { ...SMALL, avgSize: 4096, minSize: 1024 }),
      referenceRecords(base, { ...SMALL, normalization: 0 }),
      [{ hash: guide[0].hash, size: base.length }],
      guide.map((c) => ({ ...c, hash: '0'.repeat(64) })),
    ];
    for (const g of guides) {
      for (const run of RUNS) expect(await collect(path, { ...run, guide: g }), `guide ${guides.indexOf(g)} ${JSON.stringify(run)}`).toEqual(expected);
    }
  });

  it('goes on in this thread, still right, when guided segment chunkings meet only past the next segment', async () => {
    // Zeros, and a guide of 8, 16 and 32 KiB chunks of them (found by search): with these
    // segments, one segment's chunking meets the next one's only after the segment after
    // that has begun, where the latter has no cut. chunkFile chunks the rest in this thread
    // from the last cut handed out; the records still cover the file, each of its bytes.
    const zeros = new Uint8Array(64 * SMALL.maxSize);
    const path = await file(zeros);
    const sizes = [...'BBAAABAAAAABAAAAAAABABAABABABBABABBAABBAABAAAAABAAABAAAABAAABBBACABBABABABBBABABC'].map((c) => ({ A: 32768, B: 16384, C: 8192 })[c]!);
    const sha = (size: number) => createHash('sha256').update(zeros.subarray(0, size)).digest('hex');
    const records = await collect(path, { workers: 2, parallelThreshold: 0, segmentSize: SMALL.maxSize + 1, guide: sizes.map((size) => ({ size, hash: sha(size) })) });
    let at = 0;
    for (const r of records) {
      expect(r).toEqual({ offset: at, size: r.size, hash: sha(r.size) });
      expect(r.size).toBeLessThanOrEqual(SMALL.maxSize);
      at += r.size;
    }
    expect(at).toBe(zeros.length);
  });
});
