/**
 * PostgreSQL going away under a running `ferry serve` (a restart, a stop of some seconds):
 * requests meanwhile fail with 503 FERRY_ERR_UNAVAILABLE, never a 500 or a hang; `/readyz`
 * says so, `/healthz` stays 200; the server does not exit, and once the database is back the
 * next requests work (the pool reconnects), an upload cut by the outage resumes. A database
 * that hangs (every process of it stopped: a frozen host) fails requests after
 * `--db-query-timeout`, not never.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, spawnFerry } from '../helpers/cli.js';
import { seededBytes, sha256File } from '../helpers/files.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startServer, type RunningServer } from '../helpers/server.js';

let pg: PostgresHandle;
let node: RunningServer;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-pg-outage-'));
  pg = await startPostgres();
  const db = await pg.createDatabase();
  node = await startServer({ dataDir: join(dir, 'data'), extraArgs: ['--db', db, '--db-query-timeout', '5s'], env: { FERRY_SESSION_KEY: randomBytes(32).toString('base64') } });
  env = { FERRY_CONFIG: join(dir, 'config.json'), HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg'), FERRY_SERVER: node.url, FERRY_TOKEN: node.adminToken };
});
afterAll(async () => {
  await node?.stop();
  await pg?.stop();
  await rm(dir, { recursive: true, force: true });
});

const ferry = (args: string[]) => runFerry(args, { env, timeoutMs: 90_000 });
const api = (path: string, init: RequestInit = {}) =>
  fetch(`${node.url}${path}`, { ...init, headers: { authorization: `Bearer ${node.adminToken}`, ...init.headers }, signal: AbortSignal.timeout(60_000) });

describe('PostgreSQL restarts under ferry serve', () => {
  it('a fast restart while idle: the next requests work, no restart of Ferry', async () => {
    await writeFile(join(dir, 'a.txt'), 'before the restart');
    expect((await ferry(['put', '-q', join(dir, 'a.txt'), '/a.txt'])).code).toBe(0);
    await pg.restart();
    const after = await ferry(['cat', '/a.txt']);
    expect([after.code, after.stdout, after.stderr]).toEqual([0, 'before the restart', '']);
    expect((await ferry(['put', '-q', join(dir, 'a.txt'), '/b.txt'])).code).toBe(0);
    expect(node.process.exitCode).toBeNull();
  });

  it('stopped: 503 FERRY_ERR_UNAVAILABLE naming the database, /readyz 503, /healthz 200; back: everything works', async () => {
    await pg.shutdown();
    try {
      const r = await api('/api/v1/files/a.txt');
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect([r.status, body.error.code]).toEqual([503, 'FERRY_ERR_UNAVAILABLE']);
      expect(body.error.message).toMatch(/database/);
      expect(r.headers.get('retry-after')).not.toBeNull();
      const ready = await api('/readyz');
      expect(ready.status).toBe(503);
      expect((await api('/healthz')).status).toBe(200);
      const cli = await ferry(['ls', '--retries', '0', '/']);
      expect(cli.code).not.toBe(0);
      expect(cli.stderr).toMatch(/database/);
    } finally {
      await pg.start();
    }
    const after = await ferry(['cat', '/a.txt']);
    expect([after.code, after.stdout]).toEqual([0, 'before the restart']);
    // A /readyz answer stands for a second (README, "Limits"): the next probe after that says ready.
    await expect.poll(async () => (await api('/readyz')).status, { timeout: 30_000, interval: 250 }).toBe(200);
    expect(node.process.exitCode).toBeNull();
  });

  it('a restart while an upload and a download run: both finish whole (a request the restart cuts is retried on the 503)', async () => {
    const big = join(dir, 'big.bin');
    await writeFile(big, seededBytes('pg-outage', 48 * 1024 * 1024));
    expect((await ferry(['put', '-q', big, '/before.bin'])).code).toBe(0);
    const exit = (child: ReturnType<typeof spawnFerry>) => new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const errors: string[] = [];
    const put = spawnFerry(['put', '-q', big, '/during.bin'], { env });
    const get = spawnFerry(['get', '-q', '/before.bin', join(dir, 'back.bin')], { env });
    for (const c of [put, get]) c.stderr!.on('data', (d: Buffer) => errors.push(d.toString()));
    const [putCode, getCode] = await Promise.all([exit(put), exit(get), pg.restart()]);
    expect([putCode, getCode, errors.join('')]).toEqual([0, 0, '']);
    expect(await sha256File(join(dir, 'back.bin'))).toBe(await sha256File(big));
    expect((await ferry(['get', '-q', '/during.bin', join(dir, 'during.bin')])).code).toBe(0);
    expect(await sha256File(join(dir, 'during.bin'))).toBe(await sha256File(big));
    expect(node.process.exitCode).toBeNull();
  });

  it('stopped for 10 s while an upload runs: the upload waits it out (retries on the 503) and the file is whole', async () => {
    const big = join(dir, 'big.bin');
    const errors: string[] = [];
    const refusals = () => node.output().split('the metadata database does not answer').length;
    const before = refusals();
    const put = spawnFerry(['put', '-q', big, '/outage.bin'], { env });
    put.stderr!.on('data', (d: Buffer) => errors.push(d.toString()));
    const exited = new Promise<number | null>((resolve) => put.once('close', (code) => resolve(code)));
    await pg.shutdown();
    await new Promise((r) => setTimeout(r, 10_000));
    await pg.start();
    expect([await exited, errors.join('')]).toEqual([0, '']);
    // The upload met the outage: the server turned some of its requests away (its log says so).
    expect(refusals()).toBeGreaterThan(before);
    expect((await ferry(['get', '-q', '/outage.bin', join(dir, 'outage.bin')])).code).toBe(0);
    expect(await sha256File(join(dir, 'outage.bin'))).toBe(await sha256File(big));
    expect(node.process.exitCode).toBeNull();
  });

  it('frozen (every process of it stopped): requests fail with 503 after --db-query-timeout instead of hanging; thawed: everything works', async () => {
    await writeFile(join(dir, 'f.txt'), 'before the freeze');
    expect((await ferry(['put', '-q', join(dir, 'f.txt'), '/f.txt'])).code).toBe(0);
    await pg.pause();
    try {
      // A query on a pooled connection (the file's metadata), and another meanwhile: each ends.
      const [a, b] = await Promise.all([api('/api/v1/stat/f.txt'), api('/api/v1/list/')]);
      for (const r of [a, b]) {
        const body = (await r.json()) as { error: { code: string; message: string } };
        expect([r.status, body.error.code]).toEqual([503, 'FERRY_ERR_UNAVAILABLE']);
        expect(body.error.message).toMatch(/database/);
      }
      expect((await api('/healthz')).status).toBe(200);
      // The log says what the driver saw (a warning, not the client's answer).
      expect(node.output()).toContain('"cause":"Query read timeout"');
    } finally {
      await pg.resume();
    }
    // The connections the timed-out queries held were dropped: the next requests run on good ones.
    for (let i = 0; i < 3; i++) {
      const after = await ferry(['cat', '/f.txt']);
      expect([after.code, after.stdout]).toEqual([0, 'before the freeze']);
    }
    expect((await ferry(['put', '-q', join(dir, 'f.txt'), '/g.txt'])).code).toBe(0);
    expect(node.process.exitCode).toBeNull();
  });
});
