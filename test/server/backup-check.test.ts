/**
 * `ferry admin check` (a flipped byte and a missing chunk are found, named and quarantined;
 * an upload of the right bytes repairs them), and `ferry admin backup` / `restore` (online,
 * consistent, verified on the way back).
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { fileHashOf } from '../../src/core/manifest.js';
import { PACK_FRAME_HEADER_BYTES } from '../../src/core/protocol.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkStore } from '../../src/store/chunk-store.js';
import { parseStoreSpec } from '../../src/server/config.js';
import { runFerry } from '../helpers/cli.js';
import { startS3rver } from '../helpers/s3rver.js';
import { pieces, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-backup-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Report {
  ok: boolean;
  chunks: number;
  chunksRead: number;
  problems: { kind: string; hash: string; files: string[]; quarantined: boolean }[];
}

const check = async (t: TestServer, body: Record<string, unknown>): Promise<Report> => {
  const res = await t.api('/api/v1/admin/check', { method: 'POST', json: body });
  expect(res.status).toBe(200);
  const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { report?: Report });
  return lines[lines.length - 1].report!;
};

describe('ferry admin check', () => {
  let t: TestServer;
  const data = randomBytes(6 * 40_000);
  const { refs } = pieces(data, 40_000);
  const objectOf = (hash: string) => join(t.dataDir, 'store', ChunkStore.chunkKey(hash));
  beforeAll(async () => {
    t = await startTestServer();
    expect((await uploadBuffer(t, '/docs/report.bin', data, 40_000)).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a sound store has no problems', async () => {
    const report = await check(t, { readData: true });
    expect(report).toMatchObject({ ok: true, chunks: 6, chunksRead: 6, problems: [] });
    // The CLI's summary line counts in words that agree with the numbers (one file: "1 manifest").
    const cli = await runFerry(['admin', 'check'], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: t.token } });
    expect(cli.code).toBe(0);
    expect(cli.stdout.trim().split('\n').at(-1)).toBe('1 manifest, 6 chunks: no problems');
  });

  it('finds a missing chunk by its metadata, and a flipped byte only by reading, naming the file', async () => {
    const flipped = refs[1].hash;
    const missing = refs[4].hash;
    const bytes = readFileSync(objectOf(flipped));
    bytes[1234] ^= 0x40;
    writeFileSync(objectOf(flipped), bytes);
    unlinkSync(objectOf(missing));

    const quick = await check(t, { quarantine: false });
    expect(quick.ok).toBe(false);
    expect(quick.problems.map((p) => [p.kind, p.hash])).toEqual([['missing', missing]]);

    // `--no-quarantine` only reports: the same exit status, the object left where it is.
    const report = await runFerry(['admin', 'check', '--read-data', '--no-quarantine'], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: t.token } });
    expect(report.code).toBe(7);
    expect(report.stdout).toContain(`corrupt ${flipped}\n`);
    expect(report.stdout).not.toContain('(quarantined)');
    expect(existsSync(objectOf(flipped))).toBe(true);

    const cli = await runFerry(['admin', 'check', '--read-data'], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: t.token } });
    expect(cli.code).toBe(7);
    expect(cli.stdout).toContain(`corrupt ${flipped} (quarantined)`);
    expect(cli.stdout).toContain(`missing ${missing} (quarantined)`);
    expect(cli.stdout).toContain('needed by /docs/report.bin');
    // The damaged object was moved aside, not left where it would be served.
    expect(existsSync(objectOf(flipped))).toBe(false);
    expect(readdirSync(join(t.dataDir, 'store', 'quarantine')).some((n) => n.startsWith(flipped))).toBe(true);
    const audit = (await (await t.api('/api/v1/admin/audit?event=file.quarantine')).json()) as { entries: { target: string; path: string }[] };
    expect(audit.entries.map((e) => e.target).sort()).toEqual([flipped, missing].sort());
    expect(audit.entries[0].path).toBe('/docs/report.bin');

    // (A range that starts in the damaged chunk: the first chunk is read before the headers go.)
    const res = await t.api('/api/v1/files/docs/report.bin', { headers: { range: 'bytes=40000-' } });
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_CHUNK_CORRUPT');
  });

  it('an upload of the right bytes repairs the quarantined chunks', async () => {
    // Another file with the same content: the server asks for the two damaged chunks again.
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/again.bin', size: data.length, chunks: refs } });
    const { id, missing } = (await created.json()) as { id: string; missing: string[] };
    expect(missing.sort()).toEqual([refs[1].hash, refs[4].hash].sort());
    await t.api(`/api/v1/uploads/${id}`, { method: 'DELETE' });
    expect((await uploadBuffer(t, '/again.bin', data, 40_000)).status).toBe(200);
    const res = await t.api('/api/v1/files/docs/report.bin');
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    expect(await t.server.ctx.quarantine.list()).toHaveLength(2);
    const report = await check(t, { readData: true });
    expect(report).toMatchObject({ ok: true, problems: [] });
    // The check that reads them sound ends their quarantine.
    expect(await t.server.ctx.quarantine.list()).toEqual([]);
  });
});

describe('a damaged chunk inside a pack', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  const frames = (parts: Buffer[]) =>
    Buffer.concat(
      parts.flatMap((p) => {
        const head = Buffer.alloc(PACK_FRAME_HEADER_BYTES);
        head.write(createHash('sha256').update(p).digest('hex'), 0, 32, 'hex');
        head.writeUInt32BE(p.length, 32);
        return [head, p];
      }),
    );
  /** Uploads `data` (two small chunks) through a pack; returns what the server asked for. */
  const packUpload = async (path: string, data: Buffer): Promise<string[]> => {
    const { refs, parts } = pieces(data, 3000);
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path, size: data.length, hash: fileHashOf(refs), chunks: refs } });
    const { id, missing } = (await created.json()) as { id: string; missing: string[] };
    const wanted = parts.filter((_, i) => missing.includes(refs[i].hash));
    if (wanted.length > 0) expect((await t.api(`/api/v1/uploads/${id}/packs`, { method: 'POST', body: frames(wanted), headers: { 'content-type': 'application/octet-stream' } })).status).toBe(200);
    expect((await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
    return missing;
  };

  it('is found by reading, quarantined in place, and repaired by a pack that brings it again', async () => {
    const data = randomBytes(6000);
    expect(await packUpload('/small.bin', data)).toHaveLength(2);
    const packsDir = join(t.dataDir, 'store', 'packs');
    const [sub] = readdirSync(packsDir);
    const [packName] = readdirSync(join(packsDir, sub));
    const packFile = join(packsDir, sub, packName);
    const bytes = readFileSync(packFile);
    bytes[bytes.length - 10] ^= 0x01; // inside the second chunk
    writeFileSync(packFile, bytes);
    const report = await check(t, { readData: true });
    expect(report.problems.map((p) => [p.kind, p.quarantined, p.files])).toEqual([['corrupt', true, ['/small.bin']]]);
    // The same bytes again, in a pack: the server asks for the damaged chunk only.
    const asked = await packUpload('/small-again.bin', data);
    expect(asked).toEqual([report.problems[0].hash]);
    const res = await t.api('/api/v1/files/small.bin');
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    expect(await check(t, { readData: true })).toMatchObject({ ok: true, problems: [] });
  });
});

describe('ferry admin backup and restore', () => {
  let t: TestServer;
  const content = randomBytes(100_000);
  beforeAll(async () => {
    t = await startTestServer({ tlsSelfSigned: false, sftp: { host: '127.0.0.1', port: 0, passwordAuth: false } });
    expect((await uploadBuffer(t, '/kept.bin', content, 30_000)).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('backs up online (uploads going on) and restores into a fresh data directory', async () => {
    const dir = join(work, 'backup-1');
    // Uploads run while the backup is taken: the copy is consistent either way.
    const busy = Promise.all(Array.from({ length: 5 }, (_, i) => uploadBuffer(t, `/during/${i}.bin`, randomBytes(20_000), 10_000)));
    const r = await runFerry(['admin', 'backup', dir, '--json'], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: t.token } });
    expect(r.code).toBe(0);
    for (const res of await busy) expect(res.status).toBe(200);
    const manifest = JSON.parse(r.stdout) as { files: { path: string; sha256: string }[] };
    expect(manifest.files.map((f) => f.path).sort()).toEqual([
      'meta.db',
      'session-key',
      'ssh/ssh_host_ecdsa_key',
      'ssh/ssh_host_ecdsa_key.pub',
      'ssh/ssh_host_ed25519_key',
      'ssh/ssh_host_ed25519_key.pub',
    ]);
    expect(statSync(join(dir, 'meta.db')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'session-key'))).toEqual(readFileSync(join(t.dataDir, 'session-key')));

    // A second backup into the same directory is refused.
    const again = await t.api('/api/v1/admin/backup', { method: 'POST', json: { dir } });
    expect(again.status).toBe(409);
    expect((await t.api('/api/v1/admin/backup', { method: 'POST', json: { dir: 'relative/dir' } })).status).toBe(400);

    // Restore: the chunks copied as an operator would (rsync), then the backup.
    const fresh = join(work, 'restored');
    cpSync(join(t.dataDir, 'store'), join(fresh, 'store'), { recursive: true });
    const restore = await runFerry(['admin', 'restore', dir, '--data', fresh]);
    expect(restore.code).toBe(0);
    const twice = await runFerry(['admin', 'restore', dir, '--data', fresh]);
    expect(twice.code).toBe(6);
    expect(twice.stderr).toContain('--force');
    const s2 = await startTestServer({ dataDir: fresh, sftp: { host: '127.0.0.1', port: 0, passwordAuth: false } });
    try {
      // The same SFTP host keys: clients that knew the server still accept it.
      expect(s2.server.sftp!.hostKeys.map((k) => k.fingerprint)).toEqual(t.server.sftp!.hostKeys.map((k) => k.fingerprint));
      const res = await s2.api('/api/v1/files/kept.bin');
      if (res.status !== 200) throw new Error(await res.text());
      expect(Buffer.from(await res.arrayBuffer()).equals(content)).toBe(true);
      expect(await check(s2, { readData: true })).toMatchObject({ ok: true, problems: [] });
    } finally {
      await s2.server.close();
    }
  });

  it("refuses to restore into a running server's data directory, which goes on as it was", async () => {
    const dir = join(work, 'backup-live');
    expect((await t.api('/api/v1/admin/backup', { method: 'POST', json: { dir } })).status).toBe(200);
    const before = readFileSync(join(t.dataDir, 'meta.db'));
    const r = await runFerry(['admin', 'restore', dir, '--data', t.dataDir, '--force']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`in use by another ferry serve (pid ${process.pid}`);
    expect(readFileSync(join(t.dataDir, 'meta.db')).equals(before)).toBe(true);
    expect(existsSync(join(t.dataDir, 'meta.db-wal'))).toBe(true);
    // What is uploaded after it is still there after a restart (the database was not replaced under the server).
    expect((await uploadBuffer(t, '/after-restore.bin', content.subarray(0, 1000))).status).toBe(200);
    await t.restart();
    expect((await t.api('/api/v1/files/after-restore.bin')).status).toBe(200);
  });

  it('refuses a damaged backup', async () => {
    const dir = join(work, 'backup-2');
    expect((await t.api('/api/v1/admin/backup', { method: 'POST', json: { dir } })).status).toBe(200);
    const key = readFileSync(join(dir, 'session-key'));
    key[0] ^= 1;
    writeFileSync(join(dir, 'session-key'), key);
    const r = await runFerry(['admin', 'restore', dir, '--data', join(work, 'never'), '--force']);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('session-key does not match the backup manifest');
    expect(existsSync(join(work, 'never', 'meta.db'))).toBe(false);
  });
});

describe('what ferry admin backup says to copy (the chunks it does not hold)', () => {
  it('the server\'s own store as an rsync line that works, into BACKUP/store', async () => {
    const t = await startTestServer();
    try {
      expect((await uploadBuffer(t, '/kept.bin', randomBytes(50_000), 25_000)).status).toBe(200);
      const dir = join(work, 'backup-note');
      const r = await runFerry(['admin', 'backup', dir], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: t.token } });
      expect(r.code, r.stderr).toBe(0);
      // It said "copy /=/path/store", which is no command; now the line to run.
      const line = `rsync -a ${join(t.dataDir, 'store')}/ ${dir}/store/`;
      expect(r.stdout).toContain(`chunks are not in it: copy the chunk store now, incrementally, within the server's gcGrace (1 h by default):\n  ${line}\n`);
      const ran = spawnSync('sh', ['-c', line], { encoding: 'utf8' });
      expect(ran.status, ran.stderr).toBe(0);
      const files = (root: string) => (readdirSync(root, { recursive: true }) as string[]).filter((f) => statSync(join(root, f)).isFile()).sort();
      expect(files(join(dir, 'store')).length).toBeGreaterThan(0);
      expect(files(join(dir, 'store'))).toEqual(files(join(t.dataDir, 'store')));
      // The restore says how the chunks come back from there, and that line works too.
      const fresh = join(work, 'restored-note');
      const restore = await runFerry(['admin', 'restore', dir, '--data', fresh]);
      expect(restore.code, restore.stderr).toBe(0);
      const back = `rsync -a ${dir}/store/ ${fresh}/store/`;
      expect(restore.stdout).toContain(`\nchunks: ${back} (then start the server and run ferry admin check)\n`);
      expect(spawnSync('sh', ['-c', back]).status).toBe(0);
      expect(files(join(fresh, 'store'))).toEqual(files(join(t.dataDir, 'store')));
    } finally {
      await t.close();
    }
  });

  it('another store by name, its secrets redacted; the local / route still listed', async () => {
    const s3 = await startS3rver(['ferry-note']);
    const t = await startTestServer({ store: [parseStoreSpec(`/archive=s3:ferry-note/x?endpoint=${encodeURIComponent(s3.endpoint)}&accessKeyId=S3RVER&secretAccessKey=A-SECRET-0f3c&forcePathStyle=true`)] });
    try {
      const dir = join(work, 'backup-note-s3');
      const r = await runFerry(['admin', 'backup', dir], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: t.token } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).not.toContain('A-SECRET-0f3c');
      const restore = await runFerry(['admin', 'restore', dir, '--data', join(work, 'restored-s3')]);
      expect(restore.stdout).toContain(`\nchunks are not in a backup: put the chunk store back in ${join(work, 'restored-s3', 'store')} if it was lost, then start the server and run ferry admin check\n`);
      expect(readFileSync(join(dir, 'ferry-backup.json'), 'utf8')).not.toContain('A-SECRET-0f3c');
      expect(r.stdout).toContain(`  rsync -a ${join(t.dataDir, 'store')}/ ${dir}/store/\n`);
      expect(r.stdout).toContain(`  s3:ferry-note/x?endpoint=${encodeURIComponent(s3.endpoint)}&accessKeyId=***&secretAccessKey=***&forcePathStyle=true (the chunks of /archive: rclone sync it, or the bucket's own replication)\n`);
    } finally {
      await t.close();
      await s3.stop();
    }
  });
});
