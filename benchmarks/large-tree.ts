/**
 * What a move, a recursive delete (to the trash) and a copy of one large tree cost the
 * metadata store, and how long a small write elsewhere (another user's mkdir) waits
 * meanwhile: security audit 2026-12-06, fifth round (docs/security-audit.md, "Large trees,
 * measured", has the figures).
 *
 *   node dist/benchmarks/large-tree.js [--levels 16] [--db sqlite|postgres] [--json]
 *
 * The tree is the audit's: `/dN+1` holds two copies (`a`, `b`) of `/dN`, down to one empty
 * file in `/d0`, so `/dLEVELS` holds 2^LEVELS files (one manifest) and twice as many folders.
 * Measured: the copy of `/dLEVELS-1` (the last one), the move of `/dLEVELS`, its recursive
 * delete into the trash. A small writer makes a folder under `/w` every 10 ms while each
 * operation runs; its wait is the longest of them from when it was due to when it finished
 * (on SQLite a statement runs on the event loop, so lateness of the timer counts too). The
 * copies that build the tree pass the server's limit of 100,000 entries per copy.
 * `--db postgres` starts a private cluster (test/helpers/postgres.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetaStore } from '../src/store/meta-store.js';
import { encodeChunkList } from '../src/store/chunk-list-codec.js';
import { VersionStore } from '../src/store/version-store.js';
import { startPostgres, type PostgresHandle } from '../test/helpers/postgres.js';
import { Args } from './lib/args.js';

const args = new Args().only(['levels', 'db', 'json']);
const levels = args.number('levels', 16);
const engine = args.string('db', 'sqlite');
if (engine !== 'sqlite' && engine !== 'postgres') args.refuse(`--db is sqlite or postgres, not ${engine}`);
const log = (line: string) => process.stderr.write(line + '\n');

const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-tree-'));
let postgres: PostgresHandle | undefined;
let meta: MetaStore;
if (engine === 'postgres') {
  postgres = await startPostgres();
  meta = await MetaStore.openPostgres(await postgres.createDatabase('tree'));
} else {
  meta = await MetaStore.openSqlite(join(dir, 'meta.db'));
}
meta.setRetention(new VersionStore(meta, () => ({ versions: { keep: 0, days: 0, paths: {} }, trashDays: 30 }), Date.now));

/** One empty file at `/d0/empty`, one manifest. */
async function seed(): Promise<void> {
  const now = Date.now();
  await meta.mkdir('/d0');
  await meta.db.insertInto('manifests').values({ hash: 'm0', size: 0, chunk_count: 0, chunks: encodeChunkList([]), refs: 1, created_at: now }).execute();
  await meta.db.insertInto('files').values({ path: '/d0/empty', parent: '/d0', name: 'empty', name_fold: null, type: 'file', size: 0, mtime: now, mode: null, manifest: 'm0', created_at: now, updated_at: now, expires_at: null }).execute();
}

/** Runs `op` while a small writer makes a folder every 10 ms; returns the op's time and the writer's longest wait (ms). */
async function timed(op: () => Promise<unknown>): Promise<{ ms: number; writerMaxMs: number; writes: number }> {
  let done = false;
  let writerMax = 0;
  let writes = 0;
  const writer = (async () => {
    let due = performance.now() + 10;
    while (!done) {
      // A write due while the operation runs is made and timed even if the operation ends first.
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
      await meta.mkdir(`/w/x${writes++}`, { parents: true });
      writerMax = Math.max(writerMax, performance.now() - due);
      due = performance.now() + 10;
    }
  })();
  const t0 = performance.now();
  await op();
  const ms = performance.now() - t0;
  done = true;
  await writer;
  return { ms: Math.round(ms), writerMaxMs: Math.round(writerMax), writes };
}

const result: Record<string, unknown> = { db: engine, files: 2 ** levels, rows: 3 * 2 ** levels - 2 };
try {
  await seed();
  // The audit's tree: /dN+1 holds two copies of /dN (a, b), so /dN has 2^N files and 2^(N+1) - 2 folders below it.
  for (let n = 0; n < levels; n++) {
    const t0 = performance.now();
    if (n === levels - 1) result.copy = await timed(() => meta.copy(`/d${n}`, `/d${n + 1}/a`, { maxEntries: 1e12 }));
    else await meta.copy(`/d${n}`, `/d${n + 1}/a`, { maxEntries: 1e12 });
    await meta.copy(`/d${n}`, `/d${n + 1}/b`, { maxEntries: 1e12 });
    log(`level ${n + 1}: ${Math.round(performance.now() - t0)} ms`);
  }
  log(`copy of /d${levels - 1} ${JSON.stringify(result.copy)}`);
  result.move = await timed(() => meta.move(`/d${levels}`, '/moved'));
  log(`move ${JSON.stringify(result.move)}`);
  result.delete = await timed(() => meta.remove('/moved', { recursive: true }));
  log(`delete (to the trash) ${JSON.stringify(result.delete)}`);
  const trashed = await meta.db.selectFrom('trash').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  if (Number(trashed.n) !== 2 ** levels) throw new Error(`${trashed.n} files in the trash, not ${2 ** levels}`);
} finally {
  await meta.close();
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
}
if (args.flag('json')) console.log(JSON.stringify(result));
else console.log(result);
