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
 * Prints a Markdown table of medians (and the fastest run, which shows what the machine
 * does when nobody else uses it); --json prints the same as JSON.
 */
import { hash, createHash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdcKernel } from '../../src/algo/cdc-kernel.js';
import { chunkFile } from '../../src/algo/chunk-file.js';
import { chunkStream } from '../../src/algo/chunk-stream.js';
import { cdcMasks, nextCut, nextCutReference } from '../../src/algo/fastcdc.js';
import { DEFAULT_CHUNKING } from '../../src/core/manifest.js';

interface Result {
  name: string;
  bytes: number;
  runs: number;
  medianSeconds: number;
  minSeconds: number;
  medianGBps: number;
  bestGBps: number;
  chunks?: number;
}

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = (m[2] ?? 'B').toLowerCase();
  const mult: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };
  return Math.round(Number(m[1]) * mult[unit]);
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const fileSize = parseSize(arg('size', '1GiB'));
const memSize = Math.min(parseSize(arg('mem-size', '256MiB')), fileSize);
const runs = Number(arg('runs', '5'));
const json = process.argv.includes('--json');
const params = DEFAULT_CHUNKING;

async function measure(name: string, bytes: number, fn: () => number | Promise<number>): Promise<Result> {
  await fn(); // warm-up: JIT tiers, page cache, lazily compiled WebAssembly
  const times: number[] = [];
  let chunks = 0;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    chunks = await fn();
    times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const result: Result = {
    name,
    bytes,
    runs,
    medianSeconds: median,
    minSeconds: times[0],
    medianGBps: bytes / median / 1e9,
    bestGBps: bytes / times[0] / 1e9,
    ...(chunks > 0 ? { chunks } : {}),
  };
  if (!json) process.stderr.write(`  ${name}: ${result.medianGBps.toFixed(2)} GB/s\n`);
  return result;
}

async function main(): Promise<void> {
  const results: Result[] = [];
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
  results.push(await measure('CDC, JS reference (1 byte/step)', memSize, () => cutAll((p) => nextCutReference(buf, p, memSize, m, true))));
  results.push(await measure('CDC, JS (2 bytes/step)', memSize, () => cutAll((p) => nextCut(buf, p, memSize, m, true))));
  results.push(await measure('CDC, WebAssembly kernel', memSize, () => cutAll((p) => kernel.cut(p, memSize, true))));
  results.push(
    await measure('SHA-256, one core (1 MiB pieces)', memSize, () => {
      for (let o = 0; o < memSize; o += 1 << 20) hash('sha256', buf.subarray(o, Math.min(memSize, o + (1 << 20))), 'hex');
      return 0;
    }),
  );

  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-chunking-'));
  try {
    const path = join(dir, 'data.bin');
    const fh = await open(path, 'w');
    for (let o = 0; o < fileSize; o += memSize) await fh.write(buf, 0, Math.min(memSize, fileSize - o));
    await fh.close();

    results.push(
      await measure('SHA-256 streaming of the file (baseline)', fileSize, async () => {
        const h = createHash('sha256');
        for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(piece as Buffer);
        h.digest();
        return 0;
      }),
    );
    const viaChunkFile = async (workers: number) => {
      let n = 0;
      for await (const batch of chunkFile(path, params, { workers, parallelThreshold: 0 })) n += batch.length;
      return n;
    };
    results.push(await measure('chunkFile, in-thread', fileSize, () => viaChunkFile(0)));
    results.push(await measure('chunkFile, 1 worker', fileSize, () => viaChunkFile(1)));
    results.push(await measure('chunkFile, 2 workers', fileSize, () => viaChunkFile(2)));
    results.push(
      await measure('chunkStream over a read stream', fileSize, async () => {
        let n = 0;
        for await (const _ of chunkStream(createReadStream(path, { highWaterMark: 1 << 20 }), params)) n++;
        return n;
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const baseline = results.find((r) => r.name.startsWith('SHA-256 streaming'))!;
  const two = results.find((r) => r.name === 'chunkFile, 2 workers')!;
  const summary = {
    machine: { cpus: availableParallelism(), node: process.version },
    params,
    fileSize,
    memSize,
    runs,
    results,
    chunkFile2WorkersVsSha256Stream: baseline.medianSeconds / two.medianSeconds,
  };
  if (json) {
    console.log(JSON.stringify(summary, null, 2));
    return;
  }
  const mib = (n: number) => `${(n / 1024 ** 2).toFixed(0)} MiB`;
  console.log(`Chunking, ${params.minSize / 1024} KiB / ${params.avgSize / 1024} KiB / ${params.maxSize / 1024} KiB, ${availableParallelism()} CPUs, Node ${process.version}, median of ${runs}\n`);
  console.log('| variant | bytes | median s | GB/s (median) | GB/s (best) |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(`| ${r.name} | ${mib(r.bytes)} | ${r.medianSeconds.toFixed(3)} | ${r.medianGBps.toFixed(2)} | ${r.bestGBps.toFixed(2)} |`);
  }
  console.log(`\nchunkFile with 2 workers takes ${(1 / summary.chunkFile2WorkersVsSha256Stream).toFixed(2)}× the time of a streaming SHA-256 of the file.`);
}

await main();
