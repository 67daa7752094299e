/**
 * The bench's idle figure (lib/suite.ts: startFerryTwice, settleAndMeasureIdle), on several
 * builds alternated: a first start on a new data directory timed to its ready line, a stop, a
 * restart, VmRSS 1 s after the restart's ready line. Also each start's CPU time at its ready
 * line (all threads, and the main thread alone: the start's critical path) and the 1-minute load.
 * With TRAFFIC=1, then 100 requests (as branch idle2 did) and VmRSS 5 s after them.
 *
 * Usage: node dist/benchmarks/idle-rss.js PAIRS ROOT[|NODE_FLAG...] ROOT...
 * ROOT is a directory with bin/ferry.js and its dist/ (a copy of another build's bin/, dist/ and
 * package.json, with node_modules linked). Figures are MiB (the bench's MB are 10^6 bytes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Args } from './lib/args.js';

const ARGS = ['--max-upload-sessions', '1000', '--max-connections-per-ip', '0'];
const MiB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
/** CPU ms of a process (or of one of its threads), from /proc: utime + stime in clock ticks of 10 ms. */
const cpuMs = (pid: number, thread?: number) => {
  const fields = readFileSync(`/proc/${pid}${thread === undefined ? '' : `/task/${thread}`}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

interface Started {
  child: ChildProcess;
  url: string;
  ms: number;
  cpu: number;
  mainCpu: number;
}

async function start(spec: string, dir: string, token: string): Promise<Started> {
  const [root, ...flags] = spec.split('|');
  const env: NodeJS.ProcessEnv = { ...process.env, FERRY_ADMIN_TOKEN: token };
  for (const k of Object.keys(env)) if (k.startsWith('FERRY_') && k !== 'FERRY_ADMIN_TOKEN') delete env[k];
  const t0 = performance.now();
  const child = spawn(process.execPath, [...flags.filter(Boolean), join(root!, 'bin/ferry.js'), 'serve', '--addr', '127.0.0.1:0', '--data', dir, ...ARGS], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.resume();
  const url = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      if (!line.includes('"event":"ready"')) return;
      rl.close();
      child.stdout!.resume();
      resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`ferry serve exited (${code}) before it was ready`)));
  });
  return { child, url, ms: performance.now() - t0, cpu: cpuMs(child.pid!), mainCpu: cpuMs(child.pid!, child.pid!) };
}

const stop = (child: ChildProcess) =>
  new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });

async function traffic(url: string, token: string): Promise<void> {
  const h = { authorization: `Bearer ${token}` };
  const body = randomBytes(4096);
  const get = async (path: string, init: RequestInit = {}) => (await fetch(`${url}${path}`, { headers: h, ...init })).arrayBuffer();
  for (let i = 0; i < 20; i++) await get(`/api/v1/files/t/f${i}`, { method: 'PUT', headers: { ...h, 'content-type': 'application/octet-stream' }, body });
  for (let i = 0; i < 20; i++) await get(`/api/v1/files/t/f${i}`);
  for (let i = 0; i < 20; i++) await get('/api/v1/list/t');
  for (let i = 0; i < 20; i++) await get(`/api/v1/stat/t/f${i}`);
  for (let i = 0; i < 10; i++) await get('/api/v1/capabilities');
  for (let i = 0; i < 5; i++) await get('/metrics');
  for (let i = 0; i < 5; i++) await get('/healthz');
}

const args = new Args().only([], Infinity);
const [pairsText, ...builds] = args.positionals();
if (pairsText === undefined || builds.length === 0) args.refuse('usage: node dist/benchmarks/idle-rss.js PAIRS ROOT[|NODE_FLAG...] ROOT...');
const pairs = args.count(pairsText, 'PAIRS');
const results = new Map<string, Record<string, number>[]>(builds.map((b) => [b, []]));
for (let p = 0; p < pairs; p++) {
  for (const build of p % 2 ? [...builds].reverse() : builds) {
    const dir = mkdtempSync(join(tmpdir(), 'idle-rss-'));
    const token = `bench-${randomBytes(16).toString('hex')}`;
    const first = await start(build, join(dir, 'data'), token);
    await stop(first.child);
    const again = await start(build, join(dir, 'data'), token);
    await sleep(1000);
    const r: Record<string, number> = { idle: rss(again.child.pid!) / MiB, first: first.ms, firstCpu: first.cpu, firstMain: first.mainCpu, restart: again.ms, restartMain: again.mainCpu, load: loadavg()[0]! };
    if (process.env.TRAFFIC) {
      await traffic(again.url, token);
      await sleep(5000);
      r.traffic = rss(again.child.pid!) / MiB;
    }
    await stop(again.child);
    rmSync(dir, { recursive: true, force: true });
    results.get(build)!.push(r);
    console.log(build, JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(v * 100) / 100]))));
  }
}
const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
for (const [build, runs] of results) {
  const figure = (k: string) => {
    const v = runs.map((x) => x[k]).filter((x): x is number => x !== undefined);
    return v.length ? `${k} ${median(v).toFixed(2)} (${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)})` : '';
  };
  const figures = ['idle', 'traffic', 'first', 'firstCpu', 'firstMain', 'restart', 'restartMain', 'load'].map(figure).filter(Boolean);
  console.log(`${build}: ${runs.length} runs; ${figures.join('; ')}; the bench's idle MB ${((median(runs.map((x) => x.idle!)) * MiB) / 1e6).toFixed(1)}`);
}
