/**
 * Cost of a quota check's usage query (sum of sizes under a home) as the number of files
 * grows: it runs at upload-session creation and inside each commit of a user with a quota.
 * Usage: node dist/benchmarks/quota-usage.js [files=100000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetaStore } from '../src/store/meta-store.js';
import { Args } from './lib/args.js';

const total = new Args().only([], 1).countAt(0, 'files', 100_000);
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
const meta = await MetaStore.openSqlite(join(dir, 'meta.db'));
const now = Date.now();
// Two homes: the measured one holds half the files, so the range scan skips the other half.
const rows: { path: string; parent: string; name: string; type: "dir" }[] = [];
for (const home of ['/users/a', '/users/b']) {
  rows.push({ path: home.split('/').slice(0, 2).join('/'), parent: '/', name: 'users', type: 'dir' as const });
  rows.push({ path: home, parent: '/users', name: home.slice(7), type: 'dir' as const });
  for (let d = 0; d < 100; d++) rows.push({ path: `${home}/d${d}`, parent: home, name: `d${d}`, type: 'dir' as const });
}
await meta.db.transaction().execute(async (trx) => {
  const seen = new Set<string>();
  const base = { size: 0, mtime: now, mode: null, manifest: null, created_at: now, updated_at: now, expires_at: null };
  for (const r of rows) if (!seen.has(r.path)) (seen.add(r.path), await trx.insertInto('files').values({ ...base, ...r }).execute());
  let batch = [];
  for (let i = 0; i < total; i++) {
    const home = i % 2 ? '/users/a' : '/users/b';
    const d = `${home}/d${i % 100}`;
    batch.push({ ...base, path: `${d}/f${i}`, parent: d, name: `f${i}`, type: 'file' as const, size: 1000 + i, manifest: 'x' });
    if (batch.length === 400) (await trx.insertInto('files').values(batch).execute(), (batch = []));
  }
  if (batch.length) await trx.insertInto('files').values(batch).execute();
});
const times: number[] = [];
for (let i = 0; i < 21; i++) {
  const t0 = performance.now();
  await meta.usage('/users/a');
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ files: total, homeFiles: total / 2, usageMs: { median: +times[10].toFixed(2), p90: +times[18].toFixed(2) }, usage: await meta.usage('/users/a') }));
await meta.close();
rmSync(dir, { recursive: true, force: true });
