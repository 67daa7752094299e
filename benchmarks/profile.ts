/**
 * `npm run bench:profile`: where ferry's time goes, from profiles, not guesses.
 *
 * Runs the CLI against a server on loopback with `node --cpu-prof` on both (every thread,
 * workers included), scenario by scenario, the server restarted for each so each profile
 * covers one scenario: the server's start-up to its ready line, a new upload of --size, its
 * download, the identical re-upload, a first sync of --files small files and the no-change
 * re-sync. For each: wall time, user and
 * system CPU of client (/usr/bin/time) and server (/proc), the server's requests by route,
 * and each thread's self time by function and by source file or package.
 *
 *   npm run bench:profile -- [--size 1GiB] [--files 10000] [--scenarios upload,tree] [--keep DIR] [--top 20] [--encrypted]
 *
 * --encrypted: the server encrypts its store at rest (a throwaway key), to see what the
 * encryption decorator costs.
 *
 * Writes benchmarks/results/profile.md and profile.json (--out DIR); the raw .cpuprofile
 * files (open them in Chrome DevTools or speedscope) are kept with --keep DIR.
 */
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateMasterKeyText } from '../src/backends/decorators/key-ring.js';
import { Args } from './lib/args.js';
import { summarizeProfile, type ProfileSummary } from './lib/cpuprofile.js';
import { makeTree, writeRandomFile } from './lib/data.js';
import { cleanupMeasure, cpuDelta, runClient, treeCpu, type Cpu } from './lib/measure.js';
import { describeMachine } from './lib/system.js';
import { human } from './lib/workloads.js';
import { REPO_ROOT } from './peers/ferry-bin.js';
import { startFerryServer, type FerryServer } from './peers/ferry.js';
import { ferryTool, ferryTreeCommand } from './tools/ferry.js';
import type { Tool } from './tools/tool.js';
import type { Command } from './lib/measure.js';

const args = new Args().only(['size', 'files', 'top', 'scenarios', 'keep', 'encrypted', 'out']);
const size = args.size('size', '1GiB');
const files = args.number('files', 10_000);
const top = args.number('top', 20);
const scenarios = args.list('scenarios') ?? ['startup', 'upload', 'download', 'reupload', 'tree', 'tree-noop'];
const keep = args.string('keep', '');
const encrypted = args.flag('encrypted');
const outDir = args.string('out', join(REPO_ROOT, 'benchmarks', 'results'));
const log = (s: string) => process.stderr.write(s + '\n');

interface ThreadProfile extends ProfileSummary {
  side: 'client' | 'server';
}

interface ScenarioResult {
  scenario: string;
  command: string;
  wallSeconds: number;
  client: Cpu & { peakRssMB: number };
  server: Cpu;
  load1: number;
  requests: { route: string; count: number }[];
  threads: ThreadProfile[];
}

/** Requests served, by method and route, from the histogram's _count series. */
async function requestsByRoute(server: FerryServer): Promise<{ route: string; count: number }[]> {
  const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.token}` } });
  const text = await res.text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^ferry_http_request_duration_seconds_count\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels.route === '/metrics') continue;
    const key = `${labels.method} ${labels.route} → ${labels.status}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(m[2]));
  }
  return [...counts].map(([route, count]) => ({ route, count })).sort((a, b) => b.count - a.count);
}

async function profilesIn(dir: string, side: 'client' | 'server', skipMs = 0, untilMs = Infinity): Promise<ThreadProfile[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.cpuprofile')).sort();
  const out: ThreadProfile[] = [];
  for (const n of names) out.push({ side, ...(await summarizeProfile(join(dir, n), top, skipMs, untilMs)) });
  // The main thread first (the busiest profile), then workers.
  return out.sort((a, b) => b.busyMs - a.busyMs);
}

async function clientCommand(scenario: string, tool: Tool): Promise<Command> {
  switch (scenario) {
    case 'upload':
      return tool.upload(big, 'big.bin');
    case 'download':
      await rm(join(work, 'down.bin'), { force: true });
      return tool.download('big.bin', join(work, 'down.bin'));
    case 'reupload': {
      // Same bytes, new mtime, as in the bench's workload 3.
      const now = new Date();
      await utimes(big, now, now);
      return tool.upload(big, 'big.bin');
    }
    case 'tree':
    case 'tree-noop':
      return tool.uploadTree!(tree, 'tree');
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

const work = await mkdtemp(join(tmpdir(), 'ferry-bench-profile-'));
const profDir = keep || join(work, 'profiles');
const results: ScenarioResult[] = [];
const big = join(work, 'big.bin');
const tree = join(work, 'tree');
try {
  const wants = (s: string) => scenarios.includes(s);
  if (['upload', 'download', 'reupload'].some(wants)) await writeRandomFile(big, size);
  if (['tree', 'tree-noop'].some(wants)) await makeTree(tree, files, 1024, 64 * 1024);
  const dataDir = join(work, 'data');
  const serverArgs: string[] = [];
  if (encrypted) {
    const keyFile = join(work, 'store.key');
    await writeFile(keyFile, generateMasterKeyText() + '\n', { mode: 0o600 });
    serverArgs.push('--encryption-key-file', keyFile);
  }
  const treeCommand = ferryTreeCommand();
  for (const scenario of scenarios) {
    const sDir = join(profDir, scenario);
    await mkdir(join(sDir, 'server'), { recursive: true });
    await mkdir(join(sDir, 'client'), { recursive: true });
    const spawnedAt = performance.now();
    const server = await startFerryServer({ dataDir, args: serverArgs, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', join(sDir, 'server')] });
    let result: Omit<ScenarioResult, 'threads'>;
    // The server's profile is cut to the client's run: its own start-up is not the workload.
    let serverWindow = { skipMs: 0, untilMs: Infinity };
    try {
      if (scenario === 'startup') {
        // Start-up alone: the server's profile up to its ready line (goal: ≤ 300 ms).
        serverWindow = { skipMs: 0, untilMs: server.readySeconds * 1000 };
        result = { scenario, command: 'ferry serve (spawn to ready line)', wallSeconds: server.readySeconds, client: { user: 0, sys: 0, peakRssMB: 0 }, server: treeCpu([server.pid]), load1: loadavg()[0], requests: [] };
      } else {
        const tool = ferryTool({ id: 'ferry', label: 'ferry', server, workDir: work, treeCommand, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', join(sDir, 'client')] });
        const cmd = await clientCommand(scenario, tool);
        log(`profiling ${scenario}: ${cmd.args.slice(-4).join(' ')}`);
        const cpu0 = treeCpu([server.pid]);
        const load1 = loadavg()[0];
        serverWindow = { skipMs: performance.now() - spawnedAt, untilMs: Infinity };
        const c = await runClient(cmd);
        const serverCpu = cpuDelta(treeCpu([server.pid]), cpu0);
        result = {
          scenario,
          command: cmd.args.filter((a) => !a.startsWith('--cpu-prof') && !a.includes('/profiles/')).join(' ').replace(REPO_ROOT, ''),
          wallSeconds: c.wallSeconds,
          client: { ...c.cpu, peakRssMB: c.peakRssBytes / 1e6 },
          server: serverCpu,
          load1,
          requests: await requestsByRoute(server),
        };
      }
    } finally {
      // The profile is written when the server exits normally (it handles SIGTERM).
      await server.stop();
    }
    const threads = [...(await profilesIn(join(sDir, 'client'), 'client')), ...(await profilesIn(join(sDir, 'server'), 'server', serverWindow.skipMs, serverWindow.untilMs))];
    results.push({ ...result, threads });
    log(`  ${result.wallSeconds.toFixed(2)} s; client ${result.client.user.toFixed(2)} u + ${result.client.sys.toFixed(2)} s; server ${result.server.user.toFixed(2)} u + ${result.server.sys.toFixed(2)} s`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
  await cleanupMeasure();
}

/** `CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile`: thread 0 is the main thread. */
function threadName(file: string): string {
  const parts = file.split('/').pop()!.split('.');
  const tid = parts[4];
  return tid === '0' ? 'main thread' : `worker thread ${tid}`;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const md: string[] = ['# Where ferry spends its time: CPU profiles', ''];
const m = describeMachine();
md.push(
  `Taken ${new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} on ${m.cpus} × ${m.cpuModel}, Node ${m.node}; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`,
  `\`node --cpu-prof\` on the CLI (whole process, start-up included: the user waits for it) and on the server (all threads, from the moment the client starts), ${human(size)} file, ${files.toLocaleString('en')} small files; one profiled run each (profiling costs a few per cent). ` +
    'Self time: time spent in the function itself, not its callees; share of the thread\'s busy (non-idle) samples. Inclusive time of ferry functions counts only the synchronous part of a call (an `async` function\'s work after an `await` is charged to the code that resumed it). Under load, samples land where a preempted thread resumes (fs bindings, GC waiting for its helper threads), so those shares read high on a busy machine. `(program)` is V8/Node native work not attributed to a JS frame (often I/O syscalls, the event loop, libuv); `(native)` are C++ builtins called from JS (hash updates, buffer copies).',
  '',
);
md.push('| scenario | wall s | client user s | client sys s | client peak RSS MB | server user s | server sys s | load (1 min) |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of results) {
  md.push(`| ${r.scenario} | ${r.wallSeconds.toFixed(2)} | ${r.client.user.toFixed(2)} | ${r.client.sys.toFixed(2)} | ${r.client.peakRssMB.toFixed(0)} | ${r.server.user.toFixed(2)} | ${r.server.sys.toFixed(2)} | ${r.load1.toFixed(2)} |`);
}
md.push('');
for (const r of results) {
  md.push(`## ${r.scenario}`, '', `\`${r.command}\` — ${r.wallSeconds.toFixed(2)} s wall.`, '');
  if (r.requests.length) {
    md.push('Requests the server answered: ' + r.requests.map((q) => `${q.route}: ${q.count}`).join('; ') + '.', '');
  }
  for (const t of r.threads) {
    md.push(`### ${t.side}, ${threadName(t.file)} — busy ${(t.busyMs / 1000).toFixed(2)} s of ${(t.totalMs / 1000).toFixed(2)} s, GC ${(t.gcMs / 1000).toFixed(2)} s`, '');
    md.push('| self time by function | ms | share |', '| --- | ---: | ---: |');
    for (const f of t.functions) md.push(`| \`${f.name.replace(/\|/g, '\\|')}\` | ${f.ms.toFixed(0)} | ${pct(f.share)} |`);
    md.push('', '| self time by source | ms | share |', '| --- | ---: | ---: |');
    for (const f of t.sources.slice(0, 12)) md.push(`| ${f.name} | ${f.ms.toFixed(0)} | ${pct(f.share)} |`);
    if (t.ferryInclusive.length) {
      md.push('', '| ferry functions by inclusive time (with all they call) | ms | share |', '| --- | ---: | ---: |');
      for (const f of t.ferryInclusive.slice(0, 15)) md.push(`| \`${f.name.replace(/\|/g, '\\|')}\` | ${f.ms.toFixed(0)} | ${pct(f.share)} |`);
    }
    md.push('');
  }
}
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'profile.md'), md.join('\n') + '\n');
await writeFile(join(outDir, 'profile.json'), JSON.stringify({ size, files, results }, null, 2) + '\n');
log(`wrote ${join(outDir, 'profile.md')}${keep ? `; raw profiles in ${keep}` : ''}`);
