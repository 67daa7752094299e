/**
 * `ferry sync` of many small files to a real Ferry server on loopback, through the CLI
 * (process start included, as a user sees it and as `time rsync -a dir host:dir` measures).
 *
 *   node dist/benchmarks/sync-small-files.js [--files 10000] [--runs 3] [--no-fsync] [--json]
 *
 * Per run, with new random content (nothing deduplicates across runs):
 *   - first sync of a tree of 1-64 KiB files into an empty server folder;
 *   - a no-change re-sync (listing and comparing only);
 *   - a re-sync after editing 1% of the files and adding 1% new ones;
 *   - the other way: a sync from the server into an empty folder, and its no-change re-sync.
 * Peers measured on this kind of machine (shared/FACTS.md): rsync over ssh 4.4 s first, 0.40 s
 * no-op; rclone to sftp 10.7 s and 0.85 s. Prints medians and the fastest run, with the load
 * average (two shared cores: other processes move these numbers), and the CPU seconds the
 * client (through /usr/bin/time) and the server (from /proc) spent, which load moves less.
 */
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { FERRY_BIN, cliEnv } from '../test/helpers/cli.js';
import { tempDir } from '../test/helpers/files.js';
import { startServer } from '../test/helpers/server.js';
import { Args } from './lib/args.js';

const args = new Args().only(['files', 'runs', 'no-fsync', 'json']);

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

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Run {
  code: number;
  stderr: string;
  /** Client CPU seconds, when /usr/bin/time is there to tell. */
  cpu?: number;
}

/** Runs the CLI (under /usr/bin/time when available, for its CPU seconds). */
function runCli(args: string[], env: Record<string, string>): Promise<Run> {
  const timed = existsSync('/usr/bin/time');
  const file = timed ? '/usr/bin/time' : process.execPath;
  const argv = timed ? ['-f', 'FERRY-CPU %U %S', process.execPath, FERRY_BIN, ...args] : [FERRY_BIN, ...args];
  return new Promise((resolve) => {
    execFile(file, argv, { env: cliEnv(env), maxBuffer: 64 << 20 }, (err, _stdout, stderr) => {
      const m = /FERRY-CPU ([\d.]+) ([\d.]+)/.exec(stderr);
      resolve({ code: err ? 1 : 0, stderr, cpu: m ? Number(m[1]) + Number(m[2]) : undefined });
    });
  });
}

async function main(): Promise<void> {
  const files = args.number('files', 10_000);
  const runs = args.number('runs', 3);
  const json = args.flag('json');
  const tmp = await tempDir('ferry-bench-sync-');
  const server = await startServer({ dataDir: join(tmp.path, 'data'), extraArgs: args.flag('no-fsync') ? ['--no-fsync'] : [] });
  const env: Record<string, string> = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken, FERRY_CONFIG: join(tmp.path, 'config.json'), XDG_CONFIG_HOME: join(tmp.path, 'xdg') };
  const times = new Map<string, { wall: number[]; client: number[]; server: number[] }>();
  let bytes = 0;
  const timed = async (name: string, args: string[]) => {
    const serverBefore = cpuSecondsOf(server.process.pid!);
    const t0 = performance.now();
    const r = await runCli(args, env);
    const seconds = (performance.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`ferry ${args.join(' ')} failed:\n${r.stderr}`);
    const t = times.get(name) ?? { wall: [], client: [], server: [] };
    t.wall.push(seconds);
    if (r.cpu !== undefined) t.client.push(r.cpu);
    t.server.push(cpuSecondsOf(server.process.pid!) - serverBefore);
    times.set(name, t);
  };
  try {
    for (let run = 0; run < runs; run++) {
      const dir = join(tmp.path, `run${run}`);
      bytes = await makeTree(dir, files, run * 131);
      await timed('first sync', ['sync', dir, `ferry:/r${run}`]);
      await timed('no-change re-sync', ['sync', dir, `ferry:/r${run}`]);
      await editTree(dir, files);
      await timed('re-sync after 1% edits + 1% new', ['sync', dir, `ferry:/r${run}`]);
      const back = join(tmp.path, `back${run}`);
      await timed('download: sync to an empty folder', ['sync', `ferry:/r${run}`, back]);
      await timed('download: no-change re-sync', ['sync', `ferry:/r${run}`, back]);
      await rm(back, { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await server.stop();
    await tmp.cleanup();
  }
  const rows = [...times].map(([name, t]) => ({
    name,
    median: median(t.wall),
    best: Math.min(...t.wall),
    clientCpu: t.client.length ? median(t.client) : undefined,
    serverCpu: median(t.server),
    runs: t.wall.length,
  }));
  if (json) {
    process.stdout.write(JSON.stringify({ files, bytes, rows, loadavg: loadavg() }) + '\n');
    return;
  }
  process.stdout.write(`ferry sync of ${files} files of 1-64 KiB (${(bytes / 1048576).toFixed(0)} MiB) to a local ferry server, CLI end to end\n\n`);
  process.stdout.write('| scenario | median s | best s | client CPU s | server CPU s | runs |\n| --- | ---: | ---: | ---: | ---: | ---: |\n');
  for (const r of rows) {
    process.stdout.write(`| ${r.name} | ${r.median.toFixed(2)} | ${r.best.toFixed(2)} | ${r.clientCpu?.toFixed(2) ?? '-'} | ${r.serverCpu.toFixed(2)} | ${r.runs} |\n`);
  }
  process.stdout.write(`\nload average: ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
