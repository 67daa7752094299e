/**
 * `ferry sync` of many small files to a real Ferry server on loopback, through the CLI
 * (process start included, as a user sees it and as `time rsync -a dir host:dir` measures).
 *
 *   node dist/benchmarks/sync-small-files.js [--files 10000] [--runs 3] [--no-fsync] [--json]
 *
 * Per run, with new random content (nothing deduplicates across runs):
 *   - first sync of a tree of 1-64 KiB files into an empty server folder;
 *   - a no-change re-sync (listing and comparing only);
 *   - a re-sync after editing 1% of the files and adding 1% new ones.
 * Peers measured on this kind of machine (shared/FACTS.md): rsync over ssh 4.4 s first, 0.40 s
 * no-op; rclone to sftp 10.7 s and 0.85 s. Prints medians and the fastest run, with the load
 * average (two shared cores: other processes move these numbers).
 */
import { randomFillSync } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { runFerry } from '../test/helpers/cli.js';
import { tempDir } from '../test/helpers/files.js';
import { startServer } from '../test/helpers/server.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

/** 1-64 KiB files in 100 folders; returns the bytes written. */
async function makeTree(dir: string, files: number, salt: number): Promise<number> {
  let bytes = 0;
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (let i = 0; i < files; i++) {
    const d = join(dir, `d${i % 100}`);
    if (i < 100) await mkdir(d, { recursive: true });
    const n = 1024 + ((i * 7919 + salt) % (63 * 1024));
    randomFillSync(buf, 0, n);
    await writeFile(join(d, `f${i}.bin`), buf.subarray(0, n));
    bytes += n;
  }
  return bytes;
}

async function editTree(dir: string, files: number): Promise<void> {
  const buf = Buffer.allocUnsafe(4096);
  for (let i = 0; i < files; i += 100) {
    randomFillSync(buf);
    await writeFile(join(dir, `d${i % 100}`, `f${i}.bin`), buf);
    await writeFile(join(dir, `d${i % 100}`, `new${i}.bin`), buf);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const files = Number(arg('files', '10000'));
  const runs = Number(arg('runs', '3'));
  const json = process.argv.includes('--json');
  const tmp = await tempDir('ferry-bench-sync-');
  const server = await startServer({ dataDir: join(tmp.path, 'data'), extraArgs: process.argv.includes('--no-fsync') ? ['--no-fsync'] : [] });
  const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken, FERRY_CONFIG: join(tmp.path, 'config.json'), XDG_CONFIG_HOME: join(tmp.path, 'xdg') };
  const times = new Map<string, number[]>();
  let bytes = 0;
  const timed = async (name: string, args: string[]) => {
    const t0 = performance.now();
    const r = await runFerry(args, { env, timeoutMs: 3_600_000 });
    const seconds = (performance.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`ferry ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
    times.set(name, [...(times.get(name) ?? []), seconds]);
  };
  try {
    for (let run = 0; run < runs; run++) {
      const dir = join(tmp.path, `run${run}`);
      bytes = await makeTree(dir, files, run * 131);
      await timed('first sync', ['sync', dir, `ferry:/r${run}`]);
      await timed('no-change re-sync', ['sync', dir, `ferry:/r${run}`]);
      await editTree(dir, files);
      await timed('re-sync after 1% edits + 1% new', ['sync', dir, `ferry:/r${run}`]);
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await server.stop();
    await tmp.cleanup();
  }
  const rows = [...times].map(([name, s]) => ({ name, median: median(s), best: Math.min(...s), runs: s.length }));
  if (json) {
    process.stdout.write(JSON.stringify({ files, bytes, rows, loadavg: loadavg() }) + '\n');
    return;
  }
  process.stdout.write(`ferry sync of ${files} files of 1-64 KiB (${(bytes / 1048576).toFixed(0)} MiB) to a local ferry server, CLI end to end\n\n`);
  process.stdout.write('| scenario | median s | best s | runs |\n| --- | ---: | ---: | ---: |\n');
  for (const r of rows) process.stdout.write(`| ${r.name} | ${r.median.toFixed(2)} | ${r.best.toFixed(2)} | ${r.runs} |\n`);
  process.stdout.write(`\nload average: ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
