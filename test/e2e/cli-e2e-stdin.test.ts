/**
 * `ferry put --encrypt -` and `put - /vault/name` (issue 18): an end-to-end encrypted put
 * that reads its input once (src/client/e2e/single-pass.ts). A real `ferry serve`, the
 * real CLI through a proxy that looks for a plaintext marker in every byte. The stream is
 * written to the CLI in odd-sized pieces, so chunks span many reads; the file comes back
 * byte for byte; a second put of the same bytes sends only the header; a wrong passphrase
 * is refused before any upload begins; the chunks sent before the commit survive a
 * garbage collection run in the middle; a put killed midway leaves nothing visible, its
 * session goes as any abandoned one, and the next put works.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, ok, waitFor, type E2EWorld } from '../helpers/e2e.js';
import { filesContaining, startRecordingProxy, type RecordingProxy } from '../helpers/recording-proxy.js';
import type { AdminUpload } from '../../src/core/protocol.js';

const MARKER = 'STDIN-PLAINTEXT-MARKER-51c2e8';
const PASS = 'a stream of secrets';

let w: E2EWorld;
let proxy: RecordingProxy;
let env: Record<string, string>;
let plain: Buffer;

/** The marker every 64 KiB, random bytes between: several distinct chunks of about 1 MiB. */
function sample(mib: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < mib * 16; i++) parts.push(Buffer.from(`${MARKER} ${i}\n`), randomBytes(64 * 1024 - 40));
  return Buffer.concat(parts);
}

/**
 * Writes `data` to the child's stdin in pieces of `piece` bytes, waiting for drains (a pipe,
 * as `tar c | ferry put -`); stops when the child has exited (a refused put reads nothing).
 */
async function feed(child: ChildProcess, data: Buffer, piece = 37 * 1024 + 11): Promise<void> {
  const exited = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
  let gone = false;
  void exited.then(() => (gone = true));
  for (let o = 0; o < data.length && !gone; o += piece) {
    if (!child.stdin!.write(data.subarray(o, o + piece))) await Promise.race([new Promise((r) => child.stdin!.once('drain', r)), exited]);
  }
}

/** Runs the CLI to its end with `data` fed in pieces; its exit code, stdout and stderr. */
async function putPiped(args: string[], data: Buffer, extraEnv: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = w.spawn(args, { env: { ...env, ...extraEnv } });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  child.stdin!.on('error', () => undefined); // a refused put exits before reading
  const closed = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  await feed(child, data).catch(() => undefined);
  child.stdin!.end();
  const code = await closed;
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

async function openUploads(): Promise<AdminUpload[]> {
  return JSON.parse(ok(await w.ferry(['admin', 'uploads', '--json'], { env })).stdout) as AdminUpload[];
}

beforeAll(async () => {
  w = await startWorld();
  proxy = await startRecordingProxy(w.server.port, [MARKER]);
  env = { FERRY_SERVER: proxy.url };
  await writeFile(join(w.dir, 'pass'), PASS + '\n');
  await writeFile(join(w.dir, 'wrong'), 'not the passphrase\n');
  // More than the first batch (16 MiB): the stream goes through a gathering session.
  plain = sample(20);
  ok(await w.ferry(['mkdir', '--e2e', '/vault', '--passphrase-file', join(w.dir, 'pass')], { env }));
});
afterAll(async () => {
  await proxy?.close();
  await w?.close();
});

describe('put - into a vault, and put --encrypt -', () => {
  it('a piped stream into a vault is encrypted on the way: neither the proxy nor the data directory sees the marker', async () => {
    const before = await w.requests();
    const put = await putPiped(['put', '-', '/vault/stream.bin', '--json', '--passphrase-file', join(w.dir, 'pass')], plain);
    expect(put.code, put.stderr).toBe(0);
    const r = JSON.parse(put.stdout) as { files: number; bytes: number; bytesTransferred: number; chunks: number };
    expect(r).toMatchObject({ files: 1, bytes: plain.length });
    expect(r.chunks).toBeGreaterThan(2); // chunks span the 37 KiB writes
    expect(r.bytesTransferred).toBeGreaterThan(plain.length); // ciphertext (16 bytes a chunk more) and the header
    expect(proxy.bytes()).toBeGreaterThan(plain.length);
    expect(proxy.saw(MARKER)).toBe(false);
    expect(await filesContaining(join(w.dir, 'data'), MARKER)).toEqual([]);
    // Two sessions (gathering, commit), and nothing of the upload is left open: the
    // gathering session went with the commit.
    const after = await w.requests();
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect(delta('POST /api/v1/uploads')).toBe(2);
    expect(delta('DELETE /api/v1/uploads/:id')).toBe(1);
    expect(await openUploads()).toEqual([]);
  });

  it('get returns the stream byte for byte, with its name in the sealed table', async () => {
    const got = await w.ferry(['get', '/vault/stream.bin', '-', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdoutBytes.equals(plain)).toBe(true);
    const ls = await w.ferry(['ls', '/vault', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(ls.stdout).toContain('stream.bin');
    expect(proxy.saw(MARKER)).toBe(false);
  });

  it('the same bytes piped again send only the new header (dedup within the user key)', async () => {
    const before = await w.metric('ferry_chunk_body_bytes_received_total');
    const put = await putPiped(['put', '--encrypt', '-', '/again.bin', '--json', '--passphrase-file', join(w.dir, 'pass')], plain);
    expect(put.code, put.stderr).toBe(0);
    const r = JSON.parse(put.stdout) as { bytesReused: number; bytesTransferred: number; chunksTransferred: number };
    const received = (await w.metric('ferry_chunk_body_bytes_received_total')) - before;
    expect(r.bytesReused).toBe(plain.length);
    expect(r.chunksTransferred).toBe(1);
    expect(received).toBe(r.bytesTransferred);
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(16 * 1024);
    const got = await w.ferry(['get', '/again.bin', join(w.dir, 'again.bin'), '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(got.code, got.stderr).toBe(0);
    expect((await readFile(join(w.dir, 'again.bin'))).equals(plain)).toBe(true);
  });

  it('put --encrypt FILE of the same bytes (read once too, through a gathering session) stores the same chunks and reads back whole', async () => {
    const local = join(w.dir, 'same.bin');
    await writeFile(local, plain);
    const before = await w.requests();
    const put = await w.ferry(['put', '--encrypt', local, '/docs-same.bin', '--json', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(put.code, put.stderr).toBe(0);
    const after = await w.requests();
    expect((after.get('POST /api/v1/uploads') ?? 0) - (before.get('POST /api/v1/uploads') ?? 0)).toBe(2);
    expect((JSON.parse(put.stdout) as { bytesReused: number }).bytesReused).toBe(plain.length);
    const got = await w.ferry(['get', '/docs-same.bin', '-', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdoutBytes.equals(plain)).toBe(true);
  });

  it('a wrong passphrase is refused (FERRY_ERR_CRYPTO_KEY_WRONG) before any upload session or chunk', async () => {
    const sessions = (await w.requests()).get('POST /api/v1/uploads') ?? 0;
    const bodies = await w.metric('ferry_chunk_body_bytes_received_total');
    const put = await putPiped(['put', '--encrypt', '-', '/wrong.bin', '--passphrase-file', join(w.dir, 'wrong')], plain);
    expect(put.code).toBe(4);
    expect(put.stderr).toContain('FERRY_ERR_CRYPTO_KEY_WRONG');
    expect((await w.requests()).get('POST /api/v1/uploads') ?? 0).toBe(sessions);
    expect(await w.metric('ferry_chunk_body_bytes_received_total')).toBe(bodies);
  });

  it('without a secret given, a piped stream is not read as the passphrase: FERRY_ERR_CRYPTO_KEY_MISSING', async () => {
    const put = await putPiped(['put', '-', '/vault/nokey.bin'], Buffer.from(`${PASS}\nthe rest\n`));
    expect(put.code).toBe(2);
    expect(put.stderr).toContain('FERRY_ERR_CRYPTO_KEY_MISSING');
    expect(put.stderr).toMatch(/--passphrase-file/);
  });

  it('a folder as DEST is refused as for a plain put - (FERRY_ERR_IS_A_DIRECTORY), nothing sent', async () => {
    ok(await w.ferry(['mkdir', '/docs'], { env }));
    const bodies = await w.metric('ferry_chunk_body_bytes_received_total');
    for (const dest of ['/docs', '/docs/', '/vault/']) {
      const put = await putPiped(['put', '--encrypt', '-', dest, '--passphrase-file', join(w.dir, 'pass')], plain.subarray(0, 100_000));
      expect(put.code, dest).toBe(6);
      expect(put.stderr).toContain('FERRY_ERR_IS_A_DIRECTORY');
    }
    expect(await w.metric('ferry_chunk_body_bytes_received_total')).toBe(bodies);
    // What a plain put - does there (after sending the bytes: it finds out at the commit).
    const plainPut = await putPiped(['put', '-', '/docs'], Buffer.from('x'));
    expect(plainPut.code).toBe(6);
    expect(plainPut.stderr).toContain('FERRY_ERR_IS_A_DIRECTORY');
  });

  it('a small stream (within the first batch) takes one upload session, as a plain put does', async () => {
    const small = sample(3);
    const before = await w.requests();
    const put = await putPiped(['put', '-', '/vault/small.bin', '--passphrase-file', join(w.dir, 'pass')], small);
    expect(put.code, put.stderr).toBe(0);
    const after = await w.requests();
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect(delta('POST /api/v1/uploads')).toBe(1);
    expect(delta('POST /api/v1/uploads/:id/commit')).toBe(1);
    expect(delta('DELETE /api/v1/uploads/:id')).toBe(0);
    const got = await w.ferry(['get', '/vault/small.bin', '-', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdoutBytes.equals(small)).toBe(true);
    expect(proxy.saw(MARKER)).toBe(false);
  });

  it('put --help shows the stdin examples', async () => {
    const help = await w.ferry(['put', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/\| ferry put --encrypt --passphrase-file \S+ - \/backup\/papers\.tar/);
    expect(help.stdout).toMatch(/ferry put - \/vault\/db\.sql/);
  });
});

describe('the chunks sent before the commit', () => {
  it('survive a garbage collection (grace 0) run while the stream is half read', async () => {
    // Chunks are appended and sent in batches of up to 16 MiB (four maximum chunks): feed more than one.
    const data = sample(28);
    const child = w.spawn(['put', '-', '/vault/gc.bin', '--json', '--passphrase-file', join(w.dir, 'pass')], { env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    const closed = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    const before = await w.metric('ferry_chunk_body_bytes_received_total');
    await feed(child, data.subarray(0, 20 * 1024 * 1024));
    // Chunks taken by the server (and their session still open) before the collection.
    await waitFor(async () => (await w.metric('ferry_chunk_body_bytes_received_total')) - before >= 8 * 1024 * 1024);
    ok(await w.ferry(["admin", "gc", "--grace", "0s"], { env }));
    await feed(child, data.subarray(20 * 1024 * 1024));
    child.stdin!.end();
    expect(await closed, Buffer.concat(err).toString()).toBe(0);
    // A chunk the collection had taken could not be sent again (stdin is read once): the
    // put would have failed. It sent each chunk once, and the file is whole.
    const r = JSON.parse(Buffer.concat(out).toString()) as { bytesTransferred: number };
    expect(r.bytesTransferred).toBeLessThan(data.length + 64 * 1024);
    const got = await w.ferry(['get', '/vault/gc.bin', '-', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdoutBytes.equals(data)).toBe(true);
  });

  it('a put killed midway leaves no visible file; its session is aborted and collected like any other; the next put works', async () => {
    const data = sample(24);
    const listBefore = ok(await w.ferry(['ls', '/vault'], { env })).stdout;
    const child = w.spawn(['put', '-', '/vault/killed.bin', '--passphrase-file', join(w.dir, 'pass')], { env });
    child.stdin!.on('error', () => undefined);
    child.stderr!.resume();
    const closed = new Promise((r) => child.on('close', r));
    const before = await w.metric('ferry_chunk_body_bytes_received_total');
    await feed(child, data.subarray(0, 20 * 1024 * 1024));
    await waitFor(async () => (await w.metric('ferry_chunk_body_bytes_received_total')) - before >= 8 * 1024 * 1024);
    child.kill('SIGKILL');
    await closed;

    // Nothing visible: the vault lists what it did before; the plain name is not found.
    expect(ok(await w.ferry(['ls', '/vault'], { env })).stdout).toBe(listBefore);
    const get = await w.ferry(['get', '/vault/killed.bin', join(w.dir, 'killed.bin'), '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(get.code).not.toBe(0);
    expect(get.stderr).toContain('FERRY_ERR_NOT_FOUND');

    // What is left is one open upload session (of an encrypted name), as any interrupted
    // upload leaves; it goes when it expires (--upload-ttl) or is aborted, its chunks with
    // the next garbage collection.
    const open = (await openUploads()).filter((u) => u.path?.startsWith('/vault/'));
    expect(open).toHaveLength(1);
    expect(open[0].path).toMatch(/^\/vault\/[A-Za-z0-9_-]+\.fe2e$/);
    const stats = async () => JSON.parse(ok(await w.ferry(['admin', 'stats', '--json'], { env })).stdout) as { chunks: number };
    const chunksBefore = (await stats()).chunks;
    ok(await w.ferry(['admin', 'uploads', 'abort', open[0].id], { env }));
    const gc = JSON.parse(ok(await w.ferry(['admin', 'gc', '--grace', '0s', '--json'], { env })).stdout) as { chunks: number };
    expect(gc.chunks).toBeGreaterThanOrEqual(2);
    expect((await stats()).chunks).toBeLessThanOrEqual(chunksBefore - 2);

    const again = await putPiped(['put', '-', '/vault/killed.bin', '--passphrase-file', join(w.dir, 'pass')], data);
    expect(again.code, again.stderr).toBe(0);
    const back = await w.ferry(['get', '/vault/killed.bin', '-', '--passphrase-file', join(w.dir, 'pass')], { env });
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdoutBytes.equals(data)).toBe(true);
    expect((await openUploads()).filter((u) => u.path?.startsWith('/vault/'))).toEqual([]);
    expect(proxy.saw(MARKER)).toBe(false);
  });
});

describe('quota', () => {
  it('a user with room for the file once (not twice) can put it: the gathering session gives its reservation back', async () => {
    const admin = { authorization: `Bearer ${w.server.adminToken}`, 'content-type': 'application/json' };
    const data = sample(20);
    let res = await fetch(`${w.server.url}/api/v1/users`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'quoted', quotaBytes: Math.round(data.length * 1.5) }) });
    expect(res.status).toBe(201);
    res = await fetch(`${w.server.url}/api/v1/tokens`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'quoted token', user: 'quoted' }) });
    expect(res.status).toBe(201);
    const token = ((await res.json()) as { token: string }).token;
    const userEnv = { FERRY_TOKEN: token, FERRY_E2E_PASSPHRASE: PASS };
    const put = await putPiped(['put', '--encrypt', '-', '/big.bin'], data, userEnv);
    expect(put.code, put.stderr).toBe(0);
    const got = await w.ferry(['get', '/big.bin', '-'], { env: { ...env, ...userEnv } });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdoutBytes.equals(data)).toBe(true);
    // Twice the quota is still refused, with the server's code.
    const tooBig = await putPiped(['put', '--encrypt', '-', '/bigger.bin'], Buffer.concat([data, data]), userEnv);
    expect(tooBig.code).not.toBe(0);
    expect(tooBig.stderr).toContain('FERRY_ERR_QUOTA_EXCEEDED');
  });
});
