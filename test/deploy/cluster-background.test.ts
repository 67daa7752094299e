/**
 * Work in the background on several nodes (docs/cluster.md): real `ferry serve` processes on
 * one private PostgreSQL cluster and one s3rver bucket (test/helpers/pg-s3-nodes.ts).
 *
 * - overwrites of one file racing through two nodes keep the versions asked for, readable
 *   after garbage collection;
 * - files past their TTL, with two nodes sweeping every second, are removed and audited once;
 * - a webhook gets each event once, whichever node recorded it, while every node's dispatcher runs;
 * - a rolling upgrade: a node keeps serving on a database a newer version migrated (a column,
 *   a table and a migration it does not know), and an old node restarted then refuses to
 *   start, naming the migration.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { ok, startPgS3Nodes, type PgS3Nodes } from '../helpers/pg-s3-nodes.js';
import type { RunningServer } from '../helpers/server.js';

let nodes: PgS3Nodes;
let a: RunningServer;
let b: RunningServer;

const sha = (x: Buffer): string => createHash('sha256').update(x).digest('hex');

beforeAll(async () => {
  nodes = await startPgS3Nodes('cluster-background');
  [a, b] = await Promise.all([nodes.startNode('a', ['--webhook-retry-delay', '1s']), nodes.startNode('b', ['--webhook-retry-delay', '1s'])]);
}, 120_000);

afterAll(async () => nodes?.stop());

const api: PgS3Nodes['api'] = (...args) => nodes.api(...args);
const startNode = (name: string, extra: string[] = []) => nodes.startNode(name, extra);
const user = (name: string, extra: Record<string, unknown> = {}) => nodes.user(a, name, extra);

describe('versions on two nodes', () => {
  it('overwrites of one file racing through two nodes keep the two versions asked for, and each one kept stays readable after GC', async () => {
    const flags = ['--versions', '{"keep":2}'];
    const [v1, v2] = await Promise.all([startNode('v1', flags), startNode('v2', flags)]);
    try {
      const { token } = await user('ver');
      const bodies = Array.from({ length: 8 }, () => randomBytes(150_000));
      const hashes = new Set(bodies.map(sha));
      const puts = await Promise.all(bodies.map((body, i) => api(i % 2 ? v2 : v1, '/api/v1/files/v.bin', { method: 'PUT', token, body })));
      for (const r of puts) expect([200, 201]).toContain(r.status);
      const listed = await ok<{ versions: { id: string; hash: string }[] }>(await api(v1, '/api/v1/versions/v.bin', { token }), 200);
      // Seven replacements, two kept.
      expect(listed.versions).toHaveLength(2);
      await ok(await api(v2, '/api/v1/admin/gc', { method: 'POST', json: { graceSeconds: 0 } }), 200);
      const current = await api(v1, '/api/v1/files/v.bin', { token });
      const seen = [sha(Buffer.from(await current.arrayBuffer()))];
      for (const v of listed.versions) {
        const old = await api(v2, `/api/v1/files/v.bin?version=${v.id}`, { token });
        expect(old.status, v.id).toBe(200);
        seen.push(sha(Buffer.from(await old.arrayBuffer())));
      }
      // Three different bodies of the eight sent, each whole.
      expect(new Set(seen).size).toBe(3);
      for (const h of seen) expect(hashes.has(h)).toBe(true);
    } finally {
      await Promise.all([v1.stop(), v2.stop()]);
    }
  }, 60_000);
});

describe('sweeps on two nodes', () => {
  it('files past their TTL are removed once, by one of two nodes sweeping every second', async () => {
    const flags = ['--ttl-sweep-interval', '1s'];
    const [s1, s2] = await Promise.all([startNode('s1', flags), startNode('s2', flags)]);
    try {
      const { token } = await user('tty');
      const paths: string[] = [];
      for (let i = 0; i < 4; i++) {
        const body = randomBytes(1000 + i);
        const chunks = [{ hash: sha(body), size: body.length }];
        const path = `/short-${i}.bin`;
        const created = await ok<{ id: string }>(await api(i % 2 ? s2 : s1, '/api/v1/uploads', { method: 'POST', token, json: { path, size: body.length, hash: fileHashOf(chunks), chunks, ttlSeconds: 1 } }), 201);
        expect((await api(s1, `/api/v1/uploads/${created.id}/chunks/${chunks[0].hash}`, { method: 'PUT', token, body })).status).toBe(200);
        expect((await api(s2, `/api/v1/uploads/${created.id}/commit`, { method: 'POST', token, json: {} })).status).toBe(200);
        paths.push(path);
      }
      // Hidden once past their TTL; removed (and audited) by the next sweep of one node.
      const expired = async () => {
        const audit = await ok<{ entries: { event: string; target: string | null }[] }>(await api(s2, '/api/v1/admin/audit?limit=10000'), 200);
        return audit.entries.filter((e) => e.event === 'file.expire').map((e) => e.target!).sort();
      };
      const want = paths.map((p) => `/users/tty${p}`);
      let seen = await expired();
      for (let i = 0; i < 300 && seen.length < want.length; i++) {
        await new Promise((r) => setTimeout(r, 100));
        seen = await expired();
      }
      // One more round of both nodes' sweeps: nothing is removed twice.
      await new Promise((r) => setTimeout(r, 2500));
      expect(await expired()).toEqual(want);
      const list = await ok<{ entries: { name: string }[] }>(await api(s1, '/api/v1/list/', { token }), 200);
      expect(list.entries.filter((e) => e.name.startsWith('short-'))).toEqual([]);
    } finally {
      await Promise.all([s1.stop(), s2.stop()]);
    }
  }, 60_000);
});

describe('webhooks on two nodes', () => {
  let receiver: Server;
  const got: { path: string; event: string }[] = [];
  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const j = JSON.parse(body) as { event: string; path?: string };
        got.push({ path: j.path ?? '', event: j.event });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => new Promise<void>((r) => receiver.close(() => r())));

  it('gets each event once, whichever node recorded it', async () => {
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const hook = await ok<{ id: string }>(await api(a, '/api/v1/admin/webhooks', { method: 'POST', json: { url, events: ['upload'] } }), 201);
    // The other node reads the webhook list again within 2 s: uploads through it until one is delivered.
    for (let i = 0; i < 100 && !got.some((g) => g.path.startsWith('/probe-')); i++) {
      expect((await api(b, `/api/v1/files/probe-${i}.txt`, { method: 'PUT', body: 'probe' })).status).toBe(201);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(got.some((g) => g.path.startsWith('/probe-'))).toBe(true);
    const paths: string[] = [];
    for (let i = 0; i < 6; i++) {
      const path = `/hooked-${i}.txt`;
      paths.push(path);
      expect((await api(i % 2 === 0 ? a : b, `/api/v1/files${path}`, { method: 'PUT', body: `file ${i}` })).status).toBe(201);
    }
    // Every upload received, and every delivery of the webhook done (a node queues an event
    // just after its answer, and sends a delivered one never again).
    const log = async () => ok<{ status: string }[]>(await api(b, `/api/v1/admin/webhook-deliveries?webhook=${hook.id}&limit=1000`), 200);
    let rows = await log();
    for (let i = 0; i < 600 && (rows.some((r) => r.status !== 'delivered') || !paths.every((p) => got.some((g) => g.path === p))); i++) {
      await new Promise((r) => setTimeout(r, 100));
      rows = await log();
    }
    expect(rows.every((r) => r.status === 'delivered')).toBe(true);
    expect(rows).toHaveLength(got.length);
    for (const p of paths) expect(got.filter((g) => g.path === p), p).toHaveLength(1);
  }, 60_000);
});

describe('a rolling upgrade', () => {
  it('a node keeps serving on a database a newer version migrated; an old node restarted refuses to start, by name', async () => {
    const old = await startNode('old');
    // What a newer version's migration could do: a column with a default, a new table, its name recorded.
    const db = new pg.Client({ connectionString: nodes.dbUrl });
    await db.connect();
    try {
      await db.query('alter table files add column newer_flag integer not null default 0');
      await db.query('create table newer_things (id text primary key)');
      await db.query("insert into kysely_migration (name, timestamp) values ('9999-from-a-newer-version', now()::text)");
    } finally {
      await db.end();
    }
    // The node started before keeps working: uploads, reads, listings.
    const data = randomBytes(300_000);
    expect((await api(old, '/api/v1/files/after-upgrade.bin', { method: 'PUT', body: data })).status).toBe(201);
    const back = await api(a, '/api/v1/files/after-upgrade.bin');
    expect(sha(Buffer.from(await back.arrayBuffer()))).toBe(sha(data));
    expect((await api(old, '/api/v1/list/')).status).toBe(200);
    // Restarted (a crash, a deploy gone wrong), the old version refuses the newer database.
    await old.stop();
    await expect(startNode('old')).rejects.toThrow(/upgraded by a newer version of Ferry \(its migration 9999-from-a-newer-version is unknown to this one\)/);
  }, 90_000);
});
