/**
 * The server's CPU for chunk PUTs, over loopback against `ferry serve` as users run it
 * (durable writes, access log at the default level): --chunks fresh chunks of --chunk-size
 * random bytes (813 × 1.3 MB: what `ferry put` sends for a 1 GiB file), --parallel at a
 * time, into one upload session created with the whole manifest. The client only sends
 * (chunks are made and hashed before the clock starts), so the server is most of what the
 * machine does. Each round starts a server on an empty data directory; the session is
 * committed inside the timed part (the commit is where chunks are known durable), which
 * also proves every chunk arrived.
 *
 * Server CPU (user + sys, /proc) varies less than wall time on a shared machine, and
 * alternating builds round by round cancels most of the drift: to compare two builds, give
 * both (`--bin a/bin/ferry.js,b/bin/ferry.js`) rather than running this twice.
 *
 * With --profile DIR the servers run under `node --cpu-prof` (raw profiles kept in DIR) and
 * the main thread's self and inclusive times of each round are printed (profiling costs a
 * few per cent: compare profiled rounds with profiled rounds).
 *
 * With --known the same chunks are first uploaded (untimed) by another user: the timed PUTs
 * then send chunks the server already stores, which it handles exactly like new ones (read,
 * verified, written, indexed: no dedup oracle), so this measures what that costs.
 *
 *   node dist/benchmarks/chunk-put.js [--chunks 813] [--chunk-size 1.3MiB] [--parallel 4] [--rounds 5] [--bin A,B] [--profile DIR] [--known]
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { Args } from './lib/args.js';
import { summarizeProfile } from './lib/cpuprofile.js';
import { cpuDelta, TICKS, treeCpu } from './lib/measure.js';
import { median } from './lib/stats.js';
import { loadAverage } from './lib/system.js';
import { FERRY_BIN } from './peers/ferry-bin.js';
import { startFerryServer } from './peers/ferry.js';
import { fileHashOf } from '../src/core/manifest.js';

const args = new Args().only(['chunks', 'chunk-size', 'parallel', 'rounds', 'bin', 'profile', 'known']);
const count = args.number('chunks', 813);
const chunkSize = args.size('chunk-size', '1.3MiB');
const parallel = args.number('parallel', 4);
const rounds = args.number('rounds', 5);
const bins = args.list('bin') ?? [FERRY_BIN];
const profileDir = args.string('profile', '');
const known = args.flag('known');
const log = (s: string) => process.stderr.write(s + '\n');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Round {
  bin: string;
  wall: number;
  user: number;
  sys: number;
  /** CPU seconds of the server's main thread alone (the event loop: what caps throughput). */
  main: number;
}

/** CPU seconds (user + sys) of one thread so far. */
function threadCpu(pid: number, tid = pid): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS;
}

/** Prints the busiest thread's profile of a round (the main thread). */
async function printProfile(dir: string, title: string): Promise<void> {
  const files = (await readdir(dir)).filter((n) => n.endsWith('.cpuprofile'));
  const summaries = await Promise.all(files.map((n) => summarizeProfile(join(dir, n), 25)));
  const main = summaries.sort((a, b) => b.busyMs - a.busyMs)[0];
  if (!main) return;
  log(`\n${title}: main thread busy ${(main.busyMs / 1000).toFixed(2)} s of ${(main.totalMs / 1000).toFixed(2)} s, GC ${(main.gcMs / 1000).toFixed(2)} s`);
  for (const f of main.functions) log(`  self ${String(Math.round(f.ms)).padStart(6)} ms  ${f.name}`);
  for (const f of main.ferryInclusive) log(`  incl ${String(Math.round(f.ms)).padStart(6)} ms  ${f.name}`);
}

async function round(bin: string, index: number): Promise<Round> {
  // Fresh bytes each round: a chunk the server has seen would be deduplicated, not stored.
  const chunks = Array.from({ length: count }, () => randomBytes(chunkSize));
  const refs = chunks.map((c) => ({ hash: sha256(c), size: c.length }));
  const dataDir = await mkdtemp(join(tmpdir(), 'ferry-bench-chunk-put-'));
  const profile = profileDir ? join(profileDir, `round${index}-${bins.indexOf(bin)}`) : '';
  if (profile) await mkdir(profile, { recursive: true });
  const server = await startFerryServer({ dataDir, bin, nodeArgs: profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : [] });
  const pool = new Pool(server.url, { connections: parallel });
  const headers = { authorization: `Bearer ${server.token}` };
  try {
    if (known) await uploadAsAnotherUser(pool, headers, refs, chunks);
    const created = await pool.request({
      method: 'POST',
      path: '/api/v1/uploads',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/bench.bin', size: count * chunkSize, hash: fileHashOf(refs), chunks: refs }),
    });
    if (created.statusCode !== 201) throw new Error(`POST /uploads: ${created.statusCode} ${await created.body.text()}`);
    const { id } = (await created.body.json()) as { id: string };

    const before = treeCpu([server.pid]);
    const mainBefore = threadCpu(server.pid);
    const t0 = performance.now();
    let next = 0;
    const sender = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        const res = await pool.request({
          method: 'PUT',
          path: `/api/v1/uploads/${id}/chunks/${refs[i].hash}`,
          headers: { ...headers, 'content-type': 'application/octet-stream' },
          body: chunks[i],
        });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`PUT chunk ${i}: ${res.statusCode} ${text}`);
      }
    };
    await Promise.all(Array.from({ length: parallel }, sender));
    // The commit is timed too: chunks may be made durable in groups until it (grouped
    // durability), so the PUTs alone would leave part of the work out.
    const commit = await pool.request({ method: 'POST', path: `/api/v1/uploads/${id}/commit`, headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });
    if (commit.statusCode !== 200) throw new Error(`commit: ${commit.statusCode} ${await commit.body.text()}`);
    await commit.body.dump();
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuDelta(treeCpu([server.pid]), before);
    const main = threadCpu(server.pid) - mainBefore;
    return { bin, wall, main, ...cpu };
  } finally {
    await pool.close();
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
    if (profile) await printProfile(profile, `round ${index} ${bin}`);
  }
}

/** Uploads the chunks as a file of a new user (untimed): the timed upload then sends chunks the server has. */
async function uploadAsAnotherUser(pool: Pool, admin: Record<string, string>, refs: { hash: string; size: number }[], chunks: Buffer[]): Promise<void> {
  const json = { ...admin, 'content-type': 'application/json' };
  const call = async (method: 'POST' | 'PUT', path: string, body: string | Buffer, headers: Record<string, string>, status: number): Promise<unknown> => {
    const res = await pool.request({ method, path, headers, body });
    const text = await res.body.text();
    if (res.statusCode !== status) throw new Error(`${method} ${path}: ${res.statusCode} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  await call('POST', '/api/v1/users', JSON.stringify({ name: 'other' }), json, 201);
  const { token } = (await call('POST', '/api/v1/tokens', JSON.stringify({ name: 'bench', user: 'other' }), json, 201)) as { token: string };
  const other = { authorization: `Bearer ${token}` };
  const { id } = (await call('POST', '/api/v1/uploads', JSON.stringify({ path: '/first.bin', size: count * chunkSize, hash: fileHashOf(refs), chunks: refs }), { ...other, 'content-type': 'application/json' }, 201)) as { id: string };
  let next = 0;
  const sender = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await call('PUT', `/api/v1/uploads/${id}/chunks/${refs[i].hash}`, chunks[i], { ...other, 'content-type': 'application/octet-stream' }, 200);
    }
  };
  await Promise.all(Array.from({ length: parallel }, sender));
  await call('POST', `/api/v1/uploads/${id}/commit`, '{}', { ...other, 'content-type': 'application/json' }, 200);
}

const results: Round[] = [];
for (let r = 0; r < rounds; r++) {
  for (const bin of bins) {
    const x = await round(bin, r + 1);
    results.push(x);
    log(`round ${r + 1} ${bin}: server ${(x.user + x.sys).toFixed(2)} s CPU (user ${x.user.toFixed(2)}, sys ${x.sys.toFixed(2)}; main thread ${x.main.toFixed(2)}), ${x.wall.toFixed(2)} s wall, load ${loadAverage()[0].toFixed(2)}`);
  }
}
const summary = bins.map((bin) => {
  const mine = results.filter((x) => x.bin === bin);
  return {
    bin,
    chunks: count,
    chunkBytes: chunkSize,
    serverCpuSeconds: +median(mine.map((x) => x.user + x.sys)).toFixed(2),
    serverUserSeconds: +median(mine.map((x) => x.user)).toFixed(2),
    serverSysSeconds: +median(mine.map((x) => x.sys)).toFixed(2),
    mainThreadSeconds: +median(mine.map((x) => x.main)).toFixed(2),
    wallSeconds: +median(mine.map((x) => x.wall)).toFixed(2),
    cpuMsPerChunk: +((median(mine.map((x) => x.user + x.sys)) * 1000) / count).toFixed(2),
  };
});
console.log(JSON.stringify(summary, null, 2));
