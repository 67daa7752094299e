/**
 * What a client must not believe from a server: a listing that names paths outside the
 * directory being downloaded (`..` segments, another root, unnormalized names). The answers
 * come from a real server through the fault proxy, which rewrites the listing as a
 * malicious or broken server would send it.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { FerryBackend } from '../../src/client/ferry-backend.js';
import { isFerryError } from '../../src/core/errors.js';
import type { Entry, ListResponse } from '../../src/core/protocol.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { tempDir } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

let server: TestServer;
let proxy: FaultProxy;
let client: FerryClient;
let tmp: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  server = await startTestServer();
  proxy = new FaultProxy(server.url);
  await proxy.start();
  client = new FerryClient({ server: proxy.url, token: server.token, retry: { retries: 1, baseMs: 5, capMs: 20, maxRetryAfterMs: 100 } });
  tmp = await tempDir();
  await client.putStream(Readable.from([Buffer.from('honest bytes')]), '/t/ok.txt');
});
afterAll(async () => {
  await client.close();
  await proxy.stop();
  await server.close();
  await tmp.cleanup();
});

/** Makes the next recursive listing of `/t` carry `extra` entries besides the real ones. */
function injectEntries(extra: Array<Partial<Entry> & { path: string; type: 'file' | 'dir' }>): void {
  proxy.rules.push({
    method: 'GET',
    path: /^\/api\/v1\/list\/t$/,
    rewrite: (body) => {
      const page = JSON.parse(body.toString()) as ListResponse;
      const like = page.entries.find((e) => e.type === 'file')!;
      for (const e of extra) page.entries.push({ ...like, ...e } as Entry);
      return Buffer.from(JSON.stringify(page));
    },
  });
}

describe('getTree against a server that lists paths outside the directory', () => {
  it('refuses directory entries with .. (and other non-paths) exactly as it refuses such files', async () => {
    const base = join(tmp.path, 'dirs');
    const dst = join(base, 'dst');
    injectEntries([
      { path: '/t/../escaped-dir', type: 'dir' },
      { path: '/t/sub/../../../escaped-deep', type: 'dir' },
      { path: '/elsewhere', type: 'dir' },
      { path: '/t//doubled', type: 'dir' },
      { path: '/t/./dot', type: 'dir' },
      { path: '/t', type: 'dir' },
      { path: '/t/../escaped-file.txt', type: 'file' },
    ]);
    const failed: string[] = [];
    const err = await client.getTree('/t', dst, { onFileError: (p) => failed.push(p) }).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_PATH_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/^7 of 8 entries failed/);
    expect(failed.sort()).toEqual(['/elsewhere', '/t', '/t/../escaped-dir', '/t/../escaped-file.txt', '/t//doubled', '/t/./dot', '/t/sub/../../../escaped-deep'].sort());
    // Nothing was made outside the destination, or inside it under a mangled name.
    expect((await readdir(base)).sort()).toEqual(['dst']);
    expect(existsSync(join(tmp.path, 'escaped-deep'))).toBe(false);
    expect(await readdir(dst)).toEqual(['ok.txt']);
    // The honest file still came.
    expect(await readFile(join(dst, 'ok.txt'), 'utf8')).toBe('honest bytes');
  });

  it('does not touch a local file outside the destination that a listed file entry names', async () => {
    const base = join(tmp.path, 'files');
    const dst = join(base, 'dst');
    await mkdir(dst, { recursive: true });
    // A file beside the destination with the same bytes as the listed one: an identical
    // copy would have its times and mode "corrected" if the entry were followed.
    const victim = join(base, 'victim.txt');
    await writeFile(victim, 'honest bytes', { mode: 0o600 });
    const before = await stat(victim);
    injectEntries([{ path: '/t/../victim.txt', type: 'file', mode: 0o777, mtime: 1_000_000 }]);
    const err = await client.getTree('/t', dst).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_PATH_INVALID')).toBe(true);
    const after = await stat(victim);
    expect(after.mode & 0o777).toBe(0o600);
    expect(after.mtimeMs).toBe(before.mtimeMs);
  });
});

describe('the ferry: remote against such a listing', () => {
  it('refuses the listing instead of turning the path into a key outside its root', async () => {
    for (const path of ['/t/../escaped', '/elsewhere', '/t//doubled']) {
      injectEntries([{ path, type: 'dir' }]);
      const backend = new FerryBackend({ client, root: '/t', ownsClient: false });
      const keys: string[] = [];
      const err = await (async () => {
        for await (const e of backend.list('', { recursive: true })) keys.push(e.key);
      })().catch((e: unknown) => e);
      expect(isFerryError(err, 'FERRY_ERR_PATH_INVALID'), path).toBe(true);
      expect(keys.some((k) => k.includes('..') || k.includes('sewhere') || k.startsWith('/'))).toBe(false);
    }
  });
});

describe('ranged reads in zstd frames from a server that lies', () => {
  it('a frame that never ends is refused once it runs past any size its chunk allows (memory stays bounded)', async () => {
    const lines: string[] = [];
    for (let i = 0; lines.length < 40_000; i++) lines.push(`line ${i} of a log that compresses well, ${i % 17}`);
    await client.putStream(Readable.from([Buffer.from(lines.join('\n'))]), '/t/log.txt');
    // One raw block of 128 KiB after another, none of them the last.
    const endless = (): Buffer => {
      const head = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 0x10, 0]);
      const block = Buffer.alloc(3 + 128 * 1024);
      const v = (128 * 1024) << 3; // raw, not last
      block[0] = v & 0xff;
      block[1] = (v >> 8) & 0xff;
      block[2] = (v >> 16) & 0xff;
      return Buffer.concat([head, ...Array.from({ length: 64 }, () => block)]);
    };
    proxy.rules.push({ method: 'GET', path: /^\/api\/v1\/files\/t\/log\.txt$/, times: 4, rewrite: () => endless() });
    const dest = join(tmp.path, 'endless.txt');
    const err = await client.getFile('/t/log.txt', dest).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_PROTOCOL')).toBe(true);
    expect((err as Error).message).toMatch(/runs past any size it could have/);
    expect(existsSync(dest)).toBe(false);
    proxy.rules.length = 0;
  });
});
