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
});
