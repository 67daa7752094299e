/**
 * The fronts and the account changes on several nodes (docs/cluster.md), probed as an
 * operator and as an attacker would: three real `ferry serve` processes on one private
 * PostgreSQL cluster and one s3rver bucket, each request sent to a chosen node (what a
 * round-robin balancer does to a client).
 *
 * - a tus upload begun on one node goes on through another, also after the first was killed
 *   with SIGKILL in the middle of a PATCH;
 * - a WebDAV lock taken through one node binds the other; UNLOCK through the other frees it;
 * - a password change, a user deleted, an upload link revoked through one node are refused by
 *   the other on the next request;
 * - a quota raced by two clients on two nodes is never passed;
 * - a webhook gets each event once, whichever node recorded it, while every node's dispatcher runs;
 * - a rolling upgrade: a node keeps serving on a database a newer version migrated (a column
 *   and a migration it does not know), and an old node restarted then refuses to start, by name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { runFerry, spawnFerry } from '../helpers/cli.js';
import { basic, dav, lockBody } from '../helpers/dav.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { readMetric, startServer, type RunningServer } from '../helpers/server.js';

const BUCKET = 'ferry-fronts';
const TUS = { 'tus-resumable': '1.0.0' };
const adminToken = `fronts-admin-${randomBytes(16).toString('hex')}`;

let dir: string;
let postgres: PostgresHandle;
let dbUrl: string;
let s3: S3rverHandle;
let sessionKey: string;
let store: string;
let a: RunningServer;
let b: RunningServer;

const sha = (x: Buffer): string => createHash('sha256').update(x).digest('hex');

function startNode(name: string, extra: string[] = []): Promise<RunningServer> {
  return startServer({
    dataDir: join(dir, name),
    adminToken,
    env: { FERRY_SESSION_KEY: sessionKey, FERRY_LOG_LEVEL: 'warn' },
    extraArgs: ['--db', dbUrl, '--db-pool', '4', '--store', store, '--gc-interval', '0', '--no-fsync', ...extra],
    timeoutMs: 60_000,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-cluster-fronts-'));
  postgres = await startPostgres();
  dbUrl = await postgres.createDatabase('ferry_fronts');
  s3 = await startS3rver([BUCKET]);
  store = `s3:${BUCKET}/chunks?endpoint=${encodeURIComponent(s3.endpoint)}&accessKeyId=S3RVER&secretAccessKey=S3RVER&forcePathStyle=true`;
  sessionKey = randomBytes(32).toString('base64');
  [a, b] = await Promise.all([startNode('a', ['--webhook-retry-delay', '1s']), startNode('b', ['--webhook-retry-delay', '1s'])]);
}, 120_000);

afterAll(async () => {
  for (const n of [a, b]) await n?.stop().catch(() => undefined);
  await s3?.stop();
  await postgres?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function api(node: RunningServer, path: string, init: { method?: string; json?: unknown; token?: string | null; body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  const token = init.token === undefined ? adminToken : init.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  return fetch(node.url + path, { method: init.method ?? 'GET', headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
}

async function ok<T>(r: Response, status: number): Promise<T> {
  const text = await r.text();
  expect(r.status, text).toBe(status);
  return (text ? JSON.parse(text) : undefined) as T;
}

async function errorCode(r: Response): Promise<string | undefined> {
  return ((await r.json().catch(() => ({}))) as { error?: { code: string } }).error?.code;
}

/** A user with a password and a token of their own, made through node `a`. */
async function user(name: string, extra: Record<string, unknown> = {}): Promise<{ token: string; password: string }> {
  const password = `${name}-password-1`;
  await ok(await api(a, '/api/v1/users', { method: 'POST', json: { name, password, ...extra } }), 201);
  const { token } = await ok<{ token: string }>(await api(a, '/api/v1/tokens', { method: 'POST', json: { name: `${name} on the cluster`, user: name } }), 201);
  return { token, password };
}

async function tusOffset(node: RunningServer, url: string, token: string): Promise<number> {
  const r = await fetch(node.url + url, { method: 'HEAD', headers: { ...TUS, authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  return Number(r.headers.get('upload-offset'));
}

function tusPatch(node: RunningServer, url: string, token: string, offset: number, body: Buffer): Promise<Response> {
  return fetch(node.url + url, { method: 'PATCH', headers: { ...TUS, authorization: `Bearer ${token}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) }, body });
}

describe('uploads through several nodes', () => {
  it('a tus upload begun on one node goes on through another, also after the first was killed mid-PATCH', async () => {
    const { token } = await user('tia');
    const victim = await startNode('victim');
    const data = randomBytes(12 * 1024 * 1024 + 99);
    const created = await fetch(`${victim.url}/api/v1/tus/`, {
      method: 'POST',
      headers: { ...TUS, authorization: `Bearer ${token}`, 'upload-length': String(data.length), 'upload-metadata': `filename ${Buffer.from('moved.bin').toString('base64')}` },
    });
    expect(created.status).toBe(201);
    const url = new URL(created.headers.get('location')!, victim.url).pathname;
    // The first 3 MiB through the node that is about to die; the other nodes see them.
    expect((await tusPatch(victim, url, token, 0, data.subarray(0, 3 * 1024 * 1024))).status).toBe(204);
    expect(await tusOffset(a, url, token)).toBe(3 * 1024 * 1024);
    // A PATCH cut off by SIGKILL once the node has stored some of it.
    const cut = request(victim.url + url, { method: 'PATCH', headers: { ...TUS, authorization: `Bearer ${token}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(3 * 1024 * 1024), 'content-length': String(data.length - 3 * 1024 * 1024) } });
    cut.on('error', () => undefined);
    const received = await readMetric(victim, 'ferry_chunk_body_bytes_received_total');
    cut.write(data.subarray(3 * 1024 * 1024, 9 * 1024 * 1024));
    for (let i = 0; i < 600 && (await readMetric(victim, 'ferry_chunk_body_bytes_received_total')) < received + 5 * 1024 * 1024; i++) await new Promise((r) => setTimeout(r, 50));
    await victim.kill();
    cut.destroy();
    // What the dead node had not yet recorded is sent again: the offset is one it recorded.
    let offset = await tusOffset(b, url, token);
    expect(offset).toBeGreaterThanOrEqual(3 * 1024 * 1024);
    expect(offset).toBeLessThanOrEqual(9 * 1024 * 1024);
    // The rest through the other node, from the offset it names, once the dead node's claim on
    // the upload has lapsed (423 until then: docs/cluster.md).
    for (let i = 0; i < 600 && (await tusPatch(b, url, token, offset, Buffer.alloc(0))).status === 423; i++) await new Promise((r) => setTimeout(r, 100));
    offset = await tusOffset(b, url, token);
    const rest = await tusPatch(b, url, token, offset, data.subarray(offset));
    expect(rest.status, await rest.clone().text()).toBe(204);
    expect(rest.headers.get('upload-offset')).toBe(String(data.length));
    const got = await api(a, '/api/v1/files/moved.bin', { token });
    expect(got.status).toBe(200);
    expect(sha(Buffer.from(await got.arrayBuffer()))).toBe(sha(data));
    // A PATCH at a stale offset (what the dead node had) is refused on the living one.
    expect((await tusPatch(a, url, token, 3 * 1024 * 1024, data.subarray(0, 10))).status).toBeGreaterThanOrEqual(400);
  }, 90_000);

  it('ferry put cut off by a node killed with SIGKILL, run again through another node, sends only what was not stored', async () => {
    const { token } = await user('cli');
    const victim = await startNode('cli-victim');
    const data = randomBytes(16 * 1024 * 1024);
    const local = join(dir, 'cli.bin');
    await writeFile(local, data);
    const put = (node: RunningServer, extra: string[] = []) => ['put', local, '/cli.bin', '--server', node.url, '--token', token, ...extra];
    const first = spawnFerry(put(victim, ['--bwlimit', '2M']), { env: { HOME: join(dir, 'cli-home') } });
    const exited = new Promise((r) => first.once('close', r));
    let stored = 0;
    for (let i = 0; i < 600 && stored < 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
      stored = await readMetric(victim, 'ferry_chunks_received_total');
    }
    expect(stored).toBeGreaterThanOrEqual(3);
    await victim.kill();
    first.kill('SIGKILL');
    await exited;
    const before = await readMetric(b, 'ferry_chunk_body_bytes_received_total');
    const again = await runFerry(put(b), { env: { HOME: join(dir, 'cli-home') } });
    expect(again.code, again.stderr).toBe(0);
    // What the dead node stored (three chunks or more) was not sent again.
    const manifest = await ok<{ chunks: { size: number }[] }>(await api(a, '/api/v1/manifests/cli.bin', { token }), 200);
    const smallestThree = manifest.chunks.map((c) => c.size).sort((x, y) => x - y).slice(0, 3).reduce((x, y) => x + y, 0);
    expect((await readMetric(b, 'ferry_chunk_body_bytes_received_total')) - before).toBeLessThanOrEqual(data.length - smallestThree);
    const got = await api(a, '/api/v1/files/cli.bin', { token });
    expect(sha(Buffer.from(await got.arrayBuffer()))).toBe(sha(data));
  }, 90_000);

  it('a tus PATCH sent to a second node while one to the first still runs cannot interleave their bytes', async () => {
    const { token } = await user('tom');
    const data = randomBytes(10 * 1024 * 1024);
    const created = await fetch(`${a.url}/api/v1/tus/`, {
      method: 'POST',
      headers: { ...TUS, authorization: `Bearer ${token}`, 'upload-length': String(data.length), 'upload-metadata': `filename ${Buffer.from('twice.bin').toString('base64')}` },
    });
    expect(created.status).toBe(201);
    const url = new URL(created.headers.get('location')!, a.url).pathname;
    // A client's PATCH to the first node stalls (a slow link, a proxy that gave up on it) once
    // the node has stored a chunk of it...
    const before = await readMetric(a, 'ferry_chunk_body_bytes_received_total');
    const stalled = request(a.url + url, { method: 'PATCH', headers: { ...TUS, authorization: `Bearer ${token}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0', 'content-length': String(data.length) } });
    stalled.on('error', () => undefined);
    stalled.write(data.subarray(0, 4 * 1024 * 1024));
    for (let i = 0; i < 600 && (await readMetric(a, 'ferry_chunk_body_bytes_received_total')) < before + 3 * 1024 * 1024; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await readMetric(a, 'ferry_chunk_body_bytes_received_total')).toBeGreaterThanOrEqual(before + 3 * 1024 * 1024);
    // ...and the client, through another node, sends from the offset that node names.
    const offset = await tusOffset(b, url, token);
    const second = await tusPatch(b, url, token, offset, data.subarray(offset, 6 * 1024 * 1024));
    expect(second.status).toBe(423);
    expect(await errorCode(second)).toBe('FERRY_ERR_LOCKED');
    expect(second.headers.get('retry-after')).not.toBeNull();
    // tus-js-client, resuming through the second node, is refused (423) and retries; the first
    // PATCH then ends (its client is gone), what it stored stays, and the upload goes on from there.
    let refused = 0;
    let sawRefusal!: () => void;
    const refusal = new Promise<void>((r) => (sawRefusal = r));
    const done = new Promise<void>((resolve, reject) => {
      const up = new tus.Upload(data, {
        uploadUrl: b.url + url,
        headers: { authorization: `Bearer ${token}` },
        retryDelays: Array(300).fill(100),
        onShouldRetry: (err) => {
          if ((err as tus.DetailedError).originalResponse?.getStatus() === 423) {
            refused++;
            sawRefusal();
          }
          return true;
        },
        onError: reject,
        onSuccess: () => resolve(),
      });
      up.start();
    });
    await refusal;
    stalled.destroy();
    await done;
    expect(refused).toBeGreaterThan(0);
    const got = await api(a, '/api/v1/files/twice.bin', { token });
    expect(got.status).toBe(200);
    expect(sha(Buffer.from(await got.arrayBuffer()))).toBe(sha(data));
  }, 60_000);

  it('a session made on one node takes chunk frames and chunk PUTs on both, and is committed on the other', async () => {
    const { token } = await user('fra');
    const data = randomBytes(300_000);
    const parts = [data.subarray(0, 100_000), data.subarray(100_000, 200_000), data.subarray(200_000)];
    const refs = parts.map((p) => ({ hash: sha(p), size: p.length }));
    const created = await ok<{ id: string; missing: string[] }>(await api(a, '/api/v1/uploads', { method: 'POST', token, json: { path: '/framed.bin', size: data.length, hash: fileHashOf(refs), chunks: refs } }), 201);
    expect(created.missing).toHaveLength(3);
    const frame = (i: number) => {
      const head = Buffer.alloc(40);
      head.write(refs[i].hash, 0, 'hex');
      head.writeUInt32BE(refs[i].size, 32);
      head.writeUInt32BE(parts[i].length, 36);
      return Buffer.concat([head, parts[i]]);
    };
    const framed = await api(b, `/api/v1/uploads/${created.id}/chunk-frames`, { method: 'POST', token, body: Buffer.concat([frame(0), frame(1)]), headers: { 'content-type': 'application/octet-stream' } });
    expect(framed.status, await framed.clone().text()).toBe(200);
    const state = await ok<{ missing: string[] }>(await api(a, `/api/v1/uploads/${created.id}`, { token }), 200);
    expect(state.missing).toEqual([refs[2].hash]);
    expect((await api(a, `/api/v1/uploads/${created.id}/chunks/${refs[2].hash}`, { method: 'PUT', token, body: parts[2] })).status).toBe(200);
    expect((await api(b, `/api/v1/uploads/${created.id}/commit`, { method: 'POST', token, json: {} })).status).toBe(200);
    const got = await api(a, '/api/v1/files/framed.bin', { token });
    expect(sha(Buffer.from(await got.arrayBuffer()))).toBe(sha(data));
  });

  it('garbage collection on one node keeps the chunks a session on the other relies on without sending them', async () => {
    const { token } = await user('gus');
    const data = randomBytes(200_000);
    const chunks = [{ hash: sha(data), size: data.length }];
    expect((await api(a, '/api/v1/files/first.bin', { method: 'PUT', token, body: data })).status).toBe(201);
    // A new session for the same bytes needs nothing sent: the chunk is stored.
    const created = await ok<{ id: string; missing: string[] }>(await api(a, '/api/v1/uploads', { method: 'POST', token, json: { path: '/second.bin', size: data.length, hash: fileHashOf(chunks), chunks } }), 201);
    expect(created.missing).toEqual([]);
    // The only file holding it goes, and another node collects garbage with no grace time.
    expect((await api(a, '/api/v1/files/first.bin', { method: 'DELETE', token })).status).toBe(204);
    const gc = await api(b, '/api/v1/admin/gc', { method: 'POST', json: { graceSeconds: 0 } });
    expect(gc.status, await gc.clone().text()).toBe(200);
    expect((await api(b, `/api/v1/uploads/${created.id}/commit`, { method: 'POST', token, json: {} })).status).toBe(200);
    const got = await api(a, '/api/v1/files/second.bin', { token });
    expect(got.status).toBe(200);
    expect(sha(Buffer.from(await got.arrayBuffer()))).toBe(sha(data));
  });

  it('a quota raced by two clients on two nodes is never passed', async () => {
    const quota = 5 * 1024 * 1024;
    const { token } = await user('quin', { quotaBytes: quota });
    const size = 1024 * 1024 + 512 * 1024;
    // Eight files of 1.5 MiB, four through each node at once: three fit in 5 MiB.
    const results = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const node = i % 2 === 0 ? a : b;
        const body = randomBytes(size);
        const r = await api(node, `/api/v1/files/race-${i}.bin`, { method: 'PUT', token, body });
        return { status: r.status, code: r.status >= 400 ? await errorCode(r) : undefined };
      }),
    );
    const stored = results.filter((r) => r.status === 201);
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.length).toBeLessThanOrEqual(3);
    for (const r of results.filter((x) => x.status !== 201)) expect(r).toEqual({ status: 413, code: 'FERRY_ERR_QUOTA_EXCEEDED' });
    const me = await ok<{ usage: { bytes: number; files: number } }>(await api(b, '/api/v1/me', { token }), 200);
    expect(me.usage).toEqual({ bytes: stored.length * size, files: stored.length });
    expect(me.usage.bytes).toBeLessThanOrEqual(quota);
  }, 60_000);
});

describe('one thing asked of two nodes at once', () => {
  it('a session committed through both nodes at once is committed once', async () => {
    const { token } = await user('cid');
    const body = randomBytes(100_000);
    const chunks = [{ hash: sha(body), size: body.length }];
    const created = await ok<{ id: string }>(await api(a, '/api/v1/uploads', { method: 'POST', token, json: { path: '/once.bin', size: body.length, hash: fileHashOf(chunks), chunks } }), 201);
    expect((await api(b, `/api/v1/uploads/${created.id}/chunks/${chunks[0].hash}`, { method: 'PUT', token, body })).status).toBe(200);
    const answers = await Promise.all([a, b, a, b].map((n) => api(n, `/api/v1/uploads/${created.id}/commit`, { method: 'POST', token, json: {} })));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((x) => x === 200)).toHaveLength(1);
    for (const r of answers.filter((x) => x.status !== 200)) {
      expect(r.status).toBe(404);
      expect(await errorCode(r)).toBe('FERRY_ERR_UPLOAD_NOT_FOUND');
    }
    const got = await api(b, '/api/v1/files/once.bin', { token });
    expect(sha(Buffer.from(await got.arrayBuffer()))).toBe(sha(body));
    // One upload in the audit log (and so one webhook event), one reference to its chunk.
    const audit = await ok<{ entries: { event: string; path: string | null }[] }>(await api(a, '/api/v1/admin/audit?limit=10000'), 200);
    expect(audit.entries.filter((e) => e.event === 'file.upload' && e.path?.endsWith('/once.bin'))).toHaveLength(1);
    const db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
    try {
      expect((await db.query<{ refs: string }>('select refs from chunks where hash = $1', [chunks[0].hash])).rows.map((r) => Number(r.refs))).toEqual([1]);
    } finally {
      await db.end();
    }
  });

  it('a share link good for one download, asked of both nodes at once, serves it once', async () => {
    const { token } = await user('sal');
    const data = randomBytes(50_000);
    expect((await api(a, '/api/v1/files/once-shared.bin', { method: 'PUT', token, body: data })).status).toBe(201);
    const link = await ok<{ url: string }>(await api(a, '/api/v1/shares', { method: 'POST', token, json: { path: '/once-shared.bin', maxUses: 1 } }), 201);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => fetch(link.url.replace(a.url, (i % 2 ? b : a).url))));
    const statuses = await Promise.all(answers.map(async (r) => (await r.arrayBuffer(), r.status)));
    expect(statuses.filter((x) => x === 200)).toHaveLength(1);
    expect(statuses.filter((x) => x !== 200)).toEqual(Array(7).fill(410));
  });

  it('an upload link good for two files, sent six at once through both nodes, stores two', async () => {
    const { token } = await user('ula');
    await ok(await api(a, '/api/v1/mkdir/drop', { method: 'POST', token }), 201);
    const link = await ok<{ url: string }>(await api(a, '/api/v1/shares', { method: 'POST', token, json: { path: '/drop', kind: 'upload', maxUses: 2 } }), 201);
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => fetch(`${link.url.replace(a.url, (i % 2 ? b : a).url)}/f${i}.txt`, { method: 'PUT', body: `file ${i}` })));
    const statuses = await Promise.all(answers.map(async (r) => (await r.text(), r.status)));
    expect(statuses.filter((x) => x === 201)).toHaveLength(2);
    expect(statuses.filter((x) => x !== 201)).toEqual(Array(4).fill(410));
    const list = await ok<{ entries: { name: string }[] }>(await api(b, '/api/v1/list/drop', { token }), 200);
    expect(list.entries).toHaveLength(2);
  });

  it('a web session made on one node is refreshed on the other; one refresh token sent to both at once is honoured once', async () => {
    const { password } = await user('ria');
    const start = await ok<{ accessToken: string; refreshToken: string }>(
      await fetch(`${a.url}/api/v1/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ria', password }) }),
      201,
    );
    const refresh = (n: RunningServer, refreshToken: string) => fetch(`${n.url}/api/v1/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken }) });
    const next = await ok<{ accessToken: string; refreshToken: string }>(await refresh(b, start.refreshToken), 200);
    expect((await api(a, '/api/v1/me', { token: next.accessToken })).status).toBe(200);
    const both = await Promise.all([refresh(a, next.refreshToken), refresh(b, next.refreshToken)]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 401]);

    // The web app's way: the refresh token in its cookie, set by one node, sent to the other
    // (behind a balancer both are one origin; here each node's own).
    const web = await fetch(`${a.url}/api/v1/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json', origin: a.url }, body: JSON.stringify({ user: 'ria', password, cookie: true }) });
    expect(web.status).toBe(201);
    const cookie = web.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    expect(cookie).not.toBe('');
    const fromCookie = await fetch(`${b.url}/api/v1/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json', origin: b.url, cookie }, body: '{}' });
    expect(fromCookie.status, await fromCookie.clone().text()).toBe(200);
    const { accessToken } = (await fromCookie.json()) as { accessToken: string };
    expect((await api(a, '/api/v1/me', { token: accessToken })).status).toBe(200);
  });
});

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

describe('WebDAV locks on two nodes', () => {
  it('a lock taken through one node binds the other; UNLOCK through the other frees it', async () => {
    const { password } = await user('lou');
    const auth = basic('lou', password);
    expect((await dav(a.url, 'PUT', '/dav/doc.txt', { auth, body: 'v1' })).status).toBe(201);
    const lock = await dav(a.url, 'LOCK', '/dav/doc.txt', { auth, headers: { timeout: 'Second-600' }, body: lockBody('exclusive') });
    expect(lock.status).toBe(200);
    const held = String(lock.headers['lock-token']);
    expect((await dav(b.url, 'PUT', '/dav/doc.txt', { auth, body: 'v2' })).status).toBe(423);
    expect((await dav(b.url, 'DELETE', '/dav/doc.txt', { auth })).status).toBe(423);
    expect((await dav(b.url, 'LOCK', '/dav/doc.txt', { auth, body: lockBody('exclusive') })).status).toBe(423);
    expect((await dav(b.url, 'PUT', '/dav/doc.txt', { auth, body: 'v2', headers: { if: `(${held})` } })).status).toBe(204);
    expect((await dav(b.url, 'UNLOCK', '/dav/doc.txt', { auth, headers: { 'lock-token': held } })).status).toBe(204);
    expect((await dav(a.url, 'PUT', '/dav/doc.txt', { auth, body: 'v3' })).status).toBe(204);
    expect((await dav(b.url, 'GET', '/dav/doc.txt', { auth })).text).toBe('v3');
  });

  it('of exclusive locks asked of both nodes at once, one is granted', async () => {
    const { password } = await user('lex');
    const auth = basic('lex', password);
    expect((await dav(a.url, 'PUT', '/dav/contested.txt', { auth, body: 'x' })).status).toBe(201);
    for (const target of ['/dav/contested.txt', '/dav/']) {
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => dav((i % 2 ? b : a).url, 'LOCK', target, { auth, headers: { depth: '0' }, body: lockBody('exclusive') })));
      expect(answers.map((r) => r.status).sort(), target).toEqual([200, 423, 423, 423, 423, 423]);
    }
  });
});

describe('account changes through one node, on the other', () => {
  it("a password change ends the old password's web session and WebDAV logins on the other node at once", async () => {
    const { token, password } = await user('pam');
    const session = await ok<{ accessToken: string }>(
      await fetch(`${a.url}/api/v1/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'pam', password }) }),
      201,
    );
    expect((await api(b, '/api/v1/me', { token: session.accessToken })).status).toBe(200);
    expect((await dav(b.url, 'PROPFIND', '/dav/', { auth: basic('pam', password), headers: { depth: '0' } })).status).toBe(207);
    await ok(await api(a, '/api/v1/users/pam/password', { method: 'PUT', json: { password: 'pam-password-2' } }), 204);
    const after = await api(b, '/api/v1/me', { token: session.accessToken });
    expect(after.status).toBe(401);
    expect(await errorCode(after)).toBe('FERRY_ERR_AUTH_INVALID');
    expect((await dav(b.url, 'PROPFIND', '/dav/', { auth: basic('pam', password), headers: { depth: '0' } })).status).toBe(401);
    expect((await dav(b.url, 'PROPFIND', '/dav/', { auth: basic('pam', 'pam-password-2'), headers: { depth: '0' } })).status).toBe(207);
    // A named API token stays (README, "A password change").
    expect((await api(b, '/api/v1/me', { token })).status).toBe(200);
  });

  it('a user deleted through one node: their token and their WebDAV login are refused by the other', async () => {
    const { token, password } = await user('del');
    expect((await api(b, '/api/v1/list/', { token })).status).toBe(200);
    expect((await dav(b.url, 'PROPFIND', '/dav/', { auth: basic('del', password), headers: { depth: '0' } })).status).toBe(207);
    expect((await api(a, '/api/v1/users/del', { method: 'DELETE' })).status).toBe(204);
    const r = await api(b, '/api/v1/list/', { token });
    expect(r.status).toBe(401);
    expect(await errorCode(r)).toBe('FERRY_ERR_AUTH_INVALID');
    expect((await dav(b.url, 'PROPFIND', '/dav/', { auth: basic('del', password), headers: { depth: '0' } })).status).toBe(401);
  });

  it('an upload link revoked through one node is refused by the other, its visitors\' open sessions ended', async () => {
    const { token } = await user('upl');
    await ok(await api(a, '/api/v1/mkdir/inbox', { method: 'POST', token }), 201);
    const link = await ok<{ id: string; url: string }>(await api(a, '/api/v1/shares', { method: 'POST', token, json: { path: '/inbox', kind: 'upload' } }), 201);
    const onB = link.url.replace(a.url, b.url);
    const unlocked = await ok<{ token: string }>(await fetch(`${onB}/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 200);
    const chunks = [{ hash: sha(Buffer.from('dropped')), size: 7 }];
    const opened = await api(b, '/api/v1/uploads', { method: 'POST', token: unlocked.token, json: { path: '/late.bin', size: 7, hash: fileHashOf(chunks), chunks } });
    expect(opened.status).toBe(201);
    const { id } = (await opened.json()) as { id: string };
    expect((await fetch(`${onB}/first.txt`, { method: 'PUT', body: 'first' })).status).toBe(201);

    expect((await api(a, `/api/v1/shares/${link.id}`, { method: 'DELETE', token })).status).toBe(204);
    expect((await fetch(`${onB}/second.txt`, { method: 'PUT', body: 'second' })).status).toBe(410);
    const chunk = await api(b, `/api/v1/uploads/${id}/chunks/${chunks[0].hash}`, { method: 'PUT', token: unlocked.token, body: 'dropped' });
    expect(chunk.status).toBeGreaterThanOrEqual(400);
    expect(chunk.status).toBeLessThan(500);
    const list = await ok<{ entries: { name: string }[] }>(await api(b, '/api/v1/list/inbox', { token }), 200);
    expect(list.entries.map((e) => e.name)).toEqual(['first.txt']);
  });
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
    // Every delivery of the webhook done: no node sends a delivered one again.
    const log = async () => ok<{ status: string }[]>(await api(b, `/api/v1/admin/webhook-deliveries?webhook=${hook.id}&limit=1000`), 200);
    let rows = await log();
    for (let i = 0; i < 600 && rows.some((r) => r.status !== 'delivered'); i++) {
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
    const db = new pg.Client({ connectionString: dbUrl });
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
