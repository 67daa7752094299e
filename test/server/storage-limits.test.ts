/**
 * Quotas, file size and session limits, per-user dedup (no oracle, proof of possession) and
 * expiring files, against a real server. "Nothing half-stored" is checked on the store
 * itself: no file, no usage, and after abort + GC no chunk object left.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import type { MeResponse } from '../../src/core/protocol.js';
import { pieces, sha256, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, auditEvents, tokenFor } from '../helpers/users.js';

let t: TestServer;
let clock = Date.now();
const OCTET = { 'content-type': 'application/octet-stream' };

beforeAll(async () => {
  t = await startTestServer({ now: () => clock, maxUploadSessions: 3 });
});
afterAll(async () => t?.close());

const chunkFile = (hash: string) => join(t.dataDir, 'store', 'chunks', hash.slice(0, 2), hash);

async function me(token: string): Promise<MeResponse> {
  return (await (await t.api('/api/v1/me', { token })).json()) as MeResponse;
}

/** Creates a session for `buf` at `path` and sends all its chunks; returns the id (not committed). */
async function stage(token: string, path: string, buf: Buffer): Promise<{ id: string; hashes: string[] }> {
  const { refs, parts } = pieces(buf, 64 * 1024);
  const res = await t.api('/api/v1/uploads', { method: 'POST', json: { path, size: buf.length, hash: fileHashOf(refs), chunks: refs }, token });
  expect(res.status, await res.clone().text()).toBe(201);
  const { id } = (await res.json()) as { id: string };
  for (let i = 0; i < parts.length; i++) {
    expect((await t.api(`/api/v1/uploads/${id}/chunks/${refs[i].hash}`, { method: 'PUT', body: parts[i], headers: OCTET, token })).status).toBe(200);
  }
  return { id, hashes: refs.map((r) => r.hash) };
}

async function errorOf(res: Response): Promise<{ status: number; code: string; details?: Record<string, unknown> }> {
  const body = (await res.json()) as { error: { code: string; details?: Record<string, unknown> } };
  return { status: res.status, code: body.error.code, details: body.error.details };
}

describe('quotas', () => {
  it('refuses at session creation what cannot fit, before a byte is sent', async () => {
    await addUser(t, 'quinn', { quotaBytes: 100_000, quotaFiles: 3 });
    const q = await tokenFor(t, 'quinn');
    const refs = [{ hash: sha256(Buffer.from('x')), size: 150_000 }];
    const res = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/big', size: 150_000, hash: fileHashOf(refs), chunks: refs }, token: q.token });
    expect(await errorOf(res)).toMatchObject({ status: 413, code: 'FERRY_ERR_QUOTA_EXCEEDED', details: { limit: 'bytes', quota: 100_000, used: 0 } });
    expect((await me(q.token)).uploadSessions).toBe(0);
  });

  it('counts uploads in flight: of two sessions that each fit alone, the second is refused at creation', async () => {
    await addUser(t, 'ruth', { quotaBytes: 100_000 });
    const r = await tokenFor(t, 'ruth');
    const sa = await stage(r.token, '/a.bin', randomBytes(60_000));
    const b = randomBytes(60_000);
    const { refs } = pieces(b, 64 * 1024);
    const second = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/b.bin', size: b.length, hash: fileHashOf(refs), chunks: refs }, token: r.token });
    expect(await errorOf(second)).toMatchObject({ status: 413, code: 'FERRY_ERR_QUOTA_EXCEEDED', details: { limit: 'bytes', used: 0, inFlight: 60_000, wouldUse: 120_000 } });
    expect((await t.api(`/api/v1/uploads/${sa.id}/commit`, { method: 'POST', json: {}, token: r.token })).status).toBe(200);
    // Still no room once the first is committed (its bytes moved from "in flight" to "stored").
    await expect(uploadBuffer(t, '/b.bin', b, 64 * 1024, { token: r.token })).rejects.toThrow(/413.*QUOTA_EXCEEDED/);
    // Freeing space makes room again.
    expect((await t.api('/api/v1/files/a.bin', { method: 'DELETE', token: r.token })).status).toBe(204);
    expect((await uploadBuffer(t, '/b.bin', b, 64 * 1024, { token: r.token })).status).toBe(200);
  });

  it('re-checks at commit; a refused commit stores nothing and ends its session, whose chunks stay the user\'s until GC', async () => {
    await addUser(t, 'rhea', { quotaBytes: 100_000 });
    const r = await tokenFor(t, 'rhea');
    const setQuota = (quotaBytes: number) => t.api('/api/v1/users/rhea', { method: 'PATCH', json: { quotaBytes } });
    const c = randomBytes(70_000);
    const sc = await stage(r.token, '/c.bin', c);
    // The quota is lowered while the upload is in flight: the commit is refused...
    expect((await setQuota(50_000)).status).toBe(200);
    const refused = await t.api(`/api/v1/uploads/${sc.id}/commit`, { method: 'POST', json: {}, token: r.token });
    expect(await errorOf(refused)).toMatchObject({ status: 413, code: 'FERRY_ERR_QUOTA_EXCEEDED', details: { used: 0, wouldUse: 70_000 } });
    // ...nothing is stored, and the session is gone: no slot, no reservation held for a day.
    expect((await t.api('/api/v1/stat/c.bin', { token: r.token })).status).toBe(404);
    expect((await me(r.token)).usage).toEqual({ bytes: 0, files: 0 });
    expect((await me(r.token)).uploadSessions).toBe(0);
    expect((await t.api(`/api/v1/uploads/${sc.id}`, { token: r.token })).status).toBe(404);
    // With room again, the same upload sends nothing: the chunks are still the user's.
    expect((await setQuota(100_000)).status).toBe(200);
    const { refs } = pieces(c, 64 * 1024);
    const again = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/c.bin', size: c.length, hash: fileHashOf(refs), chunks: refs }, token: r.token });
    const { id, missing } = (await again.json()) as { id: string; missing: string[] };
    expect(missing).toEqual([]);
    expect((await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {}, token: r.token })).status).toBe(200);
    // An aborted session's chunks go with the next garbage collection, and only those.
    const sd = await stage(r.token, '/d.bin', randomBytes(20_000));
    await t.server.ctx.chunks.flush(); // chunk PUTs are made durable (renamed into place) in the background
    expect(existsSync(chunkFile(sd.hashes[0]))).toBe(true);
    expect((await t.api(`/api/v1/uploads/${sd.id}`, { method: 'DELETE', token: r.token })).status).toBe(204);
    clock += 1000;
    expect((await t.api('/api/v1/admin/gc', { method: 'POST', json: { graceSeconds: 0 } })).status).toBe(200);
    expect(existsSync(chunkFile(sd.hashes[0]))).toBe(false);
    expect(existsSync(chunkFile(sc.hashes[0]))).toBe(true);
  });

  it("dedup'd bytes count in full: the same content twice uses twice the quota", async () => {
    await addUser(t, 'sam', { quotaBytes: 25_000 });
    const s = await tokenFor(t, 'sam');
    const data = randomBytes(10_000);
    expect((await uploadBuffer(t, '/one', data, 64 * 1024, { token: s.token })).status).toBe(200);
    expect((await uploadBuffer(t, '/two', data, 64 * 1024, { token: s.token })).status).toBe(200);
    expect((await me(s.token)).usage).toEqual({ bytes: 20_000, files: 2 });
    await expect(uploadBuffer(t, '/three', data, 64 * 1024, { token: s.token })).rejects.toThrow(/413.*QUOTA_EXCEEDED/);
    // A copy is by reference, but it is a third copy all the same.
    const copy = await t.api('/api/v1/copy', { method: 'POST', json: { from: '/one', to: '/copy' }, token: s.token });
    expect(await errorOf(copy)).toMatchObject({ status: 413, code: 'FERRY_ERR_QUOTA_EXCEEDED' });
    // Replacing a file counts only the difference.
    expect((await uploadBuffer(t, '/two', randomBytes(12_000), 64 * 1024, { token: s.token })).status).toBe(200);
  });

  it('counts files too', async () => {
    await addUser(t, 'tess', { quotaFiles: 2 });
    const tt = await tokenFor(t, 'tess');
    for (const name of ['/1', '/2']) expect((await uploadBuffer(t, name, randomBytes(10), 1024, { token: tt.token })).status).toBe(200);
    await expect(uploadBuffer(t, '/3', randomBytes(10), 1024, { token: tt.token })).rejects.toThrow(/413.*files/);
    expect((await uploadBuffer(t, '/2', randomBytes(10), 1024, { token: tt.token })).status).toBe(200); // a replacement is no new file
  });

  it('holds a streaming upload of unknown size to the limits as its manifest grows', async () => {
    await addUser(t, 'uma', { quotaBytes: 100_000, maxFileSize: 80_000 });
    const u = await tokenFor(t, 'uma');
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/stream' }, token: u.token });
    const { id } = (await created.json()) as { id: string };
    const c = (n: number) => ({ hash: sha256(Buffer.from(`piece ${n}`)), size: 30_000 });
    expect((await t.api(`/api/v1/uploads/${id}/chunks`, { method: 'POST', json: { chunks: [c(1), c(2)] }, token: u.token })).status).toBe(200);
    const over = await t.api(`/api/v1/uploads/${id}/chunks`, { method: 'POST', json: { chunks: [c(3)] }, token: u.token });
    expect(await errorOf(over)).toMatchObject({ status: 413, code: 'FERRY_ERR_PAYLOAD_TOO_LARGE', details: { max: 80_000 } });
  });
});

describe('file size and session limits', () => {
  it('refuses a file over the largest size, the server-wide one and a user lower one', async () => {
    await addUser(t, 'vic', { maxFileSize: 1000 });
    const v = await tokenFor(t, 'vic');
    const refs = [{ hash: sha256(Buffer.from('y')), size: 1001 }];
    const res = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/f', size: 1001, hash: fileHashOf(refs), chunks: refs }, token: v.token });
    expect(await errorOf(res)).toMatchObject({ status: 413, code: 'FERRY_ERR_PAYLOAD_TOO_LARGE' });
    expect((await me(v.token)).limits.maxFileSize).toBe(1000);
  });

  it('at most N live upload sessions per user', async () => {
    await addUser(t, 'walt');
    const w = await tokenFor(t, 'walt');
    const open = () => t.api('/api/v1/uploads', { method: 'POST', json: { path: '/s' + randomBytes(4).toString('hex') }, token: w.token });
    for (let i = 0; i < 3; i++) expect((await open()).status).toBe(201);
    expect(await errorOf(await open())).toMatchObject({ status: 413, code: 'FERRY_ERR_QUOTA_EXCEEDED', details: { limit: 'sessions', max: 3 } });
    // Another user is not affected.
    expect((await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/x' } })).status).toBe(201);
    // 0: no limit (the settings table says so), applied live as a SIGHUP does.
    expect(await t.server.reload({ ...t.server.ctx.config, maxUploadSessions: 0 }, ['maxUploadSessions'])).toEqual([]);
    for (let i = 0; i < 3; i++) expect((await open()).status).toBe(201);
    expect(await t.server.reload({ ...t.server.ctx.config, maxUploadSessions: 3 }, ['maxUploadSessions'])).toEqual([]);
    expect((await open()).status).toBe(413);
  });
});

describe('per-user dedup', () => {
  it("another user's chunks are not offered as present, and cannot be committed by naming their hashes", async () => {
    await addUser(t, 'xena');
    await addUser(t, 'yuri');
    const x = await tokenFor(t, 'xena');
    const y = await tokenFor(t, 'yuri');
    const secret = randomBytes(150_000);
    expect((await uploadBuffer(t, '/secret.bin', secret, 64 * 1024, { token: x.token })).status).toBe(200);
    const { refs } = pieces(secret, 64 * 1024);

    // Yuri announces the same manifest (he learned the hashes somehow): every chunk is "missing".
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/mine.bin', size: secret.length, hash: fileHashOf(refs), chunks: refs }, token: y.token });
    const { id, missing } = (await created.json()) as { id: string; missing: string[] };
    expect(missing).toEqual(refs.map((r) => r.hash));
    // Committing without the bytes fails: the server holds them, but yuri never showed he does.
    const commit = await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {}, token: y.token });
    expect(await errorOf(commit)).toMatchObject({ status: 409, code: 'FERRY_ERR_UPLOAD_INCOMPLETE' });
    // Wrong bytes under the right hash are refused; nothing of xena's is readable through the chunk route.
    const bad = await t.api(`/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', body: randomBytes(refs[0].size), headers: OCTET, token: y.token });
    expect(bad.status).toBe(400);
    expect((await t.api(`/api/v1/chunks/${refs[0].hash}`, { token: y.token })).status).toBe(400);
    expect((await t.api(`/api/v1/chunks/${refs[0].hash}?path=/mine.bin`, { token: y.token })).status).toBe(404);
  });

  it('sending the real bytes proves possession: stored once, counted for both', async () => {
    await addUser(t, 'zoe');
    const z = await tokenFor(t, 'zoe');
    const x = await tokenFor(t, 'xena');
    const data = randomBytes(100_000);
    expect((await uploadBuffer(t, '/shared.bin', data, 64 * 1024, { token: x.token })).status).toBe(200);
    const before = (await (await t.api('/api/v1/admin/stats')).json()) as { storedBytes: number };
    const { refs, parts } = pieces(data, 64 * 1024);
    const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/same.bin', size: data.length, hash: fileHashOf(refs), chunks: refs }, token: z.token });
    const { id, missing } = (await created.json()) as { id: string; missing: string[] };
    expect(missing).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      const put = await t.api(`/api/v1/uploads/${id}/chunks/${refs[i].hash}`, { method: 'PUT', body: parts[i], headers: OCTET, token: z.token });
      // New to zoe: the answer says nothing of xena's copy.
      expect(await put.json()).toMatchObject({ stored: true });
    }
    // Sent again, it is "already yours".
    const again1 = await t.api(`/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', body: parts[0], headers: OCTET, token: z.token });
    expect(await again1.json()).toMatchObject({ stored: false });
    expect((await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {}, token: z.token })).status).toBe(200);
    const after = (await (await t.api('/api/v1/admin/stats')).json()) as { storedBytes: number };
    expect(after.storedBytes).toBe(before.storedBytes); // no new bytes on disk
    expect((await me(z.token)).usage.bytes).toBe(100_000);
    // A second upload by zoe herself now needs no bytes at all.
    const again = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/again.bin', size: data.length, hash: fileHashOf(refs), chunks: refs }, token: z.token });
    expect(((await again.json()) as { missing: string[] }).missing).toEqual([]);
  });
});

describe('expiring files', () => {
  it('a file with a TTL disappears for readers when it expires; the sweeper deletes it and GC its chunks', async () => {
    await addUser(t, 'tina');
    const tt = await tokenFor(t, 'tina');
    const data = randomBytes(70_000);
    expect((await uploadBuffer(t, '/tmp/report.pdf', data, 64 * 1024, { token: tt.token, ttlSeconds: 3600 })).status).toBe(200);
    expect((await uploadBuffer(t, '/tmp/keep.txt', randomBytes(10), 1024, { token: tt.token })).status).toBe(200);
    const st = (await (await t.api('/api/v1/stat/tmp/report.pdf', { token: tt.token })).json()) as { expiresAt: number };
    expect(st.expiresAt).toBe(clock + 3_600_000);
    const hash = pieces(data, 64 * 1024).refs[0].hash;

    clock += 3_600_001;
    expect((await t.api('/api/v1/files/tmp/report.pdf', { token: tt.token })).status).toBe(404);
    const listed = (await (await t.api('/api/v1/list/tmp', { token: tt.token })).json()) as { entries: { name: string }[] };
    expect(listed.entries.map((e) => e.name)).toEqual(['keep.txt']);
    expect(existsSync(chunkFile(hash))).toBe(true);

    expect(await (await t.api('/api/v1/admin/sweep', { method: 'POST' })).json()).toEqual({ files: 1 });
    expect((await me(tt.token)).usage.files).toBe(1);
    await t.api('/api/v1/admin/gc', { method: 'POST', json: { graceSeconds: 0 } });
    expect(existsSync(chunkFile(hash))).toBe(false);
    expect((await auditEvents(t, 'event=file.expire')).map((e) => e.target)).toContain('/users/tina/tmp/report.pdf');
  });

  it('replacing an expiring file with one without a TTL keeps the new one', async () => {
    await addUser(t, 'ugo');
    const u = await tokenFor(t, 'ugo');
    expect((await uploadBuffer(t, '/f', randomBytes(10), 1024, { token: u.token, ttlSeconds: 60 })).status).toBe(200);
    expect((await uploadBuffer(t, '/f', randomBytes(10), 1024, { token: u.token })).status).toBe(200);
    clock += 61_000;
    await t.api('/api/v1/admin/sweep', { method: 'POST' });
    const st = (await (await t.api('/api/v1/stat/f', { token: u.token })).json()) as { expiresAt?: number };
    expect(st.expiresAt).toBeUndefined();
  });

  it('refuses silly TTLs', async () => {
    for (const ttlSeconds of [0, -5, 1.5, 400 * 365 * 86_400]) {
      const res = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/ttl', ttlSeconds } });
      expect(res.status, String(ttlSeconds)).toBe(400);
    }
  });
});
