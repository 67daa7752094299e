/**
 * Encryption at rest through a real server (`encryptionKey` / `--encryption-key-file`): a
 * marker written through every front is found nowhere in the stores' directories on local
 * disk, in s3rver's directory or in sshd's directory, nor is any content hash in a stored
 * name; wrong and missing keys at start; damage read back as a stable code; a plain store
 * migrated under live reads; `ferry admin rekey` killed with SIGKILL and run again.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { EncryptedBackend } from '../../src/backends/decorators/encryption.js';
import { generateMasterKeyText, openRing, readMasterKeyFile } from '../../src/backends/decorators/key-ring.js';
import { LocalBackend } from '../../src/backends/local/local-backend.js';
import type { StorageBackend } from '../../src/core/storage.js';
import { openBackend } from '../../src/remotes/index.js';
import { parseStoreSpec } from '../../src/server/config.js';
import { startServer as startServerInProcess } from '../../src/server/app.js';
import { runFerry, spawnFerry } from '../helpers/cli.js';
import { dav } from '../helpers/dav.js';
import { sha256, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';

const MARKER = 'FERRY-AT-REST-MARKER-5e0b';

let s3: S3rverHandle;
let sshd: SshdHandle;
beforeAll(async () => {
  [s3, sshd] = await Promise.all([startS3rver(['ferry-enc']), startSshd()]);
});
afterAll(async () => {
  await Promise.all([s3?.stop(), sshd?.stop()]);
});

/** Every file below `dir`, with its bytes. */
async function filesBelow(dir: string): Promise<{ rel: string; bytes: Buffer }[]> {
  const out: { rel: string; bytes: Buffer }[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (!e.isFile()) continue;
    const full = path.join(e.parentPath, e.name);
    out.push({ rel: path.relative(dir, full), bytes: await readFile(full) });
  }
  return out;
}

function body(front: string): Buffer {
  // Large enough for several chunks and segments; distinct per front, so no dedup hides one.
  return Buffer.concat([Buffer.from(`${MARKER} via ${front} `.repeat(20_000)), randomBytes(1000), Buffer.from(MARKER)]);
}

/** Writes one marked file through each front; returns path → bytes. */
async function writeThroughEveryFront(t: TestServer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const native = body('native chunked upload');
  expect((await uploadBuffer(t, '/enc/native.bin', native, 256 * 1024)).status).toBe(200);
  files.set('/enc/native.bin', native);

  const oneRequest = body('one-request PUT');
  expect((await t.api('/api/v1/files/enc/put.bin', { method: 'PUT', body: oneRequest })).status).toBeLessThan(300);
  files.set('/enc/put.bin', oneRequest);

  const form = body('form upload');
  const fd = new FormData();
  fd.append('file', new Blob([form]), 'form.bin');
  expect((await t.api('/api/v1/files/enc', { method: 'POST', body: fd })).status).toBeLessThan(300);
  files.set('/enc/form.bin', form);

  const viaDav = body('WebDAV');
  expect((await dav(t.url, 'PUT', '/dav/enc/dav.bin', { auth: `Bearer ${t.token}`, body: viaDav })).status).toBeLessThan(300);
  files.set('/enc/dav.bin', viaDav);

  const viaTus = body('tus');
  const meta = `filename ${Buffer.from('tus.bin').toString('base64')},path ${Buffer.from('/enc').toString('base64')}`;
  const created = await t.api('/api/v1/tus/', { method: 'POST', headers: { 'tus-resumable': '1.0.0', 'upload-length': String(viaTus.length), 'upload-metadata': meta } });
  expect(created.status).toBe(201);
  const patched = await fetch(new URL(created.headers.get('location')!, t.url), {
    method: 'PATCH',
    body: viaTus,
    headers: { 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', authorization: `Bearer ${t.token}` },
  });
  expect(patched.status).toBe(204);
  files.set('/enc/tus.bin', viaTus);
  return files;
}

async function expectReadsBack(t: TestServer, files: Map<string, Buffer>): Promise<void> {
  for (const [p, bytes] of files) {
    const r = await t.api('/api/v1/files' + p);
    expect(r.status, p).toBe(200);
    expect(sha256(Buffer.from(await r.arrayBuffer())), p).toBe(sha256(bytes));
  }
}

/** Nothing of the marker in any stored byte, and no 64-hex run (a content hash) in any stored name. */
async function expectNothingPlain(dir: string, where: string): Promise<number> {
  const files = await filesBelow(dir);
  expect(files.length, `${where}: something is stored`).toBeGreaterThan(0);
  for (const f of files) {
    expect(f.bytes.includes(MARKER), `${where}: ${f.rel} holds the marker`).toBe(false);
    expect(f.rel, `${where}: a content hash in a stored name`).not.toMatch(/[0-9a-f]{64}/);
  }
  return files.length;
}

const s3Remote = (prefix: string) =>
  `s3:ferry-enc/${prefix}?endpoint=${encodeURIComponent(s3.endpoint)}&accessKeyId=S3RVER&secretAccessKey=S3RVER&forcePathStyle=true`;
const sftpRemote = (dir: string) =>
  `sftp://root@127.0.0.1:${sshd.port}${dir}?keyFile=${encodeURIComponent(sshd.clientKeyFile)}&knownHostsFile=${encodeURIComponent(sshd.knownHostsFile)}`;

describe('a marker written through every front is found in no store', () => {
  it('local disk (DATA/store)', async () => {
    const t = await startTestServer({ encryptionKey: generateMasterKeyText() });
    try {
      const files = await writeThroughEveryFront(t);
      await expectReadsBack(t, files);
      await expectNothingPlain(path.join(t.dataDir, 'store'), 'local');
      // Nor anywhere else in the data directory (the metadata holds names and hashes, not bytes).
      for (const f of await filesBelow(t.dataDir)) expect(f.bytes.includes(MARKER), f.rel).toBe(false);
      // The same server without encryption would have stored it plainly: the check can fail.
      const plain = await startTestServer();
      try {
        await uploadBuffer(plain, '/p.bin', body('control'));
        expect((await filesBelow(path.join(plain.dataDir, 'store'))).some((f) => f.bytes.includes(MARKER))).toBe(true);
      } finally {
        await plain.close();
      }
    } finally {
      await t.close();
    }
  });

  it('S3 (s3rver)', async () => {
    const prefix = `run-${randomBytes(4).toString('hex')}`;
    const t = await startTestServer({ encryptionKey: generateMasterKeyText(), store: [parseStoreSpec(s3Remote(prefix))] });
    try {
      const files = await writeThroughEveryFront(t);
      await expectReadsBack(t, files);
      await expectNothingPlain(path.join(s3.directory, 'ferry-enc', prefix), 's3rver');
      await t.restart();
      await expectReadsBack(t, files);
    } finally {
      await t.close();
    }
  });

  it('SFTP (OpenSSH sshd)', async () => {
    const dir = path.join(sshd.root, `enc-${randomBytes(4).toString('hex')}`);
    const t = await startTestServer({ encryptionKey: generateMasterKeyText(), store: [parseStoreSpec(sftpRemote(dir))] });
    try {
      const files = await writeThroughEveryFront(t);
      await expectReadsBack(t, files);
      await expectNothingPlain(dir, 'sftp');
    } finally {
      await t.close();
    }
  });
});

describe('keys at start, and damage at read', () => {
  it('another key is FERRY_ERR_CRYPTO_KEY_WRONG, none FERRY_ERR_CRYPTO_KEY_MISSING, an unreadable key file too', async () => {
    const key = generateMasterKeyText();
    const t = await startTestServer({ encryptionKey: key });
    await uploadBuffer(t, '/a.bin', body('keys'));
    await t.server.close();
    const base = { dataDir: t.dataDir, port: 0 };
    const { defaultConfig } = await import('../../src/server/config.js');
    const start = (extra: object) => startServerInProcess(defaultConfig({ ...base, logLevel: 'silent', ...extra }));
    try {
      await expect(start({ encryptionKey: generateMasterKeyText() })).rejects.toMatchObject({ code: 'FERRY_ERR_CRYPTO_KEY_WRONG' });
      await expect(start({})).rejects.toMatchObject({ code: 'FERRY_ERR_CRYPTO_KEY_MISSING' });
      await expect(start({ encryptionKeyFile: path.join(t.dataDir, 'no-such.key') })).rejects.toMatchObject({ code: 'FERRY_ERR_CRYPTO_KEY_MISSING' });
      const s = await start({ encryptionKey: key });
      await s.close();
    } finally {
      await rm(t.dataDir, { recursive: true, force: true });
    }
  });

  it('a tampered chunk is FERRY_ERR_CRYPTO_TAMPERED, a truncated one FERRY_ERR_CRYPTO_TRUNCATED, a swapped one FERRY_ERR_CRYPTO_SWAPPED: never other bytes', async () => {
    const t = await startTestServer({ encryptionKey: generateMasterKeyText() });
    try {
      const a = randomBytes(100_000);
      const b = randomBytes(100_000);
      expect((await uploadBuffer(t, '/a.bin', a, a.length)).status).toBe(200);
      const before = new Set((await filesBelow(path.join(t.dataDir, 'store'))).map((f) => f.rel));
      expect((await uploadBuffer(t, '/b.bin', b, b.length)).status).toBe(200);
      const all = await filesBelow(path.join(t.dataDir, 'store'));
      const objA = all.find((f) => before.has(f.rel) && !f.rel.startsWith('ferry-keyring'))!;
      const objB = all.find((f) => !before.has(f.rel))!;
      const chunk = async (data: Buffer) => {
        const r = await t.api(`/api/v1/chunks/${sha256(data)}`);
        return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
      };
      expect((await chunk(a)).body.equals(a)).toBe(true);
      const fileA = path.join(t.dataDir, 'store', objA.rel);
      const cases: [string, Buffer][] = [
        ['FERRY_ERR_CRYPTO_TAMPERED', Buffer.from(objA.bytes.map((x, i) => (i === 5000 ? x ^ 1 : x)))],
        ['FERRY_ERR_CRYPTO_TRUNCATED', objA.bytes.subarray(0, objA.bytes.length - 1000)],
        ['FERRY_ERR_CRYPTO_SWAPPED', objB.bytes],
      ];
      for (const [code, bytes] of cases) {
        await writeFile(fileA, bytes);
        const r = await chunk(a);
        expect(r.status, code).toBe(500);
        expect(JSON.parse(r.body.toString()).error.code).toBe(code);
        const f = await t.api('/api/v1/files/a.bin');
        const got = await f.arrayBuffer().then((x) => Buffer.from(x), () => undefined);
        expect(got?.equals(a) ?? false, `${code}: the file's bytes must not be served`).toBe(false);
      }
      // ferry admin check --read-data names the damage; the next upload of the bytes repairs it.
      await writeFile(fileA, cases[0][1]);
      const res = await t.api('/api/v1/admin/check', { method: 'POST', json: { readData: true } });
      const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { report?: { ok: boolean; problems: { kind: string; hash: string }[] } });
      const report = lines[lines.length - 1].report!;
      expect(report.ok).toBe(false);
      expect(report.problems.map((p) => [p.kind, p.hash])).toEqual([['corrupt', sha256(a)]]);
      expect((await uploadBuffer(t, '/a-again.bin', a, a.length)).status).toBe(200);
      expect((await chunk(a)).body.equals(a)).toBe(true);
    } finally {
      await t.close();
    }
  });
});

describe('migration of a plain store, and rekey', () => {
  it('turning encryption on encrypts every plain object in the background while reads keep working', async () => {
    const plain = await startTestServer({ durable: false });
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 30; i++) {
      const data = Buffer.from(`${MARKER} file ${i} `.repeat(3000 + i * 10));
      files.set(`/m/f${i}.txt`, data);
      expect((await uploadBuffer(plain, `/m/f${i}.txt`, data, 32 * 1024)).status).toBe(200);
    }
    await plain.server.close();
    const t = await startTestServer({ dataDir: plain.dataDir, durable: false, encryptionKey: generateMasterKeyText() });
    try {
      const marker = path.join(plain.dataDir, 'store', 'ferry-keyring', 'migrating');
      const pending = async () => readFile(marker).then(() => true, () => false);
      let rounds = 0;
      let readsWhilePending = 0;
      do {
        for (const [p, bytes] of files) {
          const stillPending = await pending();
          const r = await t.api('/api/v1/files' + p);
          expect(r.status, p).toBe(200);
          expect(Buffer.from(await r.arrayBuffer()).equals(bytes), p).toBe(true);
          if (stillPending) readsWhilePending++;
        }
        rounds++;
      } while ((await pending()) && rounds < 500);
      expect(await pending()).toBe(false);
      expect(readsWhilePending, 'reads happened while the migration ran').toBeGreaterThan(0);
      await expectNothingPlain(path.join(plain.dataDir, 'store'), 'migrated local store');
      await expectReadsBack(t, files);
    } finally {
      await t.close();
      await rm(plain.dataDir, { recursive: true, force: true });
    }
  });

  it('ferry admin rekey killed with SIGKILL after writing the new wrapping finishes when run again; the old key is retired', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-rekey-'));
    const oldKey = path.join(dir, 'old.key');
    const newKey = path.join(dir, 'new.key');
    const data = path.join(dir, 'data');
    try {
      expect((await runFerry(['admin', 'keygen', oldKey])).code).toBe(0);
      expect((await runFerry(['admin', 'keygen', newKey])).code).toBe(0);
      const again = await runFerry(['admin', 'keygen', oldKey]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('never overwrites');
      const t = await startTestServer({ dataDir: data, encryptionKeyFile: oldKey });
      const content = body('rekey');
      await uploadBuffer(t, '/r.bin', content);
      const stored = await filesBelow(path.join(data, 'store'));
      // The server keeps running through the rotation: it holds its keys in memory.

      const child = spawnFerry(['admin', 'rekey', '--key-file', oldKey, '--new-key-file', newKey, '--data', data], { env: { FERRY_TEST_REKEY_HOLD: 'wrote-new' } });
      await new Promise<void>((resolve, reject) => {
        let err = '';
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.includes('holding after wrote-new')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`rekey exited (${code}) before the hold: ${err}`)));
      });
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      const wrappings = (await readdir(path.join(data, 'store', 'ferry-keyring'))).filter((n) => n.startsWith('master-'));
      expect(wrappings).toHaveLength(2);

      const resumed = await runFerry(['admin', 'rekey', '--key-file', oldKey, '--new-key-file', newKey, '--data', data]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain('wrappings by the old key left: 0');
      // Chunk bodies are untouched: only the key ring changed.
      const after = await filesBelow(path.join(data, 'store'));
      for (const f of stored.filter((s) => !s.rel.startsWith('ferry-keyring'))) {
        expect(after.find((a) => a.rel === f.rel)?.bytes.equals(f.bytes), f.rel).toBe(true);
      }
      const during = await t.api('/api/v1/files/r.bin');
      expect(Buffer.from(await during.arrayBuffer()).equals(content)).toBe(true);
      const later = body('after rekey');
      expect((await uploadBuffer(t, '/after-rekey.bin', later)).status).toBe(200);
      await t.server.close();
      const { defaultConfig } = await import('../../src/server/config.js');
      await expect(startServerInProcess(defaultConfig({ dataDir: data, port: 0, logLevel: 'silent', encryptionKeyFile: oldKey }))).rejects.toMatchObject({ code: 'FERRY_ERR_CRYPTO_KEY_WRONG' });
      const t2 = await startTestServer({ dataDir: data, encryptionKeyFile: newKey });
      try {
        const r = await t2.api('/api/v1/files/r.bin');
        expect(Buffer.from(await r.arrayBuffer()).equals(content)).toBe(true);
        const r2 = await t2.api('/api/v1/files/after-rekey.bin');
        expect(r2.status).toBe(200);
        expect(Buffer.from(await r2.arrayBuffer()).equals(later)).toBe(true);
      } finally {
        await t2.server.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('re-encryption under a new data key (ferry admin rekey --reencrypt)', () => {
  /** The store's objects by the data key their header names (retiring / kept), read under `keyFile`. */
  async function census(raw: StorageBackend, keyFile: string): Promise<{ counts: Record<string, number>; dataKeys: number; bodies: Map<string, string> }> {
    const master = await readMasterKeyFile(keyFile);
    const { ring } = await openRing(raw, master);
    const enc = new EncryptedBackend(raw, ring);
    const counts: Record<string, number> = {};
    const bodies = new Map<string, string>();
    for await (const e of raw.list('', { recursive: true })) {
      if (e.type !== 'file' || e.key.startsWith('ferry-keyring/')) continue;
      const state = await enc.dataKeyOf(e.key);
      counts[state] = (counts[state] ?? 0) + 1;
      const parts: Buffer[] = [];
      for await (const c of await raw.read(e.key)) parts.push(c as Buffer);
      bodies.set(e.key, sha256(Buffer.concat(parts)));
    }
    return { counts, dataKeys: ring.dataKeyIds.length, bodies };
  }

  for (const where of ['local', 's3rver'] as const) {
    it(`the server killed with SIGKILL while re-encrypting carries on at its next start, then retires the old data key (${where})`, async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'ferry-reencrypt-'));
      const oldKey = path.join(dir, 'old.key');
      const newKey = path.join(dir, 'new.key');
      const data = path.join(dir, 'data');
      const remote = s3Remote(`reenc-${randomBytes(4).toString('hex')}`);
      const storeArgs = where === 's3rver' ? ['--store', remote] : [];
      const store = where === 's3rver' ? { store: [parseStoreSpec(remote)] } : {};
      const raw: StorageBackend = where === 's3rver' ? await openBackend(remote, { remotes: {} }) : new LocalBackend({ root: path.join(data, 'store') });
      let child: ChildProcess | undefined;
      try {
        await writeFile(oldKey, generateMasterKeyText() + '\n', { mode: 0o600 });
        await writeFile(newKey, generateMasterKeyText() + '\n', { mode: 0o600 });
        const t = await startTestServer({ dataDir: data, encryptionKeyFile: oldKey, durable: false, ...store });
        const files = new Map<string, Buffer>();
        for (let i = 0; i < 12; i++) {
          const content = Buffer.concat([body(`reencrypt ${i}`).subarray(0, 40_000 + i * 1000), randomBytes(100)]);
          files.set(`/re/f${i}.bin`, content);
          expect((await uploadBuffer(t, `/re/f${i}.bin`, content, 16 * 1024)).status).toBe(200);
        }
        await t.server.close();
        const before = await census(raw, oldKey);
        expect(before.counts.kept).toBeGreaterThanOrEqual(12);

        const neither = await runFerry(['admin', 'rekey', '--key-file', oldKey, '--data', data, ...storeArgs]);
        expect(neither.code).not.toBe(0);
        expect(neither.stderr).toContain('give the new master key (--new-key-file FILE), or --reencrypt');
        const rekey = await runFerry(['admin', 'rekey', '--key-file', oldKey, '--new-key-file', newKey, '--reencrypt', '--data', data, ...storeArgs]);
        expect(rekey.code, rekey.stderr).toBe(0);
        expect(rekey.stdout).toContain('wrappings by the old key left: 0');
        expect(rekey.stdout).toContain('data keys retiring: 1');
        const marked = await census(raw, newKey);
        expect(marked.counts).toEqual({ retiring: before.counts.kept });
        expect(marked.dataKeys).toBe(2);

        // The server with the new key starts re-encrypting; killed with SIGKILL after 3 objects.
        child = spawnFerry(['serve', '--addr', '127.0.0.1:0', '--data', data, '--encryption-key-file', newKey, '--no-fsync', ...storeArgs], { env: { FERRY_TEST_REENCRYPT_HOLD: '3' } });
        await new Promise<void>((resolve, reject) => {
          let err = '';
          child!.stderr!.on('data', (d: Buffer) => {
            err += d.toString();
            if (err.includes('holding after 3 re-encrypted')) resolve();
          });
          child!.once('exit', (code) => reject(new Error(`the server exited (${code}) before the hold: ${err}`)));
        });
        child.kill('SIGKILL');
        await new Promise((resolve) => child!.once('exit', resolve));
        child = undefined;
        const halfway = await census(raw, newKey);
        expect(halfway.counts).toEqual({ retiring: before.counts.kept - 3, kept: 3 });

        // Started again: it carries on, reads working meanwhile, and ends with one data key.
        const t2 = await startTestServer({ dataDir: data, encryptionKeyFile: newKey, durable: false, ...store });
        try {
          let rounds = 0;
          for (;;) {
            await expectReadsBack(t2, files);
            if ((await census(raw, newKey)).dataKeys === 1 || ++rounds > 600) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          const after = await census(raw, newKey);
          expect(after.dataKeys).toBe(1);
          expect(after.counts).toEqual({ kept: before.counts.kept });
          // Every body was rewritten (under the new data key); the three done before the kill only once.
          for (const [name, hash] of before.bodies) expect(after.bodies.get(name), name).not.toBe(hash);
          for (const [name, hash] of halfway.bodies) if (marked.bodies.get(name) !== hash) expect(after.bodies.get(name), name).toBe(hash);
          await expectReadsBack(t2, files);
          await expectNothingPlain(where === 's3rver' ? path.join(s3.directory, 'ferry-enc') : path.join(data, 'store'), where);
        } finally {
          await t2.server.close();
        }
        // The old master key opens nothing any more.
        await expect(openRing(raw, await readMasterKeyFile(oldKey))).rejects.toMatchObject({ code: 'FERRY_ERR_CRYPTO_KEY_WRONG' });
      } finally {
        child?.kill('SIGKILL');
        await raw.close?.();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
