/**
 * Micro-benchmark of the chunking pipeline.
 *
 *   node dist/benchmarks/micro/chunking.js [--size 1GiB] [--mem-size 256MiB] [--runs 5] [--json]
 *
 * In memory (--mem-size of random bytes): the JavaScript reference cut loop (one byte per
 * step), the two-bytes-per-step JavaScript loop, the WebAssembly kernel, and SHA-256 on one
 * core, which bounds what one core can do since every byte is hashed.
 * On a file (--size, created in a temp dir, in the page cache, removed at the end):
 * `chunkFile` in-thread and with 1 and 2 workers, `chunkStream` over a read stream, and
 * the baseline, a single-threaded streaming SHA-256 of the file.
 *
 * Variants run in interleaved rounds, so that load from other processes hits them alike.
 * Prints a Markdown table of medians (and the fastest run, closest to what the machine does
 * when nobody else uses it); --json prints the same as JSON.
 */
import { hash, createHash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdcKernel } from '../../src/algo/cdc-kernel.js';
import { chunkFile } from '../../src/algo/chunk-file.js';
import { chunkStream } from '../../src/algo/chunk-stream.js';
import { cdcMasks, nextCut, nextCutReference } from '../../src/algo/fastcdc.js';
import { DEFAULT_CHUNKING } from '../../src/core/manifest.js';
import { Args } from '../lib/args.js';

interface Result {
  name: string;
  bytes: number;
  runs: number;
  medianSeconds: number;
  minSeconds: number;
  medianGBps: number;
  bestGBps: number;
  /** CPU time of the whole process (all threads), median: what the variant costs, whatever the load. */
  medianCpuSeconds: number;
  chunks?: number;
}

const args = new Args().only(['size', 'mem-size', 'runs', 'json']);
const fileSize = args.size('size', '1GiB');
const memSize = Math.min(args.size('mem-size', '256MiB'), fileSize);
const runs = args.number('runs', 5);
const json = args.flag('json');
const params = DEFAULT_CHUNKING;

type Variant = { name: string; bytes: number; fn: () => number | Promise<number> };

function medianOf(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

function summarize(v: Variant, times: number[], cpu: number[], chunks: number): Result {
  const sorted = [...times].sort((a, b) => a - b);
  const median = medianOf(times);
  const result: Result = {
    name: v.name,
    bytes: v.bytes,
    runs: times.length,
    medianSeconds: median,
    minSeconds: sorted[0],
    medianGBps: v.bytes / median / 1e9,
    bestGBps: v.bytes / sorted[0] / 1e9,
    medianCpuSeconds: medianOf(cpu),
    ...(chunks > 0 ? { chunks } : {}),
  };
  if (!json) process.stderr.write(`  ${v.name}: ${result.medianGBps.toFixed(2)} GB/s\n`);
  return result;
}

/**
 * Runs the variants in rounds (A B C, A B C, ...) rather than each N times in a row, so
 * that a burst of load from other processes hits all of them alike; returns each
 * variant's times, by round.
 */
async function measureRounds(variants: Variant[]): Promise<{ results: Result[]; times: number[][] }> {
  const times = variants.map(() => [] as number[]);
  const cpu = variants.map(() => [] as number[]);
  const chunks = variants.map(() => 0);
  for (const v of variants) await v.fn(); // warm-up: JIT tiers, page cache, worker pool
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < variants.length; i++) {
      const c = process.cpuUsage();
      const t = performance.now();
      chunks[i] = await variants[i].fn();
      times[i].push((performance.now() - t) / 1000);
      const used = process.cpuUsage(c);
      cpu[i].push((used.user + used.system) / 1e6);
    }
  }
  return { results: variants.map((v, i) => summarize(v, times[i], cpu[i], chunks[i])), times };
}

async function main(): Promise<void> {
  const results: Result[] = [];
  let pairRatio = NaN;
  const m = cdcMasks(params);

  // In memory: the kernel's data area doubles as the buffer the JavaScript loops scan.
  const kernel = new CdcKernel(params, memSize);
  const buf = kernel.data;
  for (let o = 0; o < memSize; o += 1 << 26) randomFillSync(buf, o, Math.min(1 << 26, memSize - o));
  const cutAll = (cut: (pos: number) => number) => {
    let n = 0;
    for (let pos = 0; pos < memSize; n++) pos += cut(pos);
    return n;
  };
  const memory = await measureRounds([
    { name: 'CDC, JS reference (1 byte/step)', bytes: memSize, fn: () => cutAll((p) => nextCutReference(buf, p, memSize, m, true)) },
    { name: 'CDC, JS (2 bytes/step)', bytes: memSize, fn: () => cutAll((p) => nextCut(buf, p, memSize, m, true)) },
    { name: 'CDC, WebAssembly kernel', bytes: memSize, fn: () => cutAll((p) => kernel.cut(p, memSize, true)) },
    {
      name: 'SHA-256, one core (1 MiB pieces)',
      bytes: memSize,
      fn: () => {
        for (let o = 0; o < memSize; o += 1 << 20) hash('sha256', buf.subarray(o, Math.min(memSize, o + (1 << 20))), 'hex');
        return 0;
      },
    },
  ]);
  results.push(...memory.results);

  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-chunking-'));
  try {
    const path = join(dir, 'data.bin');
    const fh = await open(path, 'w');
    for (let o = 0; o < fileSize; o += memSize) await fh.write(buf, 0, Math.min(memSize, fileSize - o));
    // Written back now rather than by the kernel's flusher threads during the measurements.
    await fh.sync();
    await fh.close();

    const viaChunkFile = async (workers: number) => {
      let n = 0;
      for await (const batch of chunkFile(path, params, { workers, parallelThreshold: 0 })) n += batch.length;
      return n;
    };
    const onFile = await measureRounds([
      {
        name: 'SHA-256 streaming of the file (baseline)',
        bytes: fileSize,
        fn: async () => {
          const h = createHash('sha256');
          for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(piece as Buffer);
          h.digest();
          return 0;
        },
      },
      { name: 'chunkFile, in-thread', bytes: fileSize, fn: () => viaChunkFile(0) },
      { name: 'chunkFile, 1 worker', bytes: fileSize, fn: () => viaChunkFile(1) },
      { name: 'chunkFile, 2 workers', bytes: fileSize, fn: () => viaChunkFile(2) },
      {
        name: 'chunkStream over a read stream',
        bytes: fileSize,
        fn: async () => {
          let n = 0;
          for await (const _ of chunkStream(createReadStream(path, { highWaterMark: 1 << 20 }), params)) n++;
          return n;
        },
      },
    ]);
    results.push(...onFile.results);
    // Same round, same load: the ratio of each round's pair, then the median.
    const ratios = onFile.times[0].map((sha, r) => sha / onFile.times[3][r]).sort((a, b) => a - b);
    pairRatio = ratios[Math.floor(ratios.length / 2)];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const baseline = results.find((r) => r.name.startsWith('SHA-256 streaming'))!;
  const two = results.find((r) => r.name === 'chunkFile, 2 workers')!;
  const summary = {
    machine: { cpus: availableParallelism(), node: process.version, loadAverage: loadavg() },
    params,
    fileSize,
    memSize,
    runs,
    results,
    /** Streaming SHA-256 time over chunkFile (2 workers) time: > 1 means chunkFile is faster. */
    sha256StreamOverChunkFile2Workers: { medians: baseline.medianSeconds / two.medianSeconds, best: baseline.minSeconds / two.minSeconds, medianOfRounds: pairRatio },
  };
  if (json) {
    console.log(JSON.stringify(summary, null, 2));
    return;
  }
  const mib = (n: number) => `${(n / 1024 ** 2).toFixed(0)} MiB`;
  console.log(`Chunking, ${params.minSize / 1024} KiB / ${params.avgSize / 1024} KiB / ${params.maxSize / 1024} KiB, ${availableParallelism()} CPUs, Node ${process.version}, median of ${runs}\n`);
  console.log('| variant | bytes | median s | GB/s (median) | GB/s (best) | CPU s (median) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(
      `| ${r.name} | ${mib(r.bytes)} | ${r.medianSeconds.toFixed(3)} | ${r.medianGBps.toFixed(2)} | ${r.bestGBps.toFixed(2)} | ${r.medianCpuSeconds.toFixed(3)} |`,
    );
  }
  const q = summary.sha256StreamOverChunkFile2Workers;
  console.log(
    `\nchunkFile with 2 workers vs streaming SHA-256 of the file: ${q.medianOfRounds.toFixed(2)}× as fast (median of per-round ratios; ` +
      `medians ${q.medians.toFixed(2)}×, best runs ${q.best.toFixed(2)}×). Load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`,
  );
}

await main();
