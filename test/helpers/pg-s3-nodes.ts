/**
 * Several real `ferry serve` processes on one private PostgreSQL cluster and one s3rver
 * bucket (docs/cluster.md), for the tests that send each request to a chosen node, as a
 * round-robin balancer does to a client. One per test file: `startPgS3Nodes` in beforeAll,
 * `stop` in afterAll.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { startPostgres, type PostgresHandle } from './postgres.js';
import { startS3rver, type S3rverHandle } from './s3rver.js';
import { startServer, type RunningServer } from './server.js';

export interface PgS3Nodes {
  /** A temporary directory: the nodes' data directories are in it, and tests may put files there. */
  dir: string;
  dbUrl: string;
  adminToken: string;
  /** Starts one more node on the shared database and bucket (`name` is its data directory in `dir`). */
  startNode(name: string, extraArgs?: string[]): Promise<RunningServer>;
  /** fetch against `node`, with the admin token unless `token` says otherwise (null: none). */
  api(node: RunningServer, path: string, init?: { method?: string; json?: unknown; token?: string | null; body?: Buffer | string; headers?: Record<string, string> }): Promise<Response>;
  /** A user with a password (`NAME-password-1`) and a token of their own, made through `node`. */
  user(node: RunningServer, name: string, extra?: Record<string, unknown>): Promise<{ token: string; password: string }>;
  stop(): Promise<void>;
}

/** Expects `status` and returns the parsed JSON body (undefined when empty). */
export async function ok<T>(r: Response, status: number): Promise<T> {
  const text = await r.text();
  expect(r.status, text).toBe(status);
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function errorCode(r: Response): Promise<string | undefined> {
  return ((await r.json().catch(() => ({}))) as { error?: { code: string } }).error?.code;
}

export async function startPgS3Nodes(prefix: string): Promise<PgS3Nodes> {
  const dir = await mkdtemp(join(tmpdir(), `ferry-${prefix}-`));
  const adminToken = `${prefix}-admin-${randomBytes(16).toString('hex')}`;
  const sessionKey = randomBytes(32).toString('base64');
  const bucket = 'ferry-nodes';
  let postgres: PostgresHandle | undefined;
  let s3: S3rverHandle | undefined;
  const started: RunningServer[] = [];
  const stop = async () => {
    for (const n of started) await n.stop().catch(() => undefined);
    await s3?.stop();
    await postgres?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    postgres = await startPostgres();
    const dbUrl = await postgres.createDatabase(`ferry_${prefix.replace(/\W/g, '_')}`);
    s3 = await startS3rver([bucket]);
    const store = `s3:${bucket}/chunks?endpoint=${encodeURIComponent(s3.endpoint)}&accessKeyId=S3RVER&secretAccessKey=S3RVER&forcePathStyle=true`;
    const api: PgS3Nodes['api'] = (node, path, init = {}) => {
      const headers: Record<string, string> = { ...init.headers };
      const token = init.token === undefined ? adminToken : init.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (init.json !== undefined) headers['content-type'] = 'application/json';
      return fetch(node.url + path, { method: init.method ?? 'GET', headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
    };
    return {
      dir,
      dbUrl,
      adminToken,
      async startNode(name, extraArgs = []) {
        const node = await startServer({
          dataDir: join(dir, name),
          adminToken,
          env: { FERRY_SESSION_KEY: sessionKey, FERRY_LOG_LEVEL: 'warn' },
          extraArgs: ['--db', dbUrl, '--db-pool', '4', '--store', store, '--gc-interval', '0', '--no-fsync', ...extraArgs],
          timeoutMs: 60_000,
        });
        started.push(node);
        return node;
      },
      api,
      async user(node, name, extra = {}) {
        const password = `${name}-password-1`;
        await ok(await api(node, '/api/v1/users', { method: 'POST', json: { name, password, ...extra } }), 201);
        const { token } = await ok<{ token: string }>(await api(node, '/api/v1/tokens', { method: 'POST', json: { name: `${name} on the cluster`, user: name } }), 201);
        return { token, password };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
