/**
 * End-to-end benchmark of the client against a real server on loopback, through the CLI
 * (process start included: what a user sees).
 *
 *   node dist/benchmarks/e2e/transfer.js [--size 1GiB] [--files 10000] [--runs 3] [--json]
 *
 * Scenarios: put and get of one big random file; the same put again (all dedup); a 1 MiB
 * edit in the middle, put again (delta) and fetched over the older local copy (delta
 * download); a tree of small files (1-64 KiB) put, put again (no-op), got, got again (no-op).
 * Each run uses new random content, so nothing is deduplicated across runs. Prints a
 * Markdown table of medians and the fastest run, with the load average (other processes
 * on a 2-core machine move these numbers a lot).
 */
import { randomFillSync } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { runFerry } from '../../test/helpers/cli.js';
import { scribble, tempDir, writeRandomFile } from '../../test/helpers/files.js';
import { startServer } from '../../test/helpers/server.js';
import { writeFile } from 'node:fs/promises';

const MiB = 1024 * 1024;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = (m[2] ?? 'B').toLowerCase();
  return Math.round(Number(m[1]) * ({ b: 1, kib: 1024, mib: MiB, gib: 1024 * MiB } as Record<string, number>)[unit]);
}

async function makeTree(dir: string, files: number): Promise<number> {
  let bytes = 0;
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (let i = 0; i < files; i++) {
    const d = join(dir, `d${i % 100}`);
    if (i < 100) await mkdir(d, { recursive: true });
    const n = 1024 + ((i * 7919) % (63 * 1024));
    randomFillSync(buf, 0, n);
    await writeFile(join(d, `f${i}.bin`), buf.subarray(0, n));
    bytes += n;
  }
  return bytes;
}

async function main(): Promise<void> {
  const size = parseSize(arg('size', '1GiB'));
  const fileCount = Number(arg('files', '10000'));
  const runs = Number(arg('runs', '3'));
  const json = process.argv.includes('--json');
  const tmp = await tempDir('ferry-bench-');
  const server = await startServer({ dataDir: join(tmp.path, 'data') });
  const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken, FERRY_CONFIG: join(tmp.path, 'config.json') };
  const times = new Map<string, { bytes: number; seconds: number[] }>();
  const timed = async (name: string, bytes: number, args: string[]) => {
    const t0 = performance.now();
    const r = await runFerry(args, { env, timeoutMs: 3_600_000 });
    const seconds = (performance.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`ferry ${args.join(' ')} failed:\n${r.stderr}`);
    const entry = times.get(name) ?? { bytes, seconds: [] };
    entry.seconds.push(seconds);
    times.set(name, entry);
  };
  try {
    for (let run = 0; run < runs; run++) {
      const dir = join(tmp.path, `run${run}`);
      await mkdir(dir);
      const big = join(dir, 'big.bin');
      await writeRandomFile(big, size);
      await timed('put big file', size, ['put', '-q', big, `/r${run}/big.bin`]);
      await timed('get big file', size, ['get', '-q', `/r${run}/big.bin`, join(dir, 'big.back')]);
      await timed('put big file again (dedup)', size, ['put', '-q', big, `/r${run}/big2.bin`]);
      await scribble(big, Math.floor(size / 2), Math.min(MiB, size));
      await timed('put after a 1 MiB edit (delta)', size, ['put', '-q', big, `/r${run}/big.bin`]);
      await timed('get over the older copy (delta)', size, ['get', '-q', `/r${run}/big.bin`, join(dir, 'big.back')]);
      await rm(big);
      await rm(join(dir, 'big.back'));
      const tree = join(dir, 'tree');
      const treeBytes = await makeTree(tree, fileCount);
      const label = `${fileCount} small files`;
      await timed(`put -r ${label}`, treeBytes, ['put', '-r', '-q', tree, `/r${run}/tree`]);
      await timed(`put -r ${label} again (no-op)`, treeBytes, ['put', '-r', '-q', tree, `/r${run}/tree`]);
      await timed(`get -r ${label}`, treeBytes, ['get', '-r', '-q', `/r${run}/tree`, join(dir, 'tree.back')]);
      await timed(`get -r ${label} again (no-op)`, treeBytes, ['get', '-r', '-q', `/r${run}/tree`, join(dir, 'tree.back')]);
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await server.stop();
    await tmp.cleanup();
  }
  const rows = [...times].map(([name, { bytes, seconds }]) => {
    const sorted = [...seconds].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    return { name, bytes, runs: sorted.length, medianSeconds: median, bestSeconds: sorted[0], medianMBps: bytes / 1e6 / median, bestMBps: bytes / 1e6 / sorted[0] };
  });
  if (json) {
    process.stdout.write(JSON.stringify({ loadavg: loadavg(), rows }, null, 2) + '\n');
    return;
  }
  process.stdout.write(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n\n`);
  process.stdout.write('| scenario | size | median s | MB/s (median) | best s | MB/s (best) |\n| --- | ---: | ---: | ---: | ---: | ---: |\n');
  for (const r of rows) {
    process.stdout.write(`| ${r.name} | ${(r.bytes / MiB).toFixed(0)} MiB | ${r.medianSeconds.toFixed(2)} | ${r.medianMBps.toFixed(0)} | ${r.bestSeconds.toFixed(2)} | ${r.bestMBps.toFixed(0)} |\n`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
