/**
 * Uploads, fronts and account changes on several nodes (docs/cluster.md), probed as an
 * operator and as an attacker would: real `ferry serve` processes on one private PostgreSQL
 * cluster and one s3rver bucket (test/helpers/pg-s3-nodes.ts), each request sent to a chosen
 * node, as a round-robin balancer does to a client.
 *
 * - `ferry put` and a tus upload cut off by a node killed with SIGKILL go on through another
 *   (`ferry admin gc` run through a third meanwhile, `ferry admin check --read-data` after);
 *   a tus PATCH sent to a second node while one to the first still runs is refused (423)
 *   rather than appended after it; chunk frames, commits and GC across nodes;
 * - one thing asked of two nodes at once is done once: a commit, a one-use share link, an
 *   upload link's last file, a refresh token, an exclusive WebDAV lock; a quota raced through
 *   two nodes is never passed;
 * - a WebDAV lock taken through one node binds the other;
 * - a password change, a user deleted, an upload link revoked through one node are refused by
 *   the other on the next request.
 *
 * Versions, sweeps, webhooks and a rolling upgrade: cluster-background.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { runFerry, spawnFerry } from '../helpers/cli.js';
import { basic, dav, lockBody } from '../helpers/dav.js';
import { errorCode, ok, startPgS3Nodes, type PgS3Nodes } from '../helpers/pg-s3-nodes.js';
import { readMetric, type RunningServer } from '../helpers/server.js';

const TUS = { 'tus-resumable': '1.0.0' };

let nodes: PgS3Nodes;
let a: RunningServer;
let b: RunningServer;

const sha = (x: Buffer): string => createHash('sha256').update(x).digest('hex');

beforeAll(async () => {
  nodes = await startPgS3Nodes('cluster-fronts');
  [a, b] = await Promise.all([startNode('a'), startNode('b')]);
}, 120_000);

afterAll(async () => nodes?.stop());

const api: PgS3Nodes['api'] = (...args) => nodes.api(...args);
/**
 * A node of the cluster. The tus claim (`tusClaim`) is 5 s rather than 15: a dead node's
 * claim is waited out below, and a PATCH that runs renews it every 1.7 s all the same.
 */
const startNode = (name: string, extra: string[] = []) => nodes.startNode(name, ['--tus-claim', '5s', ...extra]);
/** A user with a password and a token of their own, made through node `a`. */
const user = (name: string, extra: Record<string, unknown> = {}) => nodes.user(a, name, extra);

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

  it('ferry put cut off by a node killed with SIGKILL, run again through another node while GC runs on a third, sends only what was not stored; check finds nothing wrong', async () => {
    const { token } = await user('cli');
    const victim = await startNode('cli-victim');
    const data = randomBytes(16 * 1024 * 1024);
    const local = join(nodes.dir, 'cli.bin');
    await writeFile(local, data);
    const put = (node: RunningServer, extra: string[] = []) => ['put', local, '/cli.bin', '--server', node.url, '--token', token, ...extra];
    const first = spawnFerry(put(victim, ['--bwlimit', '2M']), { env: { HOME: join(nodes.dir, 'cli-home') } });
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
    // The operator collects garbage through one node while the upload resumes through the other.
    const admin = (node: RunningServer, args: string[]) => runFerry(['admin', ...args, '--json', '--server', node.url, '--token', nodes.adminToken], { env: { HOME: join(nodes.dir, 'cli-home') } });
    const [again, gc] = await Promise.all([runFerry(put(b), { env: { HOME: join(nodes.dir, 'cli-home') } }), admin(a, ['gc'])]);
    expect(gc.code, gc.stderr).toBe(0);
    expect(again.code, again.stderr).toBe(0);
    // What the dead node stored (three chunks or more) was not sent again.
    const manifest = await ok<{ chunks: { size: number }[] }>(await api(a, '/api/v1/manifests/cli.bin', { token }), 200);
    const smallestThree = manifest.chunks.map((c) => c.size).sort((x, y) => x - y).slice(0, 3).reduce((x, y) => x + y, 0);
    expect((await readMetric(b, 'ferry_chunk_body_bytes_received_total')) - before).toBeLessThanOrEqual(data.length - smallestThree);
    const got = await api(a, '/api/v1/files/cli.bin', { token });
    expect(sha(Buffer.from(await got.arrayBuffer()))).toBe(sha(data));
    // Every chunk a file needs is in the bucket and reads back whole, whatever the dead node left.
    const check = await admin(a, ['check', '--read-data']);
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, problems: [] });
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
    // The claim node `a` holds lapses the nodes' `tusClaim` (5 s) after its last renewal, on
    // the database's clock: not the 15 s of the default.
    const db = new pg.Client({ connectionString: nodes.dbUrl });
    await db.connect();
    try {
      const claim = await db.query<{ left: string }>('select expires_at - floor(extract(epoch from clock_timestamp()) * 1000) as left from leases where name = $1', [`tus:${url.split('/').pop()}`]);
      expect(claim.rows.map((r) => Number(r.left) <= 5000)).toEqual([true]);
    } finally {
      await db.end();
    }
    // tus-js-client, resuming through the second node, is refused (423) and retries; the first
    // PATCH then ends (its client is gone), what it stored stays, and the upload goes on from there.
    let refused = 0;
    let sawRefusal!: () => void;
    const refusal = new Promise<void>((r) => (sawRefusal = r));
    const done = new Promise<void>((resolve, reject) => {
      const up = new tus.Upload(data, {
        uploadUrl: b.url + url,
        headers: { authorization: `Bearer ${token}` },
        retryDelays: Array(600).fill(100),
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
  }, 90_000);

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
    const db = new pg.Client({ connectionString: nodes.dbUrl });
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

  it('a web session made on one node is refreshed on the other; one refresh token sent to both at once: one of the two new tokens stays good', async () => {
    const { password } = await user('ria');
    const start = await ok<{ accessToken: string; refreshToken: string }>(
      await fetch(`${a.url}/api/v1/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ria', password }) }),
      201,
    );
    const refresh = (n: RunningServer, refreshToken: string) => fetch(`${n.url}/api/v1/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken }) });
    const next = await ok<{ accessToken: string; refreshToken: string }>(await refresh(b, start.refreshToken), 200);
    expect((await api(a, '/api/v1/me', { token: next.accessToken })).status).toBe(200);
    // The second is within the grace of a token just replaced (a page reloaded before the
    // answer arrived): answered too, and the token the first got is void; one session either way.
    const both = await Promise.all([refresh(a, next.refreshToken), refresh(b, next.refreshToken)]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    const issued = await Promise.all(both.map(async (r) => ((await r.json()) as { refreshToken: string }).refreshToken));
    const statuses: number[] = [];
    for (const t of issued) statuses.push((await refresh(a, t)).status);
    expect(statuses.sort()).toEqual([200, 401]);

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

