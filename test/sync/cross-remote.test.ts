/**
 * The sync engine's scenarios across real remotes: a local folder against a Ferry server
 * (`ferry serve`), S3 (s3rver), SFTP (OpenSSH sshd) and memory, both directions. Adding a
 * remote kind is one entry in KINDS.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backends/local/index.js';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { FerryClient } from '../../src/client/client.js';
import { FerryBackend } from '../../src/client/ferry-backend.js';
import { bisync } from '../../src/sync/bisync.js';
import { check } from '../../src/sync/check.js';
import { copy, move, sync } from '../../src/sync/engine.js';
import { Filter } from '../../src/sync/filter.js';
import { makeRemote, modifyWindow, type Remote } from '../../src/sync/remote.js';
import type { StorageLogEntry } from '../../src/backends/decorators/index.js';
import type { OpOptions } from '../../src/core/storage.js';
import type { BatchWriteLimits } from '../../src/core/storage-bulk.js';
import { startServer, readMetric, readMetricSeries, type RunningServer } from '../helpers/server.js';
import { snapshot, T0, writeTree, type TreeSpec } from '../helpers/sync-trees.js';

interface Kind {
  name: string;
  /** Starts what the kind needs (once per file) and returns a maker of fresh, empty remotes. */
  start(): Promise<{ make(): Promise<Remote>; stop(): Promise<void> }>;
}

const scratch = await mkdtemp(path.join(tmpdir(), 'ferry-cross-'));
const fresh = () => `r-${randomBytes(5).toString('hex')}`;

let ferryServer: RunningServer | undefined;

const KINDS: Kind[] = [
  {
    name: 'memory',
    start: async () => ({ make: async () => makeRemote(new MemoryBackend(), '', 'memory'), stop: async () => {} }),
  },
  {
    name: 'ferry',
    async start() {
      ferryServer = await startServer({ dataDir: path.join(scratch, 'ferry-data'), extraArgs: ['--no-fsync'] });
      const client = new FerryClient({ server: ferryServer.url, token: ferryServer.adminToken, parallel: 8 });
      const backend = new FerryBackend({ client, ownsClient: false });
      return {
        make: async () => makeRemote(backend, fresh(), 'ferry'),
        stop: async () => {
          await client.close();
          await ferryServer?.stop();
        },
      };
    },
  },
  {
    name: 's3',
    async start() {
      const { startS3rver } = await import('../helpers/s3rver.js');
      const { S3Backend } = await import('../../src/backends/s3/s3-backend.js');
      const s3 = await startS3rver(['ferry-sync']);
      const backend = new S3Backend({ ...s3.options, bucket: 'ferry-sync' });
      return {
        make: async () => makeRemote(backend, fresh(), 's3'),
        stop: async () => {
          await backend.close();
          await s3.stop();
        },
      };
    },
  },
  {
    name: 'sftp',
    async start() {
      const { startSshd } = await import('../helpers/sshd.js');
      const { SftpBackend } = await import('../../src/backends/sftp/sftp-backend.js');
      const sshd = await startSshd();
      const backend = await SftpBackend.connect({ host: '127.0.0.1', port: sshd.port, user: 'root', keyFile: sshd.clientKeyFile, knownHostsFile: sshd.knownHostsFile, root: sshd.root });
      return {
        make: async () => {
          const p = fresh();
          await mkdir(path.join(sshd.root, p));
          return makeRemote(backend, p, 'sftp');
        },
        stop: async () => {
          await backend.close();
          await sshd.stop();
        },
      };
    },
  },
];

async function localRemote(): Promise<Remote> {
  const dir = path.join(scratch, fresh());
  await mkdir(dir, { recursive: true });
  return makeRemote(new LocalBackend({ root: dir }), '', dir);
}

const TREE: TreeSpec = {
  'a.txt': ['alpha', T0 + 1000],
  'empty': ['', T0 + 2000],
  'dir/b.bin': ['b'.repeat(70_000), T0 + 3000],
  'dir/sub/c.txt': ['c', T0 + 4000],
  'naïve ☃/"q" it\'s #%&?.txt': ['nasty', T0 + 5000],
  'docs/keep.md': ['# keep', T0 + 6000],
};

/** Both sides hold the same files: contents, and times within the pair's modify window. */
async function expectSame(a: Remote, b: Remote): Promise<void> {
  const [sa, sb] = await Promise.all([snapshot(a), snapshot(b)]);
  expect(Object.keys(sb)).toEqual(Object.keys(sa));
  const w = modifyWindow(a, b);
  for (const [k, [content, mtime]] of Object.entries(sa)) {
    expect(sb[k][0], k).toBe(content);
    if (mtime !== undefined && sb[k][1] !== undefined) expect(Math.abs(sb[k][1]! - mtime), `${k} mtime`).toBeLessThan(w);
  }
}

for (const kind of KINDS) {
  describe(`sync between local and ${kind.name}`, () => {
    let env: Awaited<ReturnType<Kind['start']>>;
    beforeAll(async () => {
      env = await kind.start();
    });
    afterAll(async () => {
      await env?.stop();
    });

    it('sync up, no-change re-sync, edits, check agrees', async () => {
      const local = await localRemote();
      const remote = await env.make();
      await writeTree(local, TREE);
      const first = await sync(local, remote);
      expect(first).toMatchObject({ transferred: 6, errors: [] });
      await expectSame(local, remote);
      expect((await check(local, remote)).ok).toBe(true);
      const again = await sync(local, remote);
      expect(again).toMatchObject({ transferred: 0, deleted: 0, mtimeUpdated: 0 });
      await writeTree(local, { 'a.txt': ['alpha, edited', T0 + 9000], 'new/file': ['new', T0 + 9000] });
      await local.backend.delete('dir/sub/c.txt');
      const c = await check(local, remote);
      expect(c.entries.filter((e) => e.mark !== '=')).toEqual([
        { mark: '*', path: 'a.txt' },
        { mark: '-', path: 'dir/sub/c.txt' },
        { mark: '+', path: 'new/file' },
      ]);
      const third = await sync(local, remote);
      expect(third).toMatchObject({ transferred: 2, deleted: 1, errors: [] });
      await expectSame(local, remote);
    });

    it('sync down and copy with filters', async () => {
      const remote = await env.make();
      await writeTree(remote, TREE);
      const local = await localRemote();
      await sync(remote, local);
      await expectSame(remote, local);
      const only = await localRemote();
      await copy(remote, only, { filter: new Filter({ include: ['*.txt'] }) });
      expect(Object.keys(await snapshot(only)).sort()).toEqual(['a.txt', 'dir/sub/c.txt', 'naïve ☃/"q" it\'s #%&?.txt']);
    });

    it('a mistyped source folder is not found, and the destination is left alone', async () => {
      const remote = await env.make();
      await writeTree(remote, { 'there.txt': ['x', T0] });
      const typo = makeRemote(remote.backend, `${remote.prefix}/typo`, `${kind.name}:typo`);
      const local = await localRemote();
      await writeTree(local, TREE);
      const before = await snapshot(local);
      // On S3 a folder is only the objects below it: none there is a missing folder, not an empty one.
      await expect(sync(typo, local)).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
      expect(await snapshot(local)).toEqual(before);
    });

    it('move up empties the source', async () => {
      const local = await localRemote();
      const remote = await env.make();
      await writeTree(local, TREE);
      const before = await snapshot(local);
      const r = await move(local, remote);
      expect(r).toMatchObject({ transferred: 6, sourceDeleted: 6, errors: [] });
      expect(await snapshot(local)).toEqual({});
      expect(Object.keys(await snapshot(remote))).toEqual(Object.keys(before));
    });

    it('--track-renames moves on the remote instead of uploading', async () => {
      const local = await localRemote();
      const remote = await env.make();
      await writeTree(local, TREE);
      await sync(local, remote);
      await (local.backend as LocalBackend).move('dir/b.bin', 'moved/b-renamed.bin');
      const r = await sync(local, remote, { trackRenames: true });
      expect(r).toMatchObject({ renamed: 1, transferred: 0, deleted: 0, errors: [] });
      await expectSame(local, remote);
    });

    it('bisync: edits, deletes and renames on both sides, a conflict kept both ways', async () => {
      const local = await localRemote();
      const remote = await env.make();
      await writeTree(local, TREE);
      const opts = { stateRoot: path.join(scratch, 'state', fresh()) };
      await bisync(local, remote, { ...opts, resync: true });
      await expectSame(local, remote);
      await writeTree(local, { 'a.txt': ['local edit', T0 + 10_000], 'from-local': ['L', T0 + 10_000] });
      await writeTree(remote, { 'dir/sub/c.txt': ['remote edit', T0 + 20_000], 'from-remote': ['R', T0 + 20_000] });
      await local.backend.delete('empty');
      await (remote.backend.delete(`${remote.prefix}/docs/keep.md`));
      await (local.backend as LocalBackend).move('dir/b.bin', 'dir/b-renamed.bin');
      await writeTree(local, { 'naïve ☃/"q" it\'s #%&?.txt': ['conflict: local side', T0 + 30_000] });
      await writeTree(remote, { 'naïve ☃/"q" it\'s #%&?.txt': ['conflict: remote', T0 + 40_000] });
      const r = await bisync(local, remote, opts);
      expect(r.errors).toEqual([]);
      expect(r.conflicts).toHaveLength(1);
      expect(r.renamed).toBe(1);
      await expectSame(local, remote);
      const files = await snapshot(local);
      expect(Object.keys(files).sort()).toEqual(
        ['a.txt', 'dir/b-renamed.bin', 'dir/sub/c.txt', 'from-local', 'from-remote', 'naïve ☃/"q" it\'s #%&?.conflict1.txt', 'naïve ☃/"q" it\'s #%&?.conflict2.txt'].sort(),
      );
      expect(files['a.txt'][0]).toBe('local edit');
      expect(files['dir/sub/c.txt'][0]).toBe('remote edit');
      const quiet = await bisync(local, remote, opts);
      expect(quiet).toMatchObject({ copied1to2: 0, copied2to1: 0, deleted1: 0, deleted2: 0, renamed: 0 });
    });
  });
}

describe('ferry specifics', () => {
  let server: RunningServer;
  let client: FerryClient;
  beforeAll(async () => {
    server = await startServer({ dataDir: path.join(scratch, 'ferry-specific'), extraArgs: ['--no-fsync'] });
    client = new FerryClient({ server: server.url, token: server.adminToken });
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('an edit in a large file sends only the changed chunks; a rename sends nothing', async () => {
    const local = await localRemote();
    const remote = makeRemote(new FerryBackend({ client, ownsClient: false }), 'delta');
    const big = randomBytes(48 * 1024 * 1024);
    await writeTree(local, { 'big.bin': [big.toString('latin1'), T0] });
    await sync(local, remote);
    const before = await readMetric(server, 'ferry_chunk_bytes_received_total');
    big.write('a small edit in the middle', 24 * 1024 * 1024, 'latin1');
    await writeTree(local, { 'big.bin': [big.toString('latin1'), T0 + 1000] });
    const r = await sync(local, remote);
    expect(r.transferred).toBe(1);
    const sent = (await readMetric(server, 'ferry_chunk_bytes_received_total')) - before;
    expect(sent).toBeGreaterThan(0);
    // An in-place edit changes the chunk holding it and, until cut points line up again, a
    // chunk or two after it: at most a few chunks of the 4 MiB maximum, never the file.
    const { maxSize } = (await client.capabilities()).chunking;
    expect(sent).toBeLessThanOrEqual(4 * maxSize);
    await (local.backend as LocalBackend).move('big.bin', 'renamed.bin');
    const beforeRename = await readMetric(server, 'ferry_chunk_bytes_received_total');
    expect(await sync(local, remote, { trackRenames: true })).toMatchObject({ renamed: 1, transferred: 0 });
    expect(await readMetric(server, 'ferry_chunk_bytes_received_total')).toBe(beforeRename);
    expect((await check(local, remote)).hashKind).toBe('ferry-tree');
  });

  it('small files from the server come many per request (chunk batches), each file intact', async () => {
    const remote = makeRemote(new FerryBackend({ client, ownsClient: false }), 'many');
    const tree: TreeSpec = {};
    for (let i = 0; i < 200; i++) tree[`d${i % 5}/f${i}`] = [randomBytes(1 + ((i * 7919) % 30_000)).toString('latin1'), T0 + i];
    tree['empty'] = ['', T0];
    tree['twin-a'] = ['same bytes', T0];
    tree['twin-b'] = ['same bytes', T0];
    await writeTree(remote, tree);
    const requests = async () => {
      const by = new Map<string, number>();
      for (const s of await readMetricSeries(server, 'ferry_http_requests_total')) by.set(`${s.labels.method} ${s.labels.route}`, (by.get(`${s.labels.method} ${s.labels.route}`) ?? 0) + s.value);
      return by;
    };
    const before = await requests();
    const local = await localRemote();
    const r = await copy(remote, local);
    expect(r.transferred).toBe(203);
    const after = await requests();
    expect(await snapshot(local)).toEqual(await snapshot(remote));
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect(delta('GET /api/v1/files/*')).toBe(0);
    expect(delta('POST /api/v1/chunks/batch')).toBeGreaterThanOrEqual(1);
    expect(delta('POST /api/v1/chunks/batch')).toBeLessThanOrEqual(10);
  });

  it('small files up travel in packs built where they were read, over groups that reuse their buffers: each file intact, twins and files the server has included', async () => {
    /** Groups of 7 files, so that 160 files make many groups and later ones reuse earlier ones' slabs. */
    class SmallBatches extends FerryBackend {
      override async batchWriteLimits(options?: OpOptions): Promise<BatchWriteLimits> {
        return { ...(await super.batchWriteLimits(options)), maxObjects: 7 };
      }
    }
    const tree: TreeSpec = {};
    for (let i = 0; i < 160; i++) tree[`d${i % 4}/f${i}`] = [randomBytes(1 + ((i * 7919) % 40_000)).toString('latin1'), T0 + i];
    tree['empty'] = ['', T0];
    tree['twin-a'] = ['same bytes', T0];
    tree['twin-b'] = ['same bytes', T0];
    // Every fifth file is on the server already (elsewhere): those chunks are not sent, and the
    // frames of the others no longer follow each other everywhere (those packs are copied).
    const seed: TreeSpec = {};
    for (let i = 0; i < 160; i += 5) seed[`f${i}`] = tree[`d${i % 4}/f${i}`];
    await writeTree(makeRemote(new FerryBackend({ client, ownsClient: false }), 'slabs-seed'), seed);
    const local = await localRemote();
    await writeTree(local, tree);
    const remote = makeRemote(new SmallBatches({ client, ownsClient: false }), 'slabs');
    const packs = async () => (await readMetricSeries(server, 'ferry_http_requests_total')).filter((x) => x.labels.route === '/api/v1/uploads/:id/packs').reduce((n, x) => n + x.value, 0);
    const before = await packs();
    const r = await sync(local, remote);
    expect(r.errors).toEqual([]);
    expect(r.transferred).toBe(163);
    expect(await packs()).toBeGreaterThan(before);
    expect(await snapshot(remote)).toEqual(await snapshot(local));
    expect(await check(local, remote)).toMatchObject({ hashKind: 'ferry-tree', ok: true, same: 163 });
  });

  /** The ops a sync made on the Ferry side (`ferry:` backends), in order. */
  const ferryOps = (calls: StorageLogEntry[]) => calls.filter((c) => c.backend.startsWith('ferry:')).map((c) => c.op);

  it('a no-change re-sync asks for the listing’s digest, not the listing; what another client changed is still found', async () => {
    const local = await localRemote();
    const remote = makeRemote(new FerryBackend({ client, ownsClient: false }), 'digest');
    const tree: TreeSpec = {};
    for (let i = 0; i < 40; i++) tree[`d${i % 3}/f${i} ☃`] = [`file ${i}`.repeat(i + 1), T0 + i * 1000];
    await writeTree(local, tree);
    expect(await sync(local, remote)).toMatchObject({ transferred: 40, errors: [] });
    const calls: StorageLogEntry[] = [];
    const quiet = await sync(local, remote, { onStorageCall: (e) => calls.push(e) });
    expect(quiet).toMatchObject({ transferred: 0, checked: 40, unchanged: 40, deleted: 0, mtimeUpdated: 0, errors: [] });
    expect(ferryOps(calls)).toEqual(['treeDigest']);
    // Another client changes the server's copy: a new size, a file gone, a file added, a time.
    const other = makeRemote(new FerryBackend({ client: new FerryClient({ server: server.url, token: server.adminToken }) }), 'digest');
    await writeTree(other, { 'd0/f0 ☃': ['changed by another client', T0], 'extra.txt': ['not in the source', T0] });
    await other.backend.delete('digest/d1/f1 ☃');
    await (other.backend as FerryBackend).setMtime('digest/d2/f2 ☃', T0 + 123_456);
    await other.backend.close?.();
    calls.length = 0;
    const found = await sync(local, remote, { onStorageCall: (e) => calls.push(e) });
    expect(found).toMatchObject({ transferred: 2, deleted: 1, mtimeUpdated: 1, errors: [] });
    expect(ferryOps(calls).slice(0, 2)).toEqual(['treeDigest', 'list']);
    await expectSame(local, remote);
    expect(await sync(local, remote)).toMatchObject({ transferred: 0, deleted: 0, mtimeUpdated: 0 });
    // The other way round: the server is the source, and is asked for its digest.
    const down = await localRemote();
    expect(await copy(remote, down)).toMatchObject({ transferred: 40, errors: [] });
    calls.length = 0;
    expect(await sync(remote, down, { onStorageCall: (e) => calls.push(e) })).toMatchObject({ transferred: 0, unchanged: 40, deleted: 0, errors: [] });
    expect(ferryOps(calls)).toEqual(['treeDigest']);
  });

  it('the listing as before: from a server without list-digest, after a failed digest, with a filter, or a mismatch', async () => {
    const { vi } = await import('vitest');
    const local = await localRemote();
    await writeTree(local, { 'a.txt': ['a', T0], 'd/b.txt': ['bb', T0 + 1000] });
    const remote = makeRemote(new FerryBackend({ client, ownsClient: false }), 'no-digest');
    await sync(local, remote);
    const run = async (o: Parameters<typeof sync>[2] = {}, r = remote) => {
      const calls: StorageLogEntry[] = [];
      const result = await sync(local, r, { ...o, onStorageCall: (e) => calls.push(e) });
      return { result, ops: ferryOps(calls) };
    };
    // An older server: its capabilities lack the feature; the digest is never asked for.
    const old = new FerryClient({ server: server.url, token: server.adminToken });
    const caps = await old.capabilities();
    vi.spyOn(old, 'capabilities').mockResolvedValue({ ...caps, features: caps.features.filter((f) => f !== 'list-digest') });
    const asked = vi.spyOn(old, 'listDigest');
    const onOld = makeRemote(new FerryBackend({ client: old }), 'no-digest');
    expect(await run({}, onOld)).toMatchObject({ result: { transferred: 0, unchanged: 2 }, ops: ['treeDigest', 'list'] });
    expect(asked).not.toHaveBeenCalled();
    await writeTree(local, { 'a.txt': ['a, edited', T0 + 5000] });
    expect((await run({}, onOld)).result).toMatchObject({ transferred: 1, errors: [] });
    await onOld.backend.close?.();
    // A digest that fails: listed instead, the same outcome.
    const failing = new FerryClient({ server: server.url, token: server.adminToken });
    vi.spyOn(failing, 'listDigest').mockRejectedValue(new Error('digest broke'));
    const onFailing = makeRemote(new FerryBackend({ client: failing }), 'no-digest');
    expect(await run({}, onFailing)).toMatchObject({ result: { transferred: 0, unchanged: 2, errors: [] }, ops: ['treeDigest', 'list'] });
    await onFailing.backend.close?.();
    // A filter, another compare mode: no digest asked.
    expect((await run({ filter: new Filter({ exclude: ['*.tmp'] }) })).ops).toEqual(['list']);
    expect((await run({ compare: 'checksum' })).ops).toEqual(['list']);
    // An empty local folder (sync makes none on the server): the digests differ, the listing decides.
    await mkdir(path.join((local.backend as LocalBackend).root, 'empty-dir'));
    expect(await run()).toMatchObject({ result: { transferred: 0, unchanged: 2, deleted: 0, errors: [] }, ops: ['treeDigest', 'list'] });
  });

  it('move within one server is server-side', async () => {
    const backend = new FerryBackend({ client, ownsClient: false });
    const a = makeRemote(backend, 'from');
    const b = makeRemote(backend, 'to');
    await writeTree(a, { x: 'x'.repeat(100_000), 'd/y': 'y' });
    const before = await readMetric(server, 'ferry_chunk_bytes_received_total');
    const r = await move(a, b);
    expect(r).toMatchObject({ transferred: 2, sourceDeleted: 2 });
    expect(await readMetric(server, 'ferry_chunk_bytes_received_total')).toBe(before);
    expect(await snapshot(a)).toEqual({});
    expect(Object.keys(await snapshot(b))).toEqual(['d/y', 'x']);
  });
});
