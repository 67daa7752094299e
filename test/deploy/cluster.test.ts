/**
 * Ferry on several nodes (issue 17), all real: a private PostgreSQL cluster for metadata,
 * s3rver for chunks, three `ferry serve` processes sharing both, nginx balancing between
 * them. Twenty clients upload and download at once through nginx; one node is killed with
 * SIGKILL in the middle; garbage collection runs on two nodes at once, during the uploads
 * and after overwrites. Every upload must complete (resumed through the other nodes), every
 * download must be byte-identical, no chunk a committed file references may be missing from
 * the bucket, and the chunks of replaced content must be collected.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { fileHashOf } from '../../src/core/manifest.js';
import type { ManifestResponse } from '../../src/core/protocol.js';
import { startBalancer, type Balancer } from '../helpers/nginx-balancer.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const CLIENTS = 20;
const BUCKET = 'ferry-cluster';

let dir: string;
let postgres: PostgresHandle;
let dbUrl: string;
let s3: S3rverHandle;
let nodes: RunningServer[] = [];
let lb: Balancer;
const adminToken = `cluster-admin-${randomBytes(16).toString('hex')}`;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-cluster-'));
  // PostgreSQL and s3rver at once (initdb takes seconds); afterAll stops whichever started.
  const [pgStarted, s3Started] = await Promise.allSettled([startPostgres(), startS3rver([BUCKET])]);
  if (pgStarted.status === 'fulfilled') postgres = pgStarted.value;
  if (s3Started.status === 'fulfilled') s3 = s3Started.value;
  if (pgStarted.status === 'rejected') throw pgStarted.reason;
  if (s3Started.status === 'rejected') throw s3Started.reason;
  dbUrl = await postgres.createDatabase('ferry_cluster');
  const store = `s3:${BUCKET}/chunks?endpoint=${encodeURIComponent(s3.endpoint)}&accessKeyId=S3RVER&secretAccessKey=S3RVER&forcePathStyle=true`;
  const sessionKey = randomBytes(32).toString('base64');
  const start = (i: number) =>
    startServer({
      dataDir: join(dir, `node-${i}`),
      adminToken,
      env: { FERRY_SESSION_KEY: sessionKey, FERRY_LOG_LEVEL: 'warn' },
      extraArgs: ['--db', dbUrl, '--db-pool', '8', '--store', store, '--trust-proxy', '127.0.0.1', '--gc-interval', '0', '--no-fsync'],
      timeoutMs: 60_000,
    });
  // All three at once: the migrations run once, under the migrator's lock.
  nodes = await Promise.all([0, 1, 2].map(start));
  lb = await startBalancer(join(dir, 'nginx'), nodes.map((n) => n.url));
}, 180_000);

afterAll(async () => {
  await lb?.stop();
  for (const n of nodes) await n.stop().catch(() => undefined);
  await s3?.stop();
  await postgres?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The chunk objects and pack objects in the bucket. */
async function bucketObjects(): Promise<{ chunks: Set<string>; packs: Set<string> }> {
  const client = new S3Client({ ...s3.options, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const out = { chunks: new Set<string>(), packs: new Set<string>() };
  try {
    for (const kind of ['chunks', 'packs'] as const) {
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `chunks/${kind}/`, ContinuationToken: token }));
        for (const o of page.Contents ?? []) out[kind].add(o.Key!.split('/').pop()!);
        token = page.NextContinuationToken;
      } while (token);
    }
  } finally {
    client.destroy();
  }
  return out;
}

async function query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  try {
    return (await db.query<R>(text, values)).rows;
  } finally {
    await db.end();
  }
}

/** Every chunk a committed file references is in the bucket: its own object, or its pack. */
async function expectReferencedStored(objects: { chunks: Set<string>; packs: Set<string> }): Promise<void> {
  const referenced = await query<{ hash: string; pack: string | null }>('select hash, pack from chunks where refs > 0');
  expect(referenced.length).toBeGreaterThan(0);
  for (const r of referenced) {
    if (r.pack === null) expect(objects.chunks.has(r.hash), `chunk ${r.hash} of a committed file`).toBe(true);
    else expect(objects.packs.has(r.pack), `pack ${r.pack} of chunk ${r.hash}`).toBe(true);
  }
}

async function download(client: FerryClient, path: string): Promise<string> {
  const hash = createHash('sha256');
  await client.getStream(path, new Writable({ write: (c: Buffer, _e, cb) => (hash.update(c), cb()) }));
  return hash.digest('hex');
}

async function gcOn(node: RunningServer): Promise<{ chunks: number; packs: number }> {
  const r = await fetch(`${node.url}/api/v1/admin/gc`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ graceSeconds: 0 }) });
  expect(r.status, await r.clone().text()).toBe(200);
  return (await r.json()) as { chunks: number; packs: number };
}

/** putFile again after a failure that outlived the client's own retries (a commit sent to the node that died). */
async function putWithResume(client: FerryClient, local: string, remote: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.putFile(local, remote);
      return attempt;
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}

describe('three nodes behind nginx on PostgreSQL and S3', () => {
  it('serves 20 clients through a node killed with SIGKILL, with GC on two nodes at once', async () => {
    const files = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const data = randomBytes((1 + (i % 3)) * 1024 * 1024 + i * 1000);
        const local = join(dir, `file-${i}.bin`);
        await writeFile(local, data);
        return { local, remote: `/clients/${i}/data.bin`, hash: sha(data) };
      }),
    );
    const clients = files.map(() => new FerryClient({ server: lb.url, token: adminToken, parallel: 4, bwlimit: 4 * 1024 * 1024 }));
    let finished = 0;
    let killed = false;
    let afterKill = 0;
    const gcRuns: Promise<unknown>[] = [];
    const victim = nodes[1];
    const survivors = [nodes[0], nodes[2]];
    const attempts = await Promise.all(
      files.map(async (f, i) => {
        const tries = await putWithResume(clients[i], f.local, f.remote);
        finished++;
        if (killed) afterKill++;
        if (!killed) {
          // The first upload is done, nineteen are under way: one node dies now.
          killed = true;
          await victim.kill();
        }
        // Collections on two nodes at once while the others upload.
        if (finished % 5 === 0) gcRuns.push(Promise.all(survivors.map(gcOn)));
        expect(await download(clients[i], f.remote)).toBe(f.hash);
        // And another client's file, if it is there yet, from whichever node nginx picks.
        const other = files[(i + 1) % CLIENTS];
        const got = await download(clients[i], other.remote).catch(() => undefined);
        if (got !== undefined) expect(got).toBe(other.hash);
        return tries;
      }),
    );
    await Promise.all(gcRuns);
    expect(killed).toBe(true);
    expect(victim.process.signalCode).toBe('SIGKILL');
    expect(attempts).toHaveLength(CLIENTS);
    expect(afterKill).toBe(CLIENTS - 1); // in flight when the node died, finished through the others

    // Every file, through nginx (the dead node is skipped), byte for byte.
    for (const f of files) expect(await download(clients[0], f.remote)).toBe(f.hash);
    await expectReferencedStored(await bucketObjects());

    // Replace five files: their old chunks become garbage, and two nodes collect at once.
    const replaced = files.slice(0, 5);
    const oldChunks: string[] = [];
    for (const f of replaced) {
      const m = (await (await fetch(`${lb.url}/api/v1/manifests${f.remote}`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as ManifestResponse;
      oldChunks.push(...m.chunks.map((c) => c.hash));
      const data = randomBytes(1024 * 1024 + 17);
      await writeFile(f.local, data);
      f.hash = sha(data);
      await putWithResume(clients[0], f.local, f.remote);
    }
    const [a, b] = await Promise.all(survivors.map(gcOn));
    // Each old chunk is gone from the index and its object (or its pack) from the bucket,
    // unless an upload session still names it (one the dead node was serving, say).
    const left = await query<{ hash: string; pack: string | null; pending: boolean }>(
      'select c.hash, c.pack, exists (select 1 from upload_entries e where e.hash = c.hash) as pending from chunks c where c.hash = any($1)',
      [oldChunks],
    );
    expect(left.filter((r) => !r.pending)).toEqual([]);
    expect(a.chunks + a.packs + b.chunks + b.packs).toBeGreaterThan(0);
    const pending = new Set(left.map((r) => r.hash));
    const afterGc = await bucketObjects();
    for (const h of oldChunks) if (!pending.has(h)) expect(afterGc.chunks.has(h), `old chunk ${h}`).toBe(false);
    await expectReferencedStored(afterGc);
    for (const f of files) expect(await download(clients[1], f.remote)).toBe(f.hash);
  }, 600_000);

  it('revokes a token and limits upload sessions on every node at once', async () => {
    const live = [nodes[0], nodes[2]];
    const api = (node: RunningServer, path: string, init: { method?: string; json?: unknown; token?: string } = {}) =>
      fetch(node.url + path, {
        method: init.method ?? 'GET',
        headers: { authorization: `Bearer ${init.token ?? adminToken}`, ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: init.json === undefined ? undefined : JSON.stringify(init.json),
      });
    expect((await api(live[0], '/api/v1/users', { method: 'POST', json: { name: 'nia', home: '/home/nia', maxSessions: 3 } })).status).toBe(201);
    const made = await api(live[0], '/api/v1/tokens', { method: 'POST', json: { name: 'nia on the cluster', user: 'nia' } });
    expect(made.status).toBe(201);
    const { id, token } = (await made.json()) as { id: string; token: string };
    expect((await api(live[1], '/api/v1/list/', { token })).status).toBe(200);

    // Eight sessions asked of two nodes at once, for a user allowed three: exactly three.
    const spec = (i: number) => {
      const chunks = [{ hash: sha(Buffer.from(`c${i}`)), size: 2 }];
      return { path: `/s${i}`, size: 2, hash: fileHashOf(chunks), chunks };
    };
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => api(live[i % 2], '/api/v1/uploads', { method: 'POST', json: spec(i), token })));
    expect(answers.filter((r) => r.status === 201)).toHaveLength(3);
    for (const r of answers.filter((x) => x.status !== 201)) expect(((await r.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_QUOTA_EXCEEDED');

    // Revoked through one node, refused by the other on the next request.
    expect((await api(live[0], `/api/v1/tokens/${id}`, { method: 'DELETE' })).status).toBe(200);
    const after = await api(live[1], '/api/v1/list/', { token });
    expect(after.status).toBe(401);
  });
});
