/**
 * A move of a large folder on PostgreSQL while another node writes (docs/cluster.md, "Moving
 * and deleting large trees"): a private PostgreSQL cluster, a tree of `--dirs` folders of
 * `--per-dir` entries filled in SQL, and two metadata stores on it (two nodes' pools). Node A
 * moves the tree back and forth `--runs` times; meanwhile node B makes folders in a loop, one
 * inside the tree and one outside it. Prints, per run, the move's time, what was left below the
 * old path (nothing, or an entry below a folder that is gone) and the writers' times and errors.
 *
 *   node dist/benchmarks/tree-move-postgres.js [--dirs 100] [--per-dir 500] [--runs 3] [--json]
 */
import { sql } from 'kysely';
import { Args } from './lib/args.js';
import { MetaStore } from '../src/store/meta-store.js';
import { startPostgres } from '../test/helpers/postgres.js';

const args = new Args().only(['dirs', 'per-dir', 'runs', 'json']);
const dirs = args.number('dirs', 100);
const perDir = args.number('per-dir', 500);
const runs = args.number('runs', 3);
const json = args.flag('json');

interface Writer {
  latencies: number[];
  errors: Record<string, number>;
  stop(): Promise<void>;
}

/** Makes folders `pathOf(0)`, `pathOf(1)`, ... through `meta` until stopped. */
function writer(meta: MetaStore, pathOf: (i: number) => string): Writer {
  const w: Writer = { latencies: [], errors: {}, stop: async () => undefined };
  let stopped = false;
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const started = performance.now();
      await meta.namespace.mkdir(pathOf(i)).catch((err: { code?: string }) => {
        const code = err.code ?? String(err);
        w.errors[code] = (w.errors[code] ?? 0) + 1;
      });
      w.latencies.push(performance.now() - started);
    }
  })();
  w.stop = async () => {
    stopped = true;
    await loop;
  };
  return w;
}

function summary(w: Writer): { requests: number; maxMs: number; medianMs: number; errors: Record<string, number> } {
  const sorted = [...w.latencies].sort((a, b) => a - b);
  return { requests: sorted.length, maxMs: Math.round(sorted.at(-1) ?? 0), medianMs: Math.round(sorted[sorted.length >> 1] ?? 0), errors: w.errors };
}

async function fill(meta: MetaStore): Promise<void> {
  const cols = sql`(path, parent, name, type, size, mtime, created_at, updated_at)`;
  await sql`insert into files ${cols} values ('/big', '/', 'big', 'dir', 0, 0, 0, 0), ('/other', '/', 'other', 'dir', 0, 0, 0, 0)`.execute(meta.db);
  await sql`insert into files ${cols} select '/big/d' || d, '/big', 'd' || d, 'dir', 0, 0, 0, 0 from generate_series(1, ${dirs}) d`.execute(meta.db);
  await sql`insert into files ${cols} select '/big/d' || d || '/f' || f, '/big/d' || d, 'f' || f, 'dir', 0, 0, 0, 0 from generate_series(1, ${dirs}) d, generate_series(1, ${perDir}) f`.execute(meta.db);
  await sql`analyze files`.execute(meta.db);
}

async function below(meta: MetaStore, folder: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from files where path like ${folder + '/%'}`.execute(meta.db);
  return rows[0].n;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function oneRun(a: MetaStore, b: MetaStore, run: number): Promise<Record<string, unknown>> {
  const [from, to] = run % 2 ? ['/big', '/moved'] : ['/moved', '/big'];
  const inside = writer(b, (i) => `${from}/d7/w${run}-${i}`);
  const outside = writer(b, (i) => `/other/w${run}-${i}`);
  await pause(300);
  const started = performance.now();
  const error = await a.namespace.move(from, to).then(() => undefined, (err: { code?: string }) => err.code ?? String(err));
  const moveMs = Math.round(performance.now() - started);
  await pause(300);
  await inside.stop();
  await outside.stop();
  return { run, moveMs, error, moved: await below(a, to), leftBehind: await below(a, from), inside: summary(inside), outside: summary(outside) };
}

const postgres = await startPostgres();
try {
  const url = await postgres.createDatabase('tree_move');
  const a = await MetaStore.openPostgres(url, { poolSize: 4 });
  const b = await MetaStore.openPostgres(url, { poolSize: 4 });
  await fill(a);
  const results = [];
  for (let run = 1; run <= runs; run++) {
    const r = await oneRun(a, b, run);
    results.push(r);
    if (!json) console.log(JSON.stringify(r));
  }
  if (json) console.log(JSON.stringify({ entries: dirs * perDir + dirs + 1, results }));
  await a.close();
  await b.close();
} finally {
  await postgres.stop();
}
