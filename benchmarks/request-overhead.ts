/**
 * Per-request cost of authentication and authorization, end to end over loopback HTTP:
 * sequential `GET /api/v1/stat/*` (small requests: the fixed cost dominates) and chunk
 * uploads (1 MiB PUTs: hashing and storage dominate). Run it on two builds to compare.
 * Usage: node dist/benchmarks/request-overhead.js
 */
import { randomBytes } from 'node:crypto';
import { startTestServer, uploadBuffer, sha256 } from '../test/helpers/in-process-server.js';
import { fileHashOf } from '../src/core/manifest.js';
import { Args } from './lib/args.js';

new Args().only([]);
const t = await startTestServer({ durable: false });
await uploadBuffer(t, '/x', randomBytes(1000));

async function timed(n: number, fn: (i: number) => Promise<unknown>, warmup = true): Promise<number> {
  if (warmup) for (let i = 0; i < Math.min(50, n); i++) await fn(i);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return (performance.now() - t0) / n;
}

const statMs: number[] = [];
for (let r = 0; r < 5; r++) statMs.push(await timed(2000, async () => (await t.api('/api/v1/stat/x')).arrayBuffer()));

const chunks = Array.from({ length: 64 }, () => randomBytes(1024 * 1024));
const refs = chunks.map((c) => ({ hash: sha256(c), size: c.length }));
const putMs: number[] = [];
for (let r = 0; r < 5; r++) {
  const fresh = chunks.map((c) => Buffer.concat([c.subarray(0, c.length - 8), randomBytes(8)]));
  const rf = fresh.map((c) => ({ hash: sha256(c), size: c.length }));
  const res = await t.api('/api/v1/uploads', { method: 'POST', json: { path: `/big${r}`, size: rf.length * 1024 * 1024, hash: fileHashOf(rf), chunks: rf } });
  const { id } = (await res.json()) as { id: string };
  putMs.push(await timed(fresh.length, async (i) => (await t.api(`/api/v1/uploads/${id}/chunks/${rf[i].hash}`, { method: 'PUT', body: fresh[i], headers: { 'content-type': 'application/octet-stream' } })).arrayBuffer(), false));
}
void refs;
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(JSON.stringify({ statRequestMs: +median(statMs).toFixed(3), chunkPut1MiBMs: +median(putMs).toFixed(2) }));
await t.close();
