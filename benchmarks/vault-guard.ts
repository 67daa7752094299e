/**
 * What the vault guard (src/store/vault-guard.ts) adds to a commit outside any vault: one
 * indexed lookup of the ancestors' `.ferry-e2e` paths. Commits one-file sessions at depth 4
 * on SQLite with the guard and with its check replaced by a no-op, alternating rounds.
 * Usage: node dist/benchmarks/vault-guard.js [commits=2000]
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileHashOf } from '../src/core/manifest.js';
import { MetaStore } from '../src/store/meta-store.js';
import { Args } from './lib/args.js';

const commits = new Args().only([], 1).countAt(0, 'commits', 2000);
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
const meta = await MetaStore.openSqlite(join(dir, 'meta.db'));
await meta.migrate();
const guard = meta.namespace.guard;
const real = guard.checkWrites.bind(guard);
let n = 0;

async function round(withGuard: boolean): Promise<number> {
  guard.checkWrites = withGuard ? real : async () => undefined;
  const t0 = performance.now();
  for (let i = 0; i < commits; i++) {
    const hash = createHash('sha256').update(`chunk ${n++}`).digest('hex');
    const chunks = [{ hash, size: 1000 }];
    await meta.addChunk(hash, 1000);
    const u = await meta.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path: `/users/a/d${i % 50}/e${i % 7}/f${n}`, size: 1000, hash: fileHashOf(chunks), chunks }] });
    await meta.commitUpload(u.id);
  }
  return (performance.now() - t0) / commits;
}

const times: Record<'guard' | 'none', number[]> = { guard: [], none: [] };
for (let r = 0; r < 6; r++) {
  times.none.push(await round(false));
  times.guard.push(await round(true));
}
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(JSON.stringify({ commits, msPerCommit: { withGuard: +median(times.guard).toFixed(3), without: +median(times.none).toFixed(3) } }));
await meta.close();
rmSync(dir, { recursive: true, force: true });
