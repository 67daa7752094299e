/**
 * The `ferry` backend type is in the composition root like every other type: it is listed by
 * `ferry remote types`, can be a named remote (`ferry remote add nas ferry …`) used by sync,
 * and can hold a server's chunks (`ferry serve --store ferry://…`). Real servers, real CLI.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { runFerry } from '../helpers/cli.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { FaultProxy } from '../helpers/fault-proxy.js';

describe('the ferry backend type, from the composition root', () => {
  let dir: string;
  let a: RunningServer;
  let client: FerryClient;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ferry-remote-ferry-'));
    a = await startServer({ dataDir: path.join(dir, 'a') });
    client = new FerryClient({ server: a.url, token: a.adminToken });
  });
  afterAll(async () => {
    await client?.close();
    await a?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const env = () => ({ FERRY_CONFIG_DIR: path.join(dir, 'conf') });

  it('ferry remote types lists ferry with its options', async () => {
    const r = await runFerry(['remote', 'types'], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ferry: a Ferry server/m);
    expect(r.stdout).toMatch(/^ {2}token \(string, secret\)/m);
  });

  it('ferry remote add nas ferry …: a named remote of a Ferry server, used by sync (token never echoed)', async () => {
    const added = await runFerry(['remote', 'add', 'nas', 'ferry', `server=${a.url}`, `token=${a.adminToken}`, 'path=/backup'], { env: env() });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).not.toContain(a.adminToken);
    const src = path.join(dir, 'photos');
    await mkdir(path.join(src, 'sub'), { recursive: true });
    await writeFile(path.join(src, 'a.txt'), 'alpha');
    await writeFile(path.join(src, 'sub', 'b.bin'), randomBytes(70_000));
    const synced = await runFerry(['sync', src, 'nas:photos', '--json'], { env: env() });
    expect(synced.code, synced.stderr).toBe(0);
    expect(JSON.parse(synced.stdout)).toMatchObject({ transferred: 2, errors: [] });
    const listed: string[] = [];
    for await (const e of client.list('/backup/photos', { recursive: true })) if (e.type === 'file') listed.push(e.path);
    expect(listed.sort()).toEqual(['/backup/photos/a.txt', '/backup/photos/sub/b.bin']);
  });

  it('sync, copy and check take --server and --token like every command that talks to a server (no saved login)', async () => {
    const src = path.join(dir, 'flagged');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'f.txt'), 'by flags');
    const bare = { FERRY_CONFIG_DIR: path.join(dir, 'no-login') };
    const without = await runFerry(['copy', src, 'ferry:/flagged'], { env: bare });
    expect(without.code).not.toBe(0);
    const copied = await runFerry(['copy', src, 'ferry:/flagged', '--server', a.url, '--token', a.adminToken, '--json'], { env: bare });
    expect(copied.code, copied.stderr).toBe(0);
    expect(JSON.parse(copied.stdout)).toMatchObject({ transferred: 1, errors: [] });
    expect((await client.stat('/flagged/f.txt')).size).toBe(8);
    const checked = await runFerry(['check', src, 'ferry:/flagged', '--server', a.url, '--token', a.adminToken], { env: bare });
    expect(checked.code, checked.stderr).toBe(0);
  });

  it('ferry serve --store ferry://HOST:PORT/chunks keeps a server’s chunks on another Ferry server', async () => {
    const host = new URL(a.url).host;
    const b = await startServer({ dataDir: path.join(dir, 'b'), extraArgs: ['--store', `ferry://${host}/chunks`], env: { FERRY_TOKEN: a.adminToken } });
    try {
      const data = randomBytes(300_000);
      const file = path.join(dir, 'up.bin');
      await writeFile(file, data);
      const bEnv = { FERRY_SERVER: b.url, FERRY_TOKEN: b.adminToken, FERRY_CONFIG_DIR: path.join(dir, 'conf-b') };
      const put = await runFerry(['put', '-q', file, '/up.bin'], { env: bEnv });
      expect(put.code, put.stderr + b.output()).toBe(0);
      // The chunk objects live on server A, under /chunks.
      let stored = 0;
      for await (const e of client.list('/chunks', { recursive: true })) if (e.type === 'file') stored += e.size;
      expect(stored).toBeGreaterThanOrEqual(data.length);
      const back = path.join(dir, 'back.bin');
      const got = await runFerry(['get', '-q', '/up.bin', back], { env: bEnv });
      expect(got.code, got.stderr).toBe(0);
      expect((await readFile(back)).equals(data)).toBe(true);
    } finally {
      await b.stop();
    }
  });

  it('--retries N means N tries again of a failing request on a ferry remote in copy: not the client\'s 8, not multiplied by call and file retries', async () => {
    const proxy = new FaultProxy(a.url);
    await proxy.start();
    try {
      const src = path.join(dir, 'retry-src');
      await mkdir(src, { recursive: true });
      await writeFile(path.join(src, 'f.bin'), randomBytes(300_000));
      const target = `ferry://${new URL(proxy.url).host}/retried`;
      const run = (retries: string) => runFerry(['copy', src, target, '--retries', retries], { env: { ...env(), FERRY_TOKEN: a.adminToken } });
      // A listing that always fails: tried 1 + 2 times, then the run fails.
      proxy.rules.push({ method: 'GET', path: /^\/api\/v1\/list\/retried/, status: 503, code: 'FERRY_ERR_UNAVAILABLE', times: 1000 });
      const listed = await run('2');
      expect(listed.code).not.toBe(0);
      expect(proxy.requests('GET', /^\/api\/v1\/list\/retried/)).toHaveLength(3);
      // A chunk upload that always fails: 1 + 1 PUTs, no whole-file retry on top.
      proxy.rules.length = 0;
      proxy.rules.push({ method: 'PUT', path: /^\/api\/v1\/uploads\/[^/]+\/chunks\//, status: 503, code: 'FERRY_ERR_UNAVAILABLE', times: 1000 });
      const put = await run('1');
      expect(put.code).not.toBe(0);
      expect(put.stderr).toContain('f.bin: injected by the fault proxy');
      expect(proxy.requests('PUT', /\/chunks\//)).toHaveLength(2);
      // And with the fault gone the same command succeeds.
      proxy.rules.length = 0;
      const ok = await run('1');
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      await proxy.stop();
    }
  });
});
