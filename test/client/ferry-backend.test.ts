/** The ferry: remote passes the StorageBackend conformance suite against a real `ferry serve`. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { FerryBackend } from '../../src/client/ferry-backend.js';
import { parseFerrySpec } from '../../src/client/ferry-definition.js';
import { describeStorageBackend } from '../conformance/storage-backend.js';
import { readMetric, startServer, type RunningServer } from '../helpers/server.js';

let server: RunningServer;
const dataDir = mkdtempSync(join(tmpdir(), 'ferry-backend-'));
beforeAll(async () => {
  server = await startServer({ dataDir, extraArgs: ['--no-fsync'] });
});
afterAll(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

let n = 0;
describeStorageBackend(
  'ferry',
  async () => {
    const root = `/conformance-${n++}`;
    const client = new FerryClient({ server: server.url, token: server.adminToken });
    const backend = new FerryBackend({ client, root });
    return {
      backend,
      cleanup: async () => {
        // The suite may have closed the backend (and its client): clean up with another one.
        const admin = new FerryClient({ server: server.url, token: server.adminToken });
        await admin.remove(root, { recursive: true }).catch(() => {});
        await admin.close();
        await backend.close();
      },
    };
  },
  { largeBytes: 6 * 1024 * 1024, unknownSizeBytes: 5 * 1024 * 1024 },
);

describe('ferry remote strings', () => {
  it('parses ferry:/path and ferry://host:port/path', () => {
    expect(parseFerrySpec('/photos/2024')).toEqual({ path: '/photos/2024' });
    expect(parseFerrySpec('')).toEqual({ path: '/' });
    expect(parseFerrySpec('//127.0.0.1:7373/a b')).toEqual({ server: 'http://127.0.0.1:7373', path: '/a b' });
    expect(parseFerrySpec('//host')).toEqual({ server: 'http://host', path: '/' });
  });
});

describe('listing for a sync destination (willRead: false)', () => {
  it('asks the server for small files’ chunk lists only when the files will be read', async () => {
    const { vi } = await import('vitest');
    const client = new FerryClient({ server: server.url, token: server.adminToken });
    const backend = new FerryBackend({ client, root: '/will-read' });
    const spy = vi.spyOn(client, 'list');
    try {
      await backend.write('a.txt', Buffer.from('small file'));
      const read = [];
      for await (const e of backend.list('', { recursive: true })) read.push(e);
      const compared = [];
      for await (const e of backend.list('', { recursive: true, willRead: false })) compared.push(e);
      // The same entries (sizes, times, tree hashes) either way...
      expect(compared).toEqual(read);
      expect(read).toEqual([expect.objectContaining({ key: 'a.txt', type: 'file', size: 10, treeHash: expect.any(String) })]);
      // ...but only the first listing carried chunk lists.
      expect(spy.mock.calls.map((c) => c[1]?.chunks)).toEqual([true, false]);
    } finally {
      spy.mockRestore();
      await client.remove('/will-read', { recursive: true }).catch(() => {});
      await backend.close();
    }
  });

  it('reads a whole compressible file zstd-compressed (a range, or a client without compression, plain)', async () => {
    const lines: string[] = [];
    for (let i = 0; lines.length < 60_000; i++) lines.push(`{"at":${1_700_000_000 + i},"level":"info","path":"/x/${i % 89}","ms":${(i * 7) % 500}}`);
    const data = Buffer.from(lines.join('\n'));
    const read = async (backend: FerryBackend, options = {}) => {
      const parts: Buffer[] = [];
      for await (const p of await backend.read('log.json', options)) parts.push(p as Buffer);
      return Buffer.concat(parts);
    };
    const sent = () => readMetric(server, 'ferry_chunk_wire_bytes_sent_total');
    const client = new FerryClient({ server: server.url, token: server.adminToken });
    const backend = new FerryBackend({ client, root: '/zread' });
    const plainClient = new FerryClient({ server: server.url, token: server.adminToken, compress: false });
    const plainBackend = new FerryBackend({ client: plainClient, root: '/zread' });
    try {
      await backend.write('log.json', data, { size: data.length });
      let before = await sent();
      expect((await read(backend)).equals(data)).toBe(true);
      expect((await sent()) - before).toBeLessThan(data.length / 3);
      before = await sent();
      expect((await read(backend, { offset: 1000, length: 50_000 })).equals(data.subarray(1000, 51_000))).toBe(true);
      expect((await sent()) - before).toBe(50_000);
      before = await sent();
      expect((await read(plainBackend)).equals(data)).toBe(true);
      expect((await sent()) - before).toBe(data.length);
    } finally {
      await client.remove('/zread', { recursive: true }).catch(() => {});
      await backend.close();
      await plainBackend.close();
    }
  });
});

describe('identityOf: one server under two roots (or two clients)', () => {
  it('a path seen from two roots, through two clients of one server URL (with and without a trailing slash), is one place', async () => {
    const { relateKeys } = await import('../../src/core/storage.js');
    const [c1, c2] = [new FerryClient({ server: server.url, token: server.adminToken }), new FerryClient({ server: server.url + '/', token: server.adminToken })];
    const [deep, top] = [new FerryBackend({ client: c1, root: '/same/dir' }), new FerryBackend({ client: c2, root: '/' })];
    try {
      expect(await relateKeys(deep, 'f.txt', top, 'same/dir/f.txt')).toBe('same');
      expect(await relateKeys(deep, '', top, 'same')).toBe('a-in-b');
      expect(await relateKeys(deep, 'f.txt', top, 'same/other/f.txt')).toBeUndefined();
      // The user's home is part of the path (the admin's is `/`): the server's own paths compare.
      expect(await top.identityOf('same/dir')).toEqual({ store: `ferry:${new URL(server.url).origin}`, path: '/same/dir' });
    } finally {
      await deep.close();
      await top.close();
    }
  });
});
