/**
 * An aborted getTree against a real server (in this process, over HTTP): it rejects with
 * FERRY_ERR_ABORTED, and every file left under its final name is whole (what was not
 * finished stays a `.ferry-part`, to resume from).
 */
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { isFerryError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

let server: TestServer;
let client: FerryClient;
let tmp: { path: string; cleanup: () => Promise<void> };
const files = new Map<string, Buffer>();

beforeAll(async () => {
  server = await startTestServer();
  client = new FerryClient({ server: server.url, token: server.token });
  tmp = await tempDir();
  await mkdir(join(tmp.path, 'src'));
  for (let i = 0; i < 40; i++) {
    const data = randomBytes(i % 4 === 0 ? 3 * 1024 * 1024 : 20_000);
    files.set(`f${i}.bin`, data);
    await writeFile(join(tmp.path, 'src', `f${i}.bin`), data);
  }
  await client.putTree(join(tmp.path, 'src'), '/tree');
});
afterAll(async () => {
  await client?.close();
  await server?.close();
  await tmp?.cleanup();
});

describe('getTree aborted midway', () => {
  it('rejects with FERRY_ERR_ABORTED; the files under their final names are whole', async () => {
    const ac = new AbortController();
    const dest = join(tmp.path, 'down');
    const err: unknown = await client
      .getTree('/tree', dest, {
        signal: ac.signal,
        onProgress: (p) => {
          if (p.bytesDone > 0) ac.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_ABORTED'), String(err)).toBe(true);
    for (const name of await readdir(dest)) {
      if (name.endsWith('.ferry-part')) continue;
      expect((await readFile(join(dest, name))).equals(files.get(name)!), name).toBe(true);
    }
  });
});
