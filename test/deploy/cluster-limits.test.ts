/**
 * What limits abuse on several nodes (issue 17; docs/cluster.md, "Rate limits and the
 * defender"): two nodes on one real PostgreSQL database, behind a proxy they trust
 * (`--trust-proxy 127.0.0.1`, the address nginx connects from in the cluster test), each
 * request naming its client in X-Forwarded-For as nginx does.
 *
 * - a defender ban made by one node refuses the address on the other (shared through the
 *   database), and an admin's unban through either node lifts it on both; failures are
 *   scored over both nodes (one on each reaches a threshold worth two failures);
 * - request rate limits are per node: a client over its budget on one node is still served
 *   by the other, as the documentation says;
 * - a node refuses to start without the shared session key, is not ready while its database
 *   does not answer, and leaves backups to pg_dump;
 * - what the README says holds "on every node at once" besides tokens (the cluster test's):
 *   a user disabled, a share link's last download and its revocation, and a web session
 *   (signed with the shared session key) made on one node and used on the other;
 * - SFTP on two nodes (docs/cluster.md, "What the nodes share"): with the first node's
 *   DATA/ssh copied to the second, both show the same host keys, and a put cut off on one is
 *   finished by reput on the other.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEFENDER } from '../../src/server/defender.js';
import { parseStoreSpec } from '../../src/server/config.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { writeRandomFile } from '../helpers/files.js';
import { newKey, sftpBatch, spawnSftp, startSftpServer, type SftpServer } from '../helpers/sftp.js';
import { share } from '../helpers/users.js';

const BAD = `Bearer ferry_${'0'.repeat(16)}_${'A'.repeat(43)}`;
const adminToken = `limits-admin-${randomBytes(16).toString('hex')}`;

let postgres: PostgresHandle;
let nodes: TestServer[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
  const db = await postgres.createDatabase();
  const sessionKey = randomBytes(32);
  const start = () =>
    startTestServer({
      db,
      sessionKey,
      adminToken,
      trustProxy: ['127.0.0.1/32'],
      defender: { ...DEFAULT_DEFENDER, threshold: 4, safeList: [] },
      rateLimit: { windowMs: 600_000, perIp: 30, perToken: 0, authPerIp: 0 },
    });
  nodes = await Promise.all([start(), start()]);
}, 120_000);

afterAll(async () => {
  for (const n of nodes) await n.close().catch(() => undefined);
  await postgres?.stop();
});

/** A request to `node` from `client` (through the trusted proxy); returns the status and error code. */
async function ask(node: TestServer, client: string, path: string, authorization?: string): Promise<{ status: number; code?: string }> {
  const headers: Record<string, string> = { 'x-forwarded-for': client };
  if (authorization) headers.authorization = authorization;
  const r = await node.api(path, { token: null, headers });
  const body = (await r.json().catch(() => ({}))) as { error?: { code: string } };
  return { status: r.status, code: body.error?.code };
}

type Answer = { status: number; code?: string };

/**
 * Asks until `done` holds (bans travel between nodes every 2 s; at most 60 s) and returns
 * every answer: the last one is what counts, the others show what came before.
 */
async function until(fn: () => Promise<Answer>, done: (r: Answer) => boolean): Promise<Answer[]> {
  const answers = [await fn()];
  while (!done(answers.at(-1)!) && answers.length < 120) {
    await new Promise((r) => setTimeout(r, 500));
    answers.push(await fn());
  }
  return answers;
}

describe('abuse limits on two nodes', () => {
  it('a ban made on one node refuses the address on the other; an unban on either lifts it on both', async () => {
    const [a, b] = nodes;
    const client = '203.0.113.21';
    expect(await ask(b, client, '/healthz')).toEqual({ status: 200, code: undefined });
    // Threshold 4, an unknown token scores 2: the second failure bans.
    expect((await ask(a, client, '/api/v1/me', BAD)).status).toBe(401);
    expect((await ask(a, client, '/api/v1/me', BAD)).status).toBe(401);
    expect(await ask(a, client, '/healthz')).toMatchObject({ status: 403, code: 'FERRY_ERR_BANNED' });
    const onB = await until(() => ask(b, client, '/healthz'), (r) => r.status === 403);
    expect(onB.at(-1)).toMatchObject({ status: 403, code: 'FERRY_ERR_BANNED' });
    // The second node saw no failure of this client (nor a rate limit): the ban is the first node's.
    expect(onB.slice(0, -1).every((r) => r.status === 200)).toBe(true);
    expect(b.server.ctx.defender.bans().map((x) => x.ip)).toContain(client);
    // Other clients of the proxy, and the proxy itself, are served.
    expect((await ask(b, '203.0.113.22', '/healthz')).status).toBe(200);

    const unban = await b.api(`/api/v1/admin/bans/${client}`, { method: 'DELETE', token: adminToken });
    expect(unban.status).toBe(204);
    expect((await ask(b, client, '/healthz')).status).toBe(200);
    expect((await until(() => ask(a, client, '/healthz'), (r) => r.status === 200)).at(-1)).toEqual({ status: 200, code: undefined });
  });

  it('scores failures over both nodes: guesses spread over them are banned at the threshold, not at twice it', async () => {
    const [a, b] = nodes;
    const client = '203.0.113.41';
    // Threshold 4, an unknown token scores 2: one failure on each node makes 4. Scored per
    // node, as before, neither node had reached it (each node allowed its own 4).
    expect((await ask(a, client, '/api/v1/me', BAD)).status).toBe(401);
    expect((await ask(b, client, '/api/v1/me', BAD)).status).toBe(401);
    expect(await ask(b, client, '/healthz')).toMatchObject({ status: 403, code: 'FERRY_ERR_BANNED' });
    const rows = await b.server.ctx.meta.db.selectFrom('defender_failures').select(['ip', 'score']).where('ip', '=', client).execute();
    expect(rows.map((r) => Number(r.score))).toEqual([2, 2]);
    // The first node adopts the recorded ban at the address's next failure there (refused
    // already if its read of the bans, every 2 s, came first), without waiting for that read.
    expect([401, 403]).toContain((await ask(a, client, '/api/v1/me', BAD)).status);
    expect(await ask(a, client, '/healthz')).toMatchObject({ status: 403, code: 'FERRY_ERR_BANNED' });
    // Another address of the same proxy has a score of its own.
    expect((await ask(a, '203.0.113.42', '/api/v1/me', BAD)).status).toBe(401);
    expect((await ask(a, '203.0.113.42', '/healthz')).status).toBe(200);
    expect(await b.api(`/api/v1/admin/bans/${client}`, { method: 'DELETE', token: adminToken })).toMatchObject({ status: 204 });
  });

  it('counts request rates per node: a client over its budget on one node is served by the other', async () => {
    const [a, b] = nodes;
    const client = '198.51.100.31';
    const statuses: number[] = [];
    // Capabilities, not /healthz: health checks are not counted against the rate limit.
    const route = '/api/v1/capabilities';
    for (let i = 0; i < 31; i++) statuses.push((await ask(a, client, route)).status);
    expect(statuses).toEqual([...Array(30).fill(200), 429]);
    expect((await ask(b, client, route)).status).toBe(200);
    expect((await ask(a, client, '/healthz')).status).toBe(200);
    // Another client of the same proxy still has its own budget on the first node.
    expect((await ask(a, '198.51.100.32', route)).status).toBe(200);
  });
});

describe('a node on PostgreSQL', () => {
  it('refuses to start without the shared session key, and names it', async () => {
    const db = await postgres.createDatabase();
    const saved = process.env.FERRY_SESSION_KEY;
    delete process.env.FERRY_SESSION_KEY;
    try {
      await expect(startTestServer({ db })).rejects.toThrow(/FERRY_SESSION_KEY/);
    } finally {
      if (saved !== undefined) process.env.FERRY_SESSION_KEY = saved;
    }
  });

  it('is not ready while its database does not answer, and says so (/healthz still answers)', async () => {
    const own = await startPostgres();
    let clock = Date.now();
    const node = await startTestServer({ db: await own.createDatabase(), sessionKey: randomBytes(32), now: () => clock });
    try {
      expect((await fetch(`${node.url}/readyz`)).status).toBe(200);
      await own.stop();
      // The answer above stands for a second of the server's clock: the next one probes again.
      clock += 1000;
      const r = await fetch(`${node.url}/readyz`);
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      // The probe's error (a host, a port) goes to the log, not to this public route.
      expect(await r.json()).toEqual({ error: { code: 'FERRY_ERR_UNAVAILABLE', message: 'the metadata database does not answer' } });
      expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
    } finally {
      await node.close().catch(() => undefined);
      await own.stop().catch(() => undefined);
    }
  });

  it('leaves metadata backups to pg_dump: ferry admin backup is refused, and writes nothing', async () => {
    const target = mkdtempSync(join(tmpdir(), 'ferry-pg-backup-'));
    try {
      const r = await nodes[0].api('/api/v1/admin/backup', { method: 'POST', token: adminToken, json: { dir: target } });
      expect(r.status).toBeGreaterThanOrEqual(400);
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(body.error).toMatchObject({ code: 'FERRY_ERR_UNSUPPORTED', message: expect.stringContaining('pg_dump') });
      expect(readdirSync(target)).toEqual([]);
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  });
});

describe('accounts, share links and web sessions on two nodes', () => {
  let pair: TestServer[] = [];
  const store = mkdtempSync(join(tmpdir(), 'ferry-pair-store-'));
  beforeAll(async () => {
    const db = await postgres.createDatabase();
    const sessionKey = randomBytes(32);
    // Two nodes on one database and one chunk store (a directory here; S3 in the cluster test).
    const start = () => startTestServer({ db, sessionKey, adminToken, store: [parseStoreSpec(store)] });
    pair = await Promise.all([start(), start()]);
  }, 120_000);
  afterAll(async () => {
    for (const n of pair) await n.close().catch(() => undefined);
    rmSync(store, { recursive: true, force: true });
  });

  it('a user disabled, a link used up or revoked through one node is refused by the other at once', async () => {
    const [a, b] = pair;
    expect((await a.api('/api/v1/users', { method: 'POST', token: adminToken, json: { name: 'uma', password: 'uma-password-1' } })).status).toBe(201);
    const made = await a.api('/api/v1/tokens', { method: 'POST', token: adminToken, json: { name: 'uma on two nodes', user: 'uma' } });
    expect(made.status).toBe(201);
    const { token } = (await made.json()) as { token: string };
    const data = randomBytes(200_000);
    expect((await uploadBuffer(a, '/report.bin', data, 64 * 1024, { token })).status).toBe(200);

    // A link good for one download: used on one node, gone on the other.
    const once = await share(b, token, { path: '/report.bin', maxUses: 1 });
    const onA = await fetch(once.url.replace(b.url, a.url));
    expect(onA.status).toBe(200);
    expect(Buffer.from(await onA.arrayBuffer()).equals(data)).toBe(true);
    expect((await fetch(once.url)).status).toBe(410);
    // A link revoked through one node.
    const link = await share(a, token, { path: '/report.bin' });
    expect((await fetch(link.url.replace(a.url, b.url))).status).toBe(200);
    expect((await a.api(`/api/v1/shares/${link.id}`, { method: 'DELETE', token })).status).toBe(204);
    expect((await fetch(link.url.replace(a.url, b.url))).status).toBe(410);

    // A web session signed by one node is accepted by the other.
    const session = await fetch(`${a.url}/api/v1/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'uma', password: 'uma-password-1' }) });
    expect(session.status).toBe(201);
    const { accessToken } = (await session.json()) as { accessToken: string };
    expect((await b.api('/api/v1/me', { token: accessToken })).status).toBe(200);

    // Disabled through one node: its token and its web session stop on the other.
    expect((await b.api('/api/v1/list/', { token })).status).toBe(200);
    expect((await a.api('/api/v1/users/uma', { method: 'PATCH', token: adminToken, json: { disabled: true } })).status).toBe(200);
    for (const credential of [token, accessToken]) {
      const r = await b.api('/api/v1/list/', { token: credential });
      expect(r.status).toBe(401);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_AUTH_INVALID');
    }
  });
});

describe('SFTP on two nodes', () => {
  let sftpNodes: SftpServer[] = [];
  const store = mkdtempSync(join(tmpdir(), 'ferry-sftp-pair-store-'));
  afterAll(async () => {
    for (const n of sftpNodes) await n.close().catch(() => undefined);
    rmSync(store, { recursive: true, force: true });
  });

  it("with the first node's DATA/ssh copied, both show the same host keys, and reput on one finishes a put cut off on the other", async () => {
    const db = await postgres.createDatabase();
    // Chunks of 256 KiB on average (the default is 1 MiB): the partial upload shows once 16
    // chunks are stored (src/server/ingest.ts, APPEND_EVERY), after some 4 to 7 MiB instead of
    // 18, so that the put is cut off seconds sooner. Chunk sizes are not what this test is about.
    const chunking = { algorithm: 'fastcdc-v1', minSize: 64 * 1024, avgSize: 256 * 1024, maxSize: 1024 * 1024, normalization: 0 } as const;
    const shared = { db, sessionKey: randomBytes(32), adminToken, store: [parseStoreSpec(store)], chunking };
    const a = await startSftpServer(shared);
    sftpNodes.push(a);
    const second = mkdtempSync(join(tmpdir(), 'ferry-sftp-second-'));
    cpSync(join(a.t.dataDir, 'ssh'), join(second, 'ssh'), { recursive: true });
    const b = await startSftpServer({ ...shared, dataDir: second });
    sftpNodes.push(b);
    const fingerprints = (n: SftpServer) => n.t.server.sftp!.hostKeys.map((k) => k.publicKey).sort();
    expect(fingerprints(b)).toEqual(fingerprints(a));

    expect((await a.t.api('/api/v1/users', { method: 'POST', token: adminToken, json: { name: 'sia' } })).status).toBe(201);
    const sia = { name: 'sia', ...(await newKey(a, 'sia')) };
    expect((await b.t.api('/api/v1/users/sia/keys', { method: 'POST', token: adminToken, json: { keys: sia.publicKey } })).status).toBe(201);
    const size = 32 * 1024 * 1024;
    await writeRandomFile(join(a.dir, 'cut.bin'), size);
    // Cut off on the first node once part of it is stored. The partial shows in the database
    // only after 16 chunks (18 MiB of 32 in one run here with 1 MiB chunks; 6.4 with these),
    // so 16 Mbit/s (17 s for the whole file) leaves it time to show on a loaded machine
    // before the put could finish.
    const child = spawnSftp(a, sia, ['put cut.bin cut.bin'], ['-l', '16000'], a.dir);
    const exited = new Promise((resolve) => child.once('close', resolve));
    const user = (await a.t.server.ctx.users.userByName('sia'))!;
    let partial = await a.t.server.ctx.meta.findPartial(user.id, '/users/sia/cut.bin');
    while (!partial || partial.size === 0) {
      expect(child.exitCode, 'sftp ended before it was cut off').toBeNull();
      await new Promise((r) => setTimeout(r, 100));
      partial = await a.t.server.ctx.meta.findPartial(user.id, '/users/sia/cut.bin');
    }
    child.kill('SIGKILL');
    await exited;
    // The second node's known_hosts holds its own keys (the same), checked strictly.
    const r = await sftpBatch(b, sia, ['reput cut.bin cut.bin'], [], a.dir);
    expect(r.code, r.stderr).toBe(0);
    const got = await b.t.api('/api/v1/files/users/sia/cut.bin', { token: adminToken });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(await readFile(join(a.dir, 'cut.bin')))).toBe(true);
  }, 180_000);
});
