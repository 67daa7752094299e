/**
 * The 200-clients workload against one node and against three nodes behind nginx, all on
 * this machine (issue 17). Every setup is the multi-node deployment's: metadata in
 * PostgreSQL (a private cluster), chunks in one shared store (a local directory here, so
 * that the object store is not what is measured), 200 FerryClients in one process
 * (tools/ferry-load.js) each uploading its own file at once.
 *
 *   node dist/benchmarks/cluster.js [--clients 200] [--client-size 4MiB] [--runs 3] [--json]
 *
 * Setups: `1 node` (clients straight to it), `1 node + nginx` (the proxy's own cost) and
 * `3 nodes + nginx`. On one machine this shows the overhead of running several nodes, not
 * their scaling: the three nodes share the same two cores.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Args } from './lib/args.js';
import { makeMany } from './lib/data.js';
import { median } from './lib/stats.js';
import { benchScript } from './peers/ferry-bin.js';
import { startBalancer, type Balancer } from '../test/helpers/nginx-balancer.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { startServer, type RunningServer } from '../test/helpers/server.js';

const args = new Args().only(['clients', 'client-size', 'runs', 'json']);
const clients = args.number('clients', 200);
const clientSize = args.size('client-size', '4MiB');
const runs = args.number('runs', 3);
const json = args.flag('json');
const log = (line: string) => process.stderr.write(line + '\n');

interface Setup {
  name: string;
  nodes: number;
  balancer: boolean;
}
const SETUPS: Setup[] = [
  { name: '1 node', nodes: 1, balancer: false },
  { name: '1 node + nginx', nodes: 1, balancer: true },
  { name: '3 nodes + nginx', nodes: 3, balancer: true },
];

const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-cluster-'));
const postgres = await startPostgres();
const adminToken = `bench-${randomBytes(16).toString('hex')}`;
const sessionKey = randomBytes(32).toString('base64');
const results: { setup: string; seconds: number[]; medianSeconds: number; mbPerSecond: number; statements?: { perChunk: number; perCommit: number } }[] = [];

/** Statements the database ran (pg_stat_database: commits+rollbacks are transactions; pg_stat_statements is not loaded). */
async function transactions(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ n: string }>('select xact_commit + xact_rollback as n from pg_stat_database where datname = current_database()');
    return Number(r.rows[0].n);
  } finally {
    await c.end();
  }
}

function load(server: string, locals: string[], run: number): Promise<void> {
  const pairs = locals.flatMap((l, i) => [l, `/run-${run}/f${String(i).padStart(3, '0')}.bin`]);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [benchScript('tools/ferry-load.js'), server, ...pairs], { env: { ...process.env, FERRY_TOKEN: adminToken }, stdio: ['ignore', 'pipe', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ferry-load exited with ${code}`))));
  });
}

try {
  for (const setup of SETUPS) {
    const url = await postgres.createDatabase();
    const store = join(dir, `store-${setup.nodes}-${setup.balancer ? 'lb' : 'direct'}`);
    await mkdir(store, { recursive: true });
    const nodes: RunningServer[] = [];
    let lb: Balancer | undefined;
    try {
      // One after the other: the first one migrates the new database.
      for (let i = 0; i < setup.nodes; i++) {
        nodes.push(
          await startServer({
            dataDir: join(dir, `${setup.name.replace(/\W+/g, '-')}-node-${i}`),
            adminToken,
            env: { FERRY_SESSION_KEY: sessionKey, FERRY_LOG_LEVEL: 'warn' },
            extraArgs: ['--db', url, '--db-pool', '10', '--store', store, '--no-fsync', '--trust-proxy', '127.0.0.1', '--max-connections-per-ip', '2000', '--max-upload-sessions', '1000', '--gc-interval', '0'],
          }),
        );
      }
      if (setup.balancer) lb = await startBalancer(join(dir, `nginx-${setup.nodes}`), nodes.map((n) => n.url));
      const target = lb?.url ?? nodes[0].url;
      const seconds: number[] = [];
      let statements: { perChunk: number; perCommit: number } | undefined;
      for (let run = 0; run < runs; run++) {
        // New bytes every run: the same files again would be deduplicated (nothing to send).
        const input = join(dir, 'input');
        await rm(input, { recursive: true, force: true });
        const locals = await makeMany(input, clients, clientSize);
        const before = await transactions(url);
        const t0 = performance.now();
        await load(target, locals, run);
        seconds.push((performance.now() - t0) / 1000);
        const xacts = (await transactions(url)) - before;
        // Chunks per file at the default 1 MiB average: what one upload costs the database.
        const chunks = clients * Math.max(1, Math.round(clientSize / (1024 * 1024)));
        statements ??= { perChunk: xacts / chunks, perCommit: xacts / clients };
        log(`${setup.name}: run ${run + 1}/${runs}: ${seconds[run].toFixed(2)} s (${xacts} transactions)`);
      }
      const med = median(seconds);
      results.push({ setup: setup.name, seconds, medianSeconds: med, mbPerSecond: (clients * clientSize) / med / 1e6, statements });
    } finally {
      await lb?.stop();
      for (const n of nodes) await n.stop();
    }
  }
} finally {
  await postgres.stop();
  await rm(dir, { recursive: true, force: true });
}

const one = results.find((r) => r.setup === '1 node')!;
if (json) process.stdout.write(JSON.stringify({ clients, clientSize, runs, results }) + '\n');
else {
  process.stdout.write(`${clients} clients × ${clientSize} bytes, ${runs} runs, median:\n`);
  for (const r of results) process.stdout.write(`  ${r.setup.padEnd(16)} ${r.medianSeconds.toFixed(2)} s  ${r.mbPerSecond.toFixed(1)} MB/s  ×${(r.medianSeconds / one.medianSeconds).toFixed(2)} of one node\n`);
}
