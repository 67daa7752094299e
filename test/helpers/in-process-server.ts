/**
 * A real Ferry server inside the test process, listening on 127.0.0.1 with a random port
 * and a temporary data directory; requests go over real HTTP. For protocol-level tests.
 * End-to-end tests that need a separate process (kill -9) spawn `bin/ferry.js serve`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { defaultConfig, type ServerConfig } from '../../src/server/config.js';
import { DEFAULT_DEFENDER } from '../../src/server/defender.js';
import { fileHashOf, type ChunkRef } from '../../src/core/manifest.js';

export interface TestServer {
  server: RunningServer;
  url: string;
  token: string;
  dataDir: string;
  /** fetch with the admin token against the server. */
  api(path: string, init?: RequestInit & { json?: unknown; token?: string | null }): Promise<Response>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

const silent = new Writable({ write: (_c, _e, cb) => cb() });

export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'ferry-test-'));
  const token = 'test-admin-' + randomBytes(16).toString('hex');
  // Cheap scrypt: tests hash passwords often; the production cost is measured, not tested here.
  // Suites send wrong tokens on purpose: loopback is on the defender's safe list unless a
  // suite (the defender's own) says otherwise.
  const config = defaultConfig({
    port: 0,
    dataDir,
    adminToken: token,
    logLevel: 'warn',
    logDestination: silent,
    gcIntervalMs: 0,
    ttlSweepIntervalMs: 0,
    scryptCost: { log2N: 10, r: 8, p: 1 },
    defender: { ...DEFAULT_DEFENDER, safeList: ['127.0.0.0/8', '::1'] },
    ...overrides,
  });
  // FERRY_TEST_POSTGRES=postgres://…/postgres runs a suite's servers on PostgreSQL (a new
  // database each), to look for dialect differences the conformance suite does not reach.
  const pgUrl = process.env.FERRY_TEST_POSTGRES;
  if (pgUrl && config.db === undefined) {
    config.db = await createPostgresDatabase(pgUrl);
    config.sessionKey ??= randomBytes(32);
  }
  const t: TestServer = {
    server: await startServer(config),
    url: '',
    token,
    dataDir,
    async api(path, init = {}) {
      const headers = new Headers(init.headers);
      const tk = init.token === undefined ? token : init.token;
      if (tk !== null) headers.set('authorization', `Bearer ${tk}`);
      let body = init.body;
      if (init.json !== undefined) {
        headers.set('content-type', 'application/json');
        body = JSON.stringify(init.json);
      }
      return fetch(t.url + path, { ...init, headers, body });
    },
    async restart() {
      // The same ports (the SFTP front's too): clients that reconnect (sshfs -o reconnect) find it again.
      const sftpPort = t.server.sftp?.port;
      await t.server.close();
      t.server = await startServer({ ...config, port: Number(new URL(t.url).port), ...(config.sftp && sftpPort ? { sftp: { ...config.sftp, port: sftpPort } } : {}) });
    },
    async close() {
      await t.server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  t.url = t.server.url;
  return t;
}

async function createPostgresDatabase(url: string): Promise<string> {
  const { default: pg } = await import('pg');
  const name = `ferry_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const u = new URL(url);
  u.pathname = '/' + name;
  return u.toString();
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Splits a buffer into fixed pieces and returns them with their refs (tests don't need CDC). */
export function pieces(buf: Buffer, size: number): { refs: ChunkRef[]; parts: Buffer[] } {
  const parts: Buffer[] = [];
  for (let o = 0; o < buf.length; o += size) parts.push(buf.subarray(o, Math.min(o + size, buf.length)));
  return { parts, refs: parts.map((p) => ({ hash: sha256(p), size: p.length })) };
}

/** The sum of a metric's samples in the server's `/metrics` (every label set), e.g. the chunk bytes received so far. */
export async function metricSum(t: TestServer, name: string): Promise<number> {
  const text = await (await t.api('/metrics')).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'))
    .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
}

/** Uploads `buf` to `path` through the protocol, as a client would (with the admin token unless told). */
export async function uploadBuffer(t: TestServer, path: string, buf: Buffer, pieceSize = 64 * 1024, options: { token?: string; ttlSeconds?: number } = {}): Promise<Response> {
  const { refs, parts } = pieces(buf, pieceSize);
  const token = options.token;
  const spec: Record<string, unknown> = { path, size: buf.length, hash: fileHashOf(refs), chunks: refs };
  if (options.ttlSeconds !== undefined) spec.ttlSeconds = options.ttlSeconds;
  const created = await t.api('/api/v1/uploads', { method: 'POST', json: spec, token });
  if (created.status !== 201) throw new Error(`create: ${created.status} ${await created.text()}`);
  const { id, missing } = (await created.json()) as { id: string; missing: string[] };
  const want = new Set(missing);
  for (let i = 0; i < parts.length; i++) {
    if (!want.has(refs[i].hash)) continue;
    want.delete(refs[i].hash);
    const r = await t.api(`/api/v1/uploads/${id}/chunks/${refs[i].hash}`, { method: 'PUT', body: parts[i], headers: { 'content-type': 'application/octet-stream' }, token });
    if (r.status !== 200) throw new Error(`put chunk: ${r.status} ${await r.text()}`);
  }
  return t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {}, token });
}

/** What `request` returns and the SQL statements the server ran meanwhile (SQLite: its statement cache sees every query). */
export async function statementsOf<T>(t: TestServer, request: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  const cache = t.server.ctx.meta.statements!;
  const prepare = cache.prepare;
  const statements: string[] = [];
  cache.prepare = (q: string) => {
    statements.push(q);
    return prepare.call(cache, q);
  };
  try {
    return { result: await request(), statements };
  } finally {
    cache.prepare = prepare;
  }
}
