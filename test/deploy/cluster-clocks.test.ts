/**
 * Nodes whose clocks disagree (docs/cluster.md, "Clocks"): two real `ferry serve` processes
 * on one PostgreSQL database and one s3rver bucket, the second run under libfaketime two
 * hours ahead of the machine (and of PostgreSQL). Every expiry one node writes and another
 * compares is on the database's clock, so what one node grants for an hour holds for that
 * hour on the other:
 *
 * - a token, a share link, an upload session and a file's TTL of one hour, given by the node
 *   on time, are still good on the node two hours ahead (with each node's own clock, the
 *   second took every one of them for expired an hour ago);
 * - what the node ahead gives for an hour ends an hour from now, not three;
 * - a defender ban (30 minutes) made by the node on time refuses the address on the node ahead;
 * - garbage collection on the node ahead keeps a pack object another node has just stored
 *   and not yet indexed (object times are the store's clock, judged against the database's).
 */
import { createHash, randomBytes } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { errorCode, ok, skewedClock, startPgS3Nodes, type PgS3Nodes } from '../helpers/pg-s3-nodes.js';
import type { RunningServer } from '../helpers/server.js';

const HOUR = 3_600_000;
/** How far the shared clock may be from this process's: a round trip and a test's steps, generously. */
const SLACK = 120_000;
const BAD = `Bearer ferry_${'0'.repeat(16)}_${'A'.repeat(43)}`;

let nodes: PgS3Nodes;
/** On the machine's (and the database's) clock. */
let onTime: RunningServer;
/** Two hours ahead. */
let ahead: RunningServer;
let token: string;

const sha = (x: Buffer): string => createHash('sha256').update(x).digest('hex');
const api: PgS3Nodes['api'] = (...args) => nodes.api(...args);

beforeAll(async () => {
  nodes = await startPgS3Nodes('cluster-clocks');
  const args = ['--upload-ttl', '1h', '--trust-proxy', '127.0.0.1/32', '--defender-threshold', '4'];
  [onTime, ahead] = await Promise.all([nodes.startNode('on-time', args), nodes.startNode('ahead', args, skewedClock('+2h'))]);
  ({ token } = await nodes.user(onTime, 'clara'));
}, 120_000);

afterAll(async () => nodes?.stop());

/** The time a node's answers say it is (the Date header, from its own wall clock). */
async function clockOf(node: RunningServer): Promise<number> {
  return Date.parse((await fetch(`${node.url}/healthz`)).headers.get('date')!);
}

/** Expects `at` to be about `ms` from now on the machine's clock. */
function expectFromNow(at: number, ms: number): void {
  expect(Math.abs(at - (Date.now() + ms)), `${new Date(at).toISOString()} is not ${ms / 60_000} min from now`).toBeLessThan(SLACK);
}

describe('two nodes two hours apart', () => {
  it('the second node runs two hours ahead (the premise of the other tests)', async () => {
    const skew = (await clockOf(ahead)) - (await clockOf(onTime));
    expect(Math.abs(skew - 2 * HOUR)).toBeLessThan(SLACK);
  });

  it('a token for an hour, made by the node on time, is accepted by the node ahead', async () => {
    const made = await ok<{ token: string; expiresAt: number }>(await api(onTime, '/api/v1/tokens', { method: 'POST', token, json: { name: 'an hour', expiresInSeconds: 3600 } }), 201);
    expectFromNow(made.expiresAt, HOUR);
    expect((await api(ahead, '/api/v1/me', { token: made.token })).status).toBe(200);
    const there = await ok<{ token: string; expiresAt: number }>(await api(ahead, '/api/v1/tokens', { method: 'POST', token, json: { name: 'an hour there', expiresInSeconds: 3600 } }), 201);
    expectFromNow(there.expiresAt, HOUR);
    expect((await api(onTime, '/api/v1/me', { token: there.token })).status).toBe(200);
  });

  it('a share link for an hour opens on both nodes, whichever made it, and ends an hour from now', async () => {
    expect((await api(onTime, '/api/v1/files/note.txt', { method: 'PUT', token, body: 'shared for an hour' })).status).toBe(201);
    for (const [maker, other] of [[onTime, ahead], [ahead, onTime]]) {
      const link = await ok<{ url: string; expiresAt: number }>(await api(maker, '/api/v1/shares', { method: 'POST', token, json: { path: '/note.txt', expiresInSeconds: 3600 } }), 201);
      expectFromNow(link.expiresAt, HOUR);
      const key = new URL(link.url).pathname;
      for (const node of [maker, other]) {
        const r = await fetch(node.url + key);
        expect(r.status, `${key} on ${node === ahead ? 'the node ahead' : 'the node on time'}`).toBe(200);
        expect(await r.text()).toBe('shared for an hour');
      }
    }
  });

  it('an upload session (upload TTL 1h) opened on one node goes on and commits on the other, and ends an hour from now', async () => {
    for (const [maker, other] of [[onTime, ahead], [ahead, onTime]]) {
      const body = randomBytes(5000);
      const chunks = [{ hash: sha(body), size: body.length }];
      const path = `/from-${maker === ahead ? 'ahead' : 'on-time'}.bin`;
      const session = await ok<{ id: string; expiresAt: number }>(await api(maker, '/api/v1/uploads', { method: 'POST', token, json: { path, size: body.length, hash: fileHashOf(chunks), chunks } }), 201);
      expectFromNow(session.expiresAt, HOUR);
      const status = await ok<{ missing: string[]; expiresAt: number }>(await api(other, `/api/v1/uploads/${session.id}`, { token }), 200);
      expect(status.missing).toEqual([chunks[0].hash]);
      expectFromNow(status.expiresAt, HOUR);
      expect((await api(other, `/api/v1/uploads/${session.id}/chunks/${chunks[0].hash}`, { method: 'PUT', token, body })).status).toBe(200);
      expect((await api(other, `/api/v1/uploads/${session.id}/commit`, { method: 'POST', token, json: {} })).status).toBe(200);
      expect(Buffer.from(await (await api(maker, `/api/v1/files${path}`, { token })).arrayBuffer()).equals(body)).toBe(true);
    }
  });

  it('a file with a TTL of an hour, stored through the node on time, is served by the node ahead', async () => {
    const body = randomBytes(3000);
    const chunks = [{ hash: sha(body), size: body.length }];
    const session = await ok<{ id: string }>(await api(onTime, '/api/v1/uploads', { method: 'POST', token, json: { path: '/for-an-hour.bin', size: body.length, hash: fileHashOf(chunks), chunks, ttlSeconds: 3600 } }), 201);
    expect((await api(onTime, `/api/v1/uploads/${session.id}/chunks/${chunks[0].hash}`, { method: 'PUT', token, body })).status).toBe(200);
    expect((await api(onTime, `/api/v1/uploads/${session.id}/commit`, { method: 'POST', token, json: {} })).status).toBe(200);
    const r = await api(ahead, '/api/v1/files/for-an-hour.bin', { token });
    expect(r.status, await errorCode(r.clone())).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(body)).toBe(true);
  });

  it('a ban (30 minutes) made by the node on time refuses the address on the node ahead', async () => {
    const client = '203.0.113.77';
    const ask = async (node: RunningServer, authorization?: string) =>
      (await api(node, authorization ? '/api/v1/me' : '/healthz', { token: null, headers: { 'x-forwarded-for': client, ...(authorization ? { authorization } : {}) } })).status;
    expect(await ask(ahead)).toBe(200);
    // Threshold 4, an unknown token id scores 2: the second failure bans.
    expect(await ask(onTime, BAD)).toBe(401);
    expect(await ask(onTime, BAD)).toBe(401);
    expect(await ask(onTime)).toBe(403);
    // Bans travel every 2 s: poll the node ahead until it refuses (at most 30 s).
    const seen: number[] = [];
    while (seen.at(-1) !== 403 && seen.length < 60) {
      if (seen.length > 0) await new Promise((r) => setTimeout(r, 500));
      seen.push(await ask(ahead));
    }
    expect(seen.at(-1)).toBe(403);
    const bans = await ok<{ ip: string; until: number }[]>(await api(ahead, '/api/v1/admin/bans'), 200);
    // 30 minutes, and half of that again for each request refused meanwhile: on the machine's clock.
    const left = bans.find((b) => b.ip === client)!.until - Date.now();
    expect(left).toBeGreaterThan(HOUR / 2 - SLACK);
    expect(left).toBeLessThan(HOUR + SLACK);
  });
});

describe('the sweep of objects no row points at, run by the node two hours ahead', () => {
  it('keeps a pack another node has just stored and not yet indexed (grace 1 h)', async () => {
    const client = new S3Client({ ...nodes.s3, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    try {
      // What a node writing a pack has stored before its index row goes in (ChunkStore.packKey).
      const id = randomBytes(16).toString('hex');
      const key = `chunks/packs/${id.slice(0, 2)}/${id}`;
      await client.send(new PutObjectCommand({ Bucket: nodes.bucket, Key: key, Body: randomBytes(4096) }));
      const gc = await ok<{ unreferenced: { packs: number } }>(await api(ahead, '/api/v1/admin/gc', { method: 'POST', json: {} }), 200);
      expect(gc.unreferenced.packs).toBe(0);
      const head = await client.send(new HeadObjectCommand({ Bucket: nodes.bucket, Key: key })).then(() => 'there', (err: { name?: string }) => err.name);
      expect(head).toBe('there');
    } finally {
      client.destroy();
    }
  });
});
