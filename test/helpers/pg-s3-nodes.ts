/**
 * Several real `ferry serve` processes on one private PostgreSQL cluster and one s3rver
 * bucket (docs/cluster.md), for the tests that send each request to a chosen node, as a
 * round-robin balancer does to a client. One per test file: `startPgS3Nodes` in beforeAll,
 * `stop` in afterAll.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
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
  /** The shared bucket (its chunk store is under `chunks/`) and how to reach it with an S3 client. */
  bucket: string;
  s3: S3rverHandle['options'];
  /**
   * Starts one more node on the shared database and bucket (`name` is its data directory in
   * `dir`); `env` is added to its environment (a node on a clock of its own: {@link skewedClock});
   * `s3Endpoint` is where it reaches the bucket instead of s3rver itself (a proxy in front).
   */
  startNode(name: string, extraArgs?: string[], env?: Record<string, string>, options?: { s3Endpoint?: string }): Promise<RunningServer>;
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

/**
 * The environment that runs a node on a clock `offset` from the machine's (`'+2h'`, `'-30m'`):
 * libfaketime (Debian's `faketime`, in .ci/debian-packages) preloaded into the `ferry serve`
 * process itself, so that a kill reaches the node and not a wrapper. Its wall clock (Date.now,
 * the Date header of its answers) moves by `offset`; time still passes at the normal rate.
 */
export function skewedClock(offset: string): Record<string, string> {
  ensureFaketime();
  return { LD_PRELOAD: LIBFAKETIME, FAKETIME: offset };
}

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/** libfaketime from Debian's package, installed when missing (CI installs it: .ci/debian-packages). */
function ensureFaketime(): void {
  if (existsSync(LIBFAKETIME)) return;
  if (process.getuid?.() !== 0) throw new Error(`the clock tests need ${LIBFAKETIME} (apt-get install faketime) or root to install it`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'faketime'], { stdio: 'ignore', env });
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
    // Both at once (PostgreSQL's initdb and start take seconds); each kept for `stop` as soon
    // as it runs, so that one failing does not leave the other behind.
    const [pgStarted, s3Started] = await Promise.allSettled([startPostgres(), startS3rver([bucket])]);
    if (pgStarted.status === 'fulfilled') postgres = pgStarted.value;
    if (s3Started.status === 'fulfilled') s3 = s3Started.value;
    if (pgStarted.status === 'rejected') throw pgStarted.reason;
    if (s3Started.status === 'rejected') throw s3Started.reason;
    const pg = pgStarted.value;
    const bucketStore = s3Started.value;
    const dbUrl = await pg.createDatabase(`ferry_${prefix.replace(/\W/g, '_')}`);
    const storeAt = (endpoint: string): string => `s3:${bucket}/chunks?endpoint=${encodeURIComponent(endpoint)}&accessKeyId=S3RVER&secretAccessKey=S3RVER&forcePathStyle=true`;
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
      bucket,
      s3: bucketStore.options,
      async startNode(name, extraArgs = [], env = {}, options = {}) {
        const store = storeAt(options.s3Endpoint ?? bucketStore.endpoint);
        const node = await startServer({
          dataDir: join(dir, name),
          adminToken,
          env: { FERRY_SESSION_KEY: sessionKey, FERRY_LOG_LEVEL: 'warn', ...env },
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
