/**
 * Micro-benchmark of the server's chunk store writes (verify while streaming, write, fsync,
 * index in SQLite) beside the disk's own limits for the same bytes.
 *
 *   node dist/benchmarks/micro/chunk-store.js [--size 512MiB] [--chunk 1MiB] [--parallel 4] [--runs 3] [--json]
 *
 * Variants, in interleaved rounds (load from other processes hits them alike):
 * - disk: one sequential file, fsync at the end (the disk's streaming limit);
 * - disk: one file per chunk, each fsynced, `parallel` at once (the limit of a chunk-per-file
 *   store that promises durability per chunk);
 * - ChunkStore.put over the local backend, durable and not, `parallel` at once.
 * Chunks are distinct random buffers made up front; each round writes into a fresh directory.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LocalBackend } from '../../src/backends/local/local-backend.js';
import { ChunkStore } from '../../src/store/chunk-store.js';
import { MetaStore } from '../../src/store/meta-store.js';
import { Args } from '../lib/args.js';
import { median } from '../lib/stats.js';

const args = new Args().only(['size', 'chunk', 'parallel', 'runs', 'json']);
const total = args.size('size', '512MiB');
const chunkSize = args.size('chunk', '1MiB');
const parallel = args.number('parallel', 4);
const runs = args.number('runs', 3);
const json = args.flag('json');

const count = Math.max(1, Math.floor(total / chunkSize));
const bytes = count * chunkSize;
// Distinct chunks (a store deduplicates equal ones); kept in memory so the source costs nothing.
const chunks = Array.from({ length: count }, () => randomFillSync(Buffer.allocUnsafe(chunkSize)));
const hashes = chunks.map((c) => createHash('sha256').update(c).digest('hex'));

async function inParallel(n: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, count) }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

type Variant = { name: string; run: (dir: string) => Promise<void> };

const variants: Variant[] = [
  {
    name: 'disk: one sequential file, fsync at the end',
    run: async (dir) => {
      const fh = await open(join(dir, 'seq.bin'), 'w');
      for (const c of chunks) await fh.write(c);
      await fh.sync();
      await fh.close();
    },
  },
  {
    name: `disk: a file per chunk, fsync each, ${parallel} at once`,
    run: async (dir) => {
      await inParallel(parallel, async (i) => {
        const fh = await open(join(dir, `c${i}`), 'w');
        await fh.write(chunks[i]);
        await fh.sync();
        await fh.close();
      });
    },
  },
  ...[true, false].map((durable) => ({
    name: `ChunkStore.put (verify, write${durable ? ', fsync' : ''}, index), ${parallel} at once`,
    run: async (dir: string) => {
      const meta = await MetaStore.openSqlite(join(dir, 'meta.db'));
      const store = new ChunkStore({ backend: new LocalBackend({ root: join(dir, 'store') }), meta, maxChunkSize: Math.max(chunkSize, 4 << 20), durable });
      await inParallel(parallel, async (i) => {
        await store.put(hashes[i], chunkSize, Readable.from([chunks[i]]));
      });
      await meta.close();
    },
  })),
];

const root = await mkdtemp(join(tmpdir(), 'ferry-bench-store-'));
const times = variants.map(() => [] as number[]);
try {
  for (let r = 0; r < runs; r++) {
    for (let v = 0; v < variants.length; v++) {
      const dir = join(root, `r${r}v${v}`);
      await mkdir(dir);
      const t = performance.now();
      await variants[v].run(dir);
      times[v].push((performance.now() - t) / 1000);
      await rm(dir, { recursive: true, force: true });
    }
  }
} finally {
  await rm(root, { recursive: true, force: true });
}

const results = variants.map((v, i) => {
  const m = median(times[i]);
  const best = Math.min(...times[i]);
  return { name: v.name, bytes, runs: times[i].length, medianSeconds: m, minSeconds: best, medianGBps: bytes / m / 1e9, bestGBps: bytes / best / 1e9 };
});
const summary = { machine: { cpus: availableParallelism(), node: process.version, loadAverage: loadavg() }, chunkSize, parallel, bytes, runs, results };
if (json) console.log(JSON.stringify(summary, null, 2));
else {
  console.log(`Chunk store writes, ${count} chunks of ${chunkSize / 1024} KiB, median of ${runs}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  console.log('| variant | median s | GB/s (median) | GB/s (best) |\n| --- | ---: | ---: | ---: |');
  for (const r of results) console.log(`| ${r.name} | ${r.medianSeconds.toFixed(3)} | ${r.medianGBps.toFixed(2)} | ${r.bestGBps.toFixed(2)} |`);
}
