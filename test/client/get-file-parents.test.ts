/**
 * The SDK's getFile and a missing local folder: as `ferry get` (and cp(1)), a destination
 * whose parent folder does not exist is FERRY_ERR_NOT_FOUND naming that folder, checked
 * before anything travels; `makeParents: true` makes it, as the SDK did always before.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { isFerryError } from '../../src/core/errors.js';
import { tempDir } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

let server: TestServer;
let client: FerryClient;
let tmp: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  server = await startTestServer({ versions: { keep: 5, days: 0, paths: {} } });
  client = new FerryClient({ server: server.url, token: server.token });
  tmp = await tempDir();
  await writeFile(join(tmp.path, 'src.txt'), 'hello parents\n');
  await client.putFile(join(tmp.path, 'src.txt'), '/a.txt');
});
afterAll(async () => {
  await client?.close();
  await server?.close();
  await tmp?.cleanup();
});

describe('getFile into a folder that does not exist', () => {
  it('fails with FERRY_ERR_NOT_FOUND naming the folder, and makes nothing', async () => {
    const missing = join(tmp.path, 'no-such', 'deeper');
    const err: unknown = await client.getFile('/a.txt', join(missing, 'a.txt')).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_NOT_FOUND'), String(err)).toBe(true);
    expect((err as Error).message).toBe(`${missing}: no such local directory (getFile makes it with { makeParents: true })`);
    expect(await readdir(tmp.path)).toEqual(['src.txt']);
  });

  it('a parent that is a file: FERRY_ERR_NOT_A_DIRECTORY', async () => {
    const err: unknown = await client.getFile('/a.txt', join(tmp.path, 'src.txt', 'a.txt')).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_NOT_A_DIRECTORY'), String(err)).toBe(true);
  });

  it('with makeParents: true the folders are made and the file written', async () => {
    const dest = join(tmp.path, 'made', 'deeper', 'a.txt');
    await client.getFile('/a.txt', dest, { makeParents: true });
    expect(await readFile(dest, 'utf8')).toBe('hello parents\n');
  });

  it('an existing folder needs nothing', async () => {
    await mkdir(join(tmp.path, 'there'));
    await client.getFile('/a.txt', join(tmp.path, 'there', 'a.txt'));
    expect(await readFile(join(tmp.path, 'there', 'a.txt'), 'utf8')).toBe('hello parents\n');
  });
});

describe('getVersionFile into a folder that does not exist: the same rule as getFile', () => {
  let versionId: number;
  beforeAll(async () => {
    await writeFile(join(tmp.path, 'src.txt'), 'hello parents, v2\n');
    await client.putFile(join(tmp.path, 'src.txt'), '/a.txt');
    const { versions } = await client.listVersions('/a.txt');
    expect(versions).toHaveLength(1);
    versionId = versions[0]!.id;
  });

  it('fails with FERRY_ERR_NOT_FOUND naming the folder, and makes nothing', async () => {
    const missing = join(tmp.path, 'v-no-such', 'deeper');
    const err: unknown = await client.getVersionFile('/a.txt', versionId, join(missing, 'a.txt')).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_NOT_FOUND'), String(err)).toBe(true);
    expect((err as Error).message).toBe(`${missing}: no such local directory (getVersionFile makes it with { makeParents: true })`);
    expect((await readdir(tmp.path)).filter((n) => n.startsWith('v-'))).toEqual([]);
  });

  it('a parent that is a file: FERRY_ERR_NOT_A_DIRECTORY', async () => {
    const err: unknown = await client.getVersionFile('/a.txt', versionId, join(tmp.path, 'src.txt', 'a.txt')).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_NOT_A_DIRECTORY'), String(err)).toBe(true);
  });

  it('with makeParents: true the folders are made and the old version written', async () => {
    const dest = join(tmp.path, 'v-made', 'deeper', 'a.txt');
    await client.getVersionFile('/a.txt', versionId, dest, { makeParents: true });
    expect(await readFile(dest, 'utf8')).toBe('hello parents\n');
  });
});
