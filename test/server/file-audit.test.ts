/**
 * The audit log of file operations: upload, download (whole, ranged, chunk by chunk; once
 * per transfer), delete, move, copy and share access, each with path, user, token, address
 * and front; `ferry admin audit --path --event`; the access log's path.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry, ManifestResponse } from '../../src/core/protocol.js';
import { runFerry } from '../helpers/cli.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

let t: TestServer;
const logLines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk: Buffer, _e, cb) {
    for (const line of chunk.toString().split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
    cb();
  },
});

beforeAll(async () => {
  t = await startTestServer({ logLevel: 'info', logDestination: sink });
});
afterAll(async () => {
  await t?.close();
});

const audit = async (query: string): Promise<AuditEntry[]> => ((await (await t.api(`/api/v1/admin/audit?${query}`)).json()) as { entries: AuditEntry[] }).entries;

describe('audit of file operations', () => {
  let ana: { token: string; id: string };
  beforeAll(async () => {
    await addUser(t, 'ana', { home: '/home/ana' });
    ana = await tokenFor(t, 'ana');
  });

  it('an upload names the file, the user, the token, the address and the front', async () => {
    expect((await uploadBuffer(t, '/up.txt', Buffer.from('uploaded'), 1024, { token: ana.token })).status).toBe(200);
    const [e] = await audit('path=/home/ana/up.txt&event=upload');
    expect(e).toMatchObject({ event: 'file.upload', ok: true, user: 'ana', tokenId: ana.id, ip: '127.0.0.1', front: 'api', path: '/home/ana/up.txt' });
    expect(e.details).toMatchObject({ size: 8 });
  });

  it('a one-request upload (curl -T, a form) and a WebDAV PUT name the address and the front too', async () => {
    const auth = { authorization: `Bearer ${ana.token}` };
    expect((await fetch(`${t.url}/api/v1/files/one.txt`, { method: 'PUT', headers: auth, body: 'one request' })).status).toBe(201);
    const form = new FormData();
    form.append('file', new Blob(['a form']), 'form.txt');
    expect((await fetch(`${t.url}/api/v1/files/inbox`, { method: 'POST', headers: auth, body: form })).status).toBe(201);
    expect((await fetch(`${t.url}/dav/dav.txt`, { method: 'PUT', headers: auth, body: 'over webdav' })).status).toBe(201);
    const of = async (path: string) => (await audit(`path=${path}&event=upload`))[0];
    // Before, these two were audited with neither (ip and front null).
    expect(await of('/home/ana/one.txt')).toMatchObject({ user: 'ana', tokenId: ana.id, ip: '127.0.0.1', front: 'api' });
    expect(await of('/home/ana/inbox/form.txt')).toMatchObject({ user: 'ana', tokenId: ana.id, ip: '127.0.0.1', front: 'api' });
    expect(await of('/home/ana/dav.txt')).toMatchObject({ user: 'ana', tokenId: ana.id, ip: '127.0.0.1', front: 'webdav' });
    // One entry each, not one more from the front.
    for (const path of ['/home/ana/one.txt', '/home/ana/inbox/form.txt', '/home/ana/dav.txt']) expect(await audit(`path=${path}&event=upload`), path).toHaveLength(1);
  });

  it('WebDAV MOVE, COPY and DELETE are audited as the API\'s are, with the path `--path` finds', async () => {
    const auth = { authorization: `Bearer ${ana.token}` };
    const dav = (method: string, path: string, headers: Record<string, string> = {}) => fetch(`${t.url}/dav${path}`, { method, headers: { ...auth, ...headers } });
    expect((await fetch(`${t.url}/dav/w1.txt`, { method: 'PUT', headers: auth, body: 'webdav' })).status).toBe(201);
    expect((await dav('MOVE', '/w1.txt', { destination: `${t.url}/dav/w2.txt` })).status).toBe(201);
    expect((await dav('COPY', '/w2.txt', { destination: `${t.url}/dav/w3.txt` })).status).toBe(201);
    expect((await dav('DELETE', '/w3.txt')).status).toBe(204);
    // Before, MOVE and COPY were not audited at all, and DELETE had no path (so --path missed it).
    const one = async (query: string) => {
      const found = await audit(query);
      expect(found, query).toHaveLength(1);
      return found[0];
    };
    expect(await one('path=/home/ana/w1.txt&event=move')).toMatchObject({ user: 'ana', ip: '127.0.0.1', front: 'webdav', path: '/home/ana/w1.txt', target: '/home/ana/w2.txt' });
    expect(await one('path=/home/ana/w2.txt&event=copy')).toMatchObject({ user: 'ana', ip: '127.0.0.1', front: 'webdav', path: '/home/ana/w2.txt', target: '/home/ana/w3.txt' });
    expect(await one('path=/home/ana/w3.txt&event=delete')).toMatchObject({ user: 'ana', ip: '127.0.0.1', front: 'webdav', path: '/home/ana/w3.txt' });
  });

  it('a download is recorded once per transfer: whole, repeated, ranged, or chunk by chunk', async () => {
    const body = Buffer.alloc(200_000, 3);
    expect((await uploadBuffer(t, '/big.bin', body, 50_000, { token: ana.token })).status).toBe(200);
    const get = (headers: Record<string, string> = {}) => t.api('/api/v1/files/big.bin', { token: ana.token, headers });
    expect((await get()).status).toBe(200);
    expect((await get()).status).toBe(200); // the same transfer again (a retry): not recorded twice
    let downloads = await audit('path=/home/ana/big.bin&event=download');
    expect(downloads).toHaveLength(1);
    expect(downloads[0]).toMatchObject({ user: 'ana', tokenId: ana.id, front: 'api', details: { via: 'file', size: 200_000 } });

    // Ranged, in four parts, by another token: one entry, with the first range.
    const other = await tokenFor(t, 'ana', { name: 'second' });
    for (let i = 0; i < 4; i++) {
      const r = await t.api('/api/v1/files/big.bin', { token: other.token, headers: { range: `bytes=${i * 50_000}-${i * 50_000 + 49_999}` } });
      expect(r.status).toBe(206);
      await r.arrayBuffer();
    }
    downloads = await audit('path=/home/ana/big.bin&event=download');
    expect(downloads).toHaveLength(2);
    expect(downloads[0]).toMatchObject({ tokenId: other.id, details: { range: 'bytes=0-49999' } });

    // Manifest and then its chunks, by a third token: one entry.
    const third = await tokenFor(t, 'ana', { name: 'third' });
    const manifest = (await (await t.api('/api/v1/manifests/big.bin', { token: third.token })).json()) as ManifestResponse;
    for (const c of new Set(manifest.chunks.map((x) => x.hash))) expect((await t.api(`/api/v1/chunks/${c}?path=/big.bin`, { token: third.token })).status).toBe(200);
    downloads = await audit('path=/home/ana/big.bin&event=download');
    expect(downloads).toHaveLength(3);
    expect(downloads[0]).toMatchObject({ tokenId: third.id, details: { via: 'manifest' } });
    // A HEAD transfers nothing.
    expect((await t.api('/api/v1/files/up.txt', { method: 'HEAD', token: ana.token })).status).toBe(200);
    expect(await audit('path=/home/ana/up.txt&event=download')).toHaveLength(0);
  });

  it('move, copy and delete name the path; share access is recorded with the share front', async () => {
    expect((await t.api('/api/v1/copy', { method: 'POST', token: ana.token, json: { from: '/up.txt', to: '/copy.txt' } })).status).toBe(200);
    expect((await t.api('/api/v1/move', { method: 'POST', token: ana.token, json: { from: '/copy.txt', to: '/moved.txt' } })).status).toBe(200);
    expect((await t.api('/api/v1/files/moved.txt', { method: 'DELETE', token: ana.token })).status).toBe(204);
    const [copy] = await audit('path=/home/ana/up.txt&event=copy');
    expect(copy).toMatchObject({ user: 'ana', tokenId: ana.id, target: '/home/ana/copy.txt', details: { from: '/home/ana/up.txt', to: '/home/ana/copy.txt' } });
    const [move] = await audit('path=/home/ana/copy.txt&event=move');
    expect(move).toMatchObject({ user: 'ana', target: '/home/ana/moved.txt' });
    const [del] = await audit('path=/home/ana/moved.txt&event=delete');
    expect(del).toMatchObject({ user: 'ana', front: 'api' });

    const link = await share(t, ana.token, { path: '/up.txt' });
    const res = await fetch(link.url);
    expect(await res.text()).toBe('uploaded');
    const entries = await audit('path=/home/ana/up.txt');
    const download = entries.find((e) => e.event === 'file.download');
    expect(download).toMatchObject({ user: 'ana', tokenId: `share:${link.id}`, front: 'share', details: { via: 'share' } });
    expect(entries.find((e) => e.event === 'share.use')).toMatchObject({ front: 'share', path: '/home/ana/up.txt' });
  });

  it('a link records a visitor\'s downloads of a file once per transfer, not once per request (fifteenth round)', async () => {
    // Anyone holding a link could add an audit entry per request before: 2,597 share.use
    // entries in 10 s from one address asking for one byte at a time (the log has no limit).
    expect((await uploadBuffer(t, '/flood.bin', Buffer.alloc(4096, 7), 1024, { token: ana.token })).status).toBe(200);
    const open = await share(t, ana.token, { path: '/flood.bin' });
    const uses = async () => (await audit('path=/home/ana/flood.bin&event=share.use&limit=1000')).length;
    for (let i = 0; i < 10; i++) {
      const whole = await fetch(open.url);
      expect(whole.status).toBe(200);
      await whole.arrayBuffer();
      const piece = await fetch(open.url, { headers: { range: `bytes=${i}-${i}` } });
      expect(piece.status).toBe(206);
      await piece.arrayBuffer();
    }
    expect(await uses()).toBe(1);
    // A zip of a folder link the same.
    expect((await t.api('/api/v1/mkdir/zipped', { method: 'POST', token: ana.token })).status).toBeLessThan(300);
    expect((await uploadBuffer(t, '/zipped/z.txt', Buffer.from('zip me'), 1024, { token: ana.token })).status).toBe(200);
    const folder = await share(t, ana.token, { path: '/zipped' });
    for (let i = 0; i < 3; i++) {
      const zip = await fetch(`${folder.url}?zip=1`);
      expect(zip.status).toBe(200);
      await zip.arrayBuffer();
    }
    const zips = (await audit(`event=share.use&limit=1000`)).filter((e) => e.target === folder.id);
    expect(zips).toHaveLength(1);
    // A link with a download limit records every use (at most that many), and no continuation.
    const limited = await share(t, ana.token, { path: '/flood.bin', maxUses: 3 });
    for (let i = 0; i < 3; i++) {
      // Not compressed: a range continues only a download of the same bytes (its ETag).
      const whole = await fetch(limited.url, { headers: { 'accept-encoding': 'identity' } });
      expect(whole.status).toBe(200);
      await whole.arrayBuffer();
    }
    const resumed = await fetch(limited.url, { headers: { range: 'bytes=0-9' } });
    expect(resumed.status).toBe(206);
    await resumed.arrayBuffer();
    expect((await audit(`event=share.use&limit=1000`)).filter((e) => e.target === limited.id)).toHaveLength(3);
    expect(await uses()).toBe(4);
  });

  it('the path filter takes a subtree, and not a sibling that shares a prefix', async () => {
    expect((await uploadBuffer(t, '/dir/a.txt', Buffer.from('a'), 1024, { token: ana.token })).status).toBe(200);
    expect((await uploadBuffer(t, '/dir-b.txt', Buffer.from('b'), 1024, { token: ana.token })).status).toBe(200);
    const under = await audit('path=/home/ana/dir&event=upload');
    expect(under.map((e) => e.path)).toEqual(['/home/ana/dir/a.txt']);
  });

  it('ferry admin audit --path --event download', async () => {
    const r = await runFerry(['admin', 'audit', '--path', '/home/ana/big.bin', '--event', 'download', '--json'], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: t.token } });
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    expect(rows).toHaveLength(3);
    expect(rows.every((e) => e.event === 'file.download' && e.path === '/home/ana/big.bin')).toBe(true);
    const text = await runFerry(['admin', 'audit', '--path', '/home/ana/big.bin', '--event', 'download'], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: t.token } });
    expect(text.stdout).toMatch(/file\.download +yes +ana +\S+ +127\.0\.0\.1 +api +\/home\/ana\/big\.bin/);
  });

  it('the access log names the path a request was about, as the server names it (as the audit does)', async () => {
    const lines = logLines.filter((l) => l.msg === 'request' && l.route === '/api/v1/files/*' && l.method === 'GET');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.map((l) => l.path)).toContain('/home/ana/big.bin');
    const moves = logLines.filter((l) => l.msg === 'request' && l.route === '/api/v1/move');
    expect(moves.map((l) => l.path)).toContain('/home/ana/copy.txt');
  });
});

describe('audit retention (auditDays)', () => {
  it('the sweep deletes entries older than auditDays and keeps the rest; 0 keeps everything', async () => {
    let clock = Date.UTC(2026, 11, 1);
    const kept = await startTestServer({ now: () => clock, auditDays: 0 });
    const pruned = await startTestServer({ now: () => clock, auditDays: 30 });
    try {
      const events = async (s: TestServer) => ((await (await s.api('/api/v1/admin/audit?limit=1000')).json()) as { entries: AuditEntry[] }).entries;
      const fail = async (s: TestServer, user: string) => {
        const res = await fetch(`${s.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password: 'wrong-password' }) });
        expect(res.status).toBe(401);
        await res.arrayBuffer();
      };
      for (const s of [kept, pruned]) await fail(s, 'old-entry');
      clock += 31 * 86_400_000;
      for (const s of [kept, pruned]) {
        await fail(s, 'new-entry');
        expect((await s.api('/api/v1/admin/sweep', { method: 'POST' })).status).toBe(200);
      }
      const names = async (s: TestServer) => (await events(s)).filter((e) => e.event === 'auth.login').map((e) => e.details?.userName ?? e.user);
      expect(await names(pruned)).toEqual(['new-entry']);
      expect(await names(kept)).toEqual(['new-entry', 'old-entry']);
    } finally {
      await kept.close();
      await pruned.close();
    }
  });
});

