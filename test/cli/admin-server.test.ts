/** `ferry admin stats`, `ferry admin gc` and `ferry admin uploads` against a real server. */
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatSize } from '../../src/core/units.js';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

describe('admin stats and gc', () => {
  it('stats counts what was stored, dedup included; gc removes the chunks of a deleted file', async () => {
    await writeFile(join(w.dir, 'a.bin'), Buffer.alloc(300_000, 7));
    ok(await w.ferry(['put', join(w.dir, 'a.bin'), '/one.bin']));
    ok(await w.ferry(['put', join(w.dir, 'a.bin'), '/two.bin']));
    const s = JSON.parse(ok(await w.ferry(['admin', 'stats', '--json'])).stdout) as Record<string, number>;
    expect(s).toMatchObject({ files: 2, logicalBytes: 600_000 });
    expect(s.storedBytes).toBeLessThan(s.logicalBytes);
    // 300,000 equal bytes: one chunk, compressed to far less in the store, which stats says.
    expect(s.encodedBytes).toBeLessThan(s.storedBytes);
    expect(ok(await w.ferry(['admin', 'stats'])).stdout).toBe(
      `2 files, 586 KiB logical\n1 chunk, 293 KiB stored (50% saved by dedup), ${formatSize(s.encodedBytes)} in the chunk store after compression\n0 upload sessions open\n`,
    );
    ok(await w.ferry(['rm', '/one.bin', '/two.bin']));
    const gc = JSON.parse(ok(await w.ferry(['admin', 'gc', '--grace', '0s', '--json'])).stdout) as Record<string, number>;
    expect(gc.chunks).toBeGreaterThan(0);
    expect(JSON.parse(ok(await w.ferry(['admin', 'stats', '--json'])).stdout)).toMatchObject({ files: 0, chunks: 0 });
  });

  it('stats says so when chunks outweigh the files (an open upload\'s chunks), instead of a negative saving', async () => {
    await writeFile(join(w.dir, 'small.bin'), Buffer.alloc(1000, 1));
    ok(await w.ferry(['put', join(w.dir, 'small.bin'), '/small.bin']));
    const auth = { authorization: `Bearer ${w.server.adminToken}` };
    const started = await fetch(`${w.server.url}/api/v1/uploads`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ path: '/open.bin' }) });
    expect(started.status).toBe(201);
    const { id } = (await started.json()) as { id: string };
    const chunk = randomBytes(1_000_000);
    const hash = createHash('sha256').update(chunk).digest('hex');
    const listed = await fetch(`${w.server.url}/api/v1/uploads/${id}/chunks`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ chunks: [{ hash, size: chunk.length }] }) });
    expect(listed.status).toBe(200);
    const put = await fetch(`${w.server.url}/api/v1/uploads/${id}/chunks/${hash}`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: chunk });
    expect(put.status).toBeLessThan(300);
    const s = JSON.parse(ok(await w.ferry(['admin', 'stats', '--json'])).stdout) as Record<string, number>;
    expect(s.storedBytes).toBeGreaterThan(s.logicalBytes);
    const text = ok(await w.ferry(['admin', 'stats'])).stdout;
    expect(text).toContain('more than the files hold');
    expect(text).not.toMatch(/-\d+%/);
    expect((await fetch(`${w.server.url}/api/v1/uploads/${id}`, { method: 'DELETE', headers: auth })).status).toBeLessThan(300);
    ok(await w.ferry(['rm', '/small.bin']));
  });

  it('a user who is not an admin is refused (exit 4)', async () => {
    ok(await w.ferry(['user', 'add', 'plain', '--password-stdin'], { input: 'a-long-enough-password-42\n' }));
    const t = JSON.parse(ok(await w.ferry(['token', 'create', '--user', 'plain', '--json'])).stdout) as { token: string };
    expect((await w.ferry(['admin', 'stats'], { env: { FERRY_TOKEN: t.token } })).code).toBe(4);
  });

  it('admin uploads lists open sessions (everyone\'s, --user), aborts anyone\'s (native and tus); non-admin refused', async () => {
    const api = (path: string, token: string, init: RequestInit = {}) => fetch(`${w.server.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });
    const t = JSON.parse(ok(await w.ferry(['token', 'create', '--user', 'plain', '--json'])).stdout) as { token: string };
    const start = async (token: string, path: string, size: number) => {
      const res = await api('/api/v1/uploads', token, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path, size }) });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    const mine = await start(w.server.adminToken, '/big/one.iso', 5_000_000);
    const theirs = await start(t.token, '/half.bin', 1234);
    const tusRes = await api('/api/v1/tus', t.token, { method: 'POST', headers: { 'tus-resumable': '1.0.0', 'upload-length': '10', 'upload-metadata': `filename ${Buffer.from('tus.txt').toString('base64')}` } });
    expect(tusRes.status).toBe(201);
    const tusId = tusRes.headers.get('location')!.split('/').pop()!;

    type Row = { id: string; user: string; kind: string; path: string | null; files: number; bytes: number };
    const all = JSON.parse(ok(await w.ferry(['admin', 'uploads', '--json'])).stdout) as Row[];
    expect(all.find((u) => u.id === mine)).toMatchObject({ user: 'admin', kind: 'native', path: '/big/one.iso', files: 1, bytes: 5_000_000 });
    expect(all.find((u) => u.id === theirs)).toMatchObject({ user: 'plain', kind: 'native', path: '/users/plain/half.bin', bytes: 1234 });
    expect(all.find((u) => u.id === tusId)).toMatchObject({ user: 'plain', kind: 'tus' });
    const plains = JSON.parse(ok(await w.ferry(['admin', 'uploads', '--user', 'plain', '--json'])).stdout) as Row[];
    expect(plains.map((u) => u.id).sort()).toEqual([theirs, tusId].sort());
    const text = ok(await w.ferry(['admin', 'uploads'])).stdout;
    expect(text).toMatch(/^ID +USER +KIND +PATH +FILES +SIZE +STARTED +EXPIRES\n/);
    expect(text).toContain(theirs);
    expect(text).toMatch(/admin +native +\/big\/one.iso +1 +4.77 MiB/);
    const unknown = await w.ferry(['admin', 'uploads', '--user', 'nobody-here']);
    expect(unknown.code).toBe(3);

    expect((await w.ferry(['admin', 'uploads'], { env: { FERRY_TOKEN: t.token } })).code).toBe(4);
    expect((await w.ferry(['admin', 'uploads', 'abort', mine], { env: { FERRY_TOKEN: t.token } })).code).toBe(4);
    expect(JSON.parse(ok(await w.ferry(['admin', 'uploads', 'abort', theirs, tusId, '--json'])).stdout)).toEqual({ aborted: [theirs, tusId] });
    // Gone for their owner too: the session's status and the tus upload's HEAD are 404.
    expect((await api(`/api/v1/uploads/${theirs}`, t.token)).status).toBe(404);
    expect((await api(`/api/v1/tus/${tusId}`, t.token, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' } })).status).toBe(404);
    expect((JSON.parse(ok(await w.ferry(['admin', 'uploads', '--json'])).stdout) as Row[]).map((u) => u.id)).toEqual([mine]);
    const again = await w.ferry(['admin', 'uploads', 'abort', theirs]);
    expect(again.code).toBe(3);
    const lines = ok(await w.ferry(['admin', 'audit', '--event', 'upload.abort', '--json'])).stdout.trim().split('\n');
    const entries = lines.map((l) => JSON.parse(l) as { target: string });
    expect(entries.map((e) => e.target).sort()).toEqual([theirs, tusId].sort());
  });
});

describe('user show', () => {
  it('says a quota plainly: a size and a file count, or no limit (was "none files")', async () => {
    ok(await w.ferry(['user', 'add', 'quoted', '--quota', '1M']));
    expect(ok(await w.ferry(['user', 'show', 'quoted'])).stdout).toMatch(/^quota: +1\.00 MiB, no file limit$/m);
    ok(await w.ferry(['user', 'add', 'free']));
    expect(ok(await w.ferry(['user', 'show', 'free'])).stdout).toMatch(/^quota: +no byte limit, no file limit$/m);
  });
});
