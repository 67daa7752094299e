/**
 * What one chunk PUT costs the metadata store: a handful of SQL statements, each prepared
 * once (a GiB upload is some 800 PUTs; every statement more is 800 more). Regressions here
 * show up as server CPU in benchmarks/chunk-put.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { pieces, startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
let token: string;

beforeAll(async () => {
  // No background sweep: its queries would count against the PUT being measured.
  t = await startTestServer({ sweepIntervalMs: 0 });
  await addUser(t, 'frank');
  token = (await tokenFor(t, 'frank')).token;
});
afterAll(async () => {
  await t.close();
});

describe('chunk PUT', () => {
  it('runs at most 8 SQL statements (token, session, the dedup answer; made durable after the answer: one transaction: where the chunk was, its row, its owner), none prepared anew', async () => {
    const data = randomBytes(40 * 1024);
    const { refs, parts } = pieces(data, 1024);
    const created = await t.api('/api/v1/uploads', { method: 'POST', token, json: { path: '/cost.bin', size: data.length, hash: fileHashOf(refs), chunks: refs } });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const put = async (i: number) => {
      const res = await t.api(`/api/v1/uploads/${id}/chunks/${refs[i].hash}`, { method: 'PUT', token, body: parts[i], headers: { 'content-type': 'application/octet-stream' } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ hash: refs[i].hash, size: 1024, stored: true });
    };
    const statements = t.server.ctx.meta.statements!;
    await put(0); // the first one verifies the token and prepares the statements
    await t.server.ctx.chunks.flush();
    for (let i = 1; i < 6; i++) {
      const [lookups, prepared] = [statements.lookups, statements.prepared];
      await put(i);
      await t.server.ctx.chunks.flush(); // the indexing after the answer is the PUT's too
      expect(statements.lookups - lookups).toBeLessThanOrEqual(8);
      expect(statements.prepared - prepared).toBe(0);
    }
    for (let i = 6; i < parts.length; i++) await put(i);
    const commit = await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', token, json: {} });
    expect(commit.status).toBe(200);
    const back = await t.api('/api/v1/files/cost.bin', { token });
    expect(Buffer.from(await back.arrayBuffer()).equals(data)).toBe(true);
  });
});
