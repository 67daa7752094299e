/**
 * Versions and trash: overwrite keeps the old version (per the server's and per-path
 * retention), restore by id or time, delete to the trash and back, expiry, quota
 * accounting, chunk sharing between versions, and GC never taking a chunk a version needs.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/core/protocol.js';
import { runFerry } from '../helpers/cli.js';
import { dav } from '../helpers/dav.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
let clock = Date.parse('2026-12-01T00:00:00Z');
const DAY = 86_400_000;

beforeAll(async () => {
  t = await startTestServer({ now: () => clock, versions: { keep: 3, days: 30, paths: { '/scratch': { keep: 0, days: 0 }, '/deep': { keep: 1, days: 0 } } }, trashDays: 7 });
});
afterAll(async () => {
  await t?.close();
});

interface Version {
  id: number;
  size: number;
  hash: string;
  createdAt: number;
  replacedAt: number;
}

const put = async (path: string, body: Buffer | string, token?: string) => {
  clock += 1000;
  const res = await uploadBuffer(t, path, Buffer.from(body), 64 * 1024, { token });
  expect(res.status, await res.clone().text()).toBe(200);
};
const get = async (path: string, token?: string) => Buffer.from(await (await t.api(`/api/v1/files${path}`, { token })).arrayBuffer()).toString();
const versionsOf = async (path: string, token?: string) => ((await (await t.api(`/api/v1/versions${path}`, { token })).json()) as { versions: Version[] }).versions;
const stats = async () => (await (await t.api('/api/v1/admin/stats')).json()) as { storedBytes: number; chunks: number };
const gc = async () => {
  clock += 1;
  return (await (await t.api('/api/v1/admin/gc', { method: 'POST', json: { graceSeconds: 0 } })).json()) as { chunks: number };
};

describe('versions', () => {
  it('an overwrite keeps the old version; restoring by id makes it current, and the replaced one a version', async () => {
    await put('/doc.txt', 'one');
    await put('/doc.txt', 'two');
    let v = await versionsOf('/doc.txt');
    expect(v.map((x) => x.size)).toEqual([3]);
    const res = await t.api('/api/v1/versions/restore', { method: 'POST', json: { path: '/doc.txt', version: v[0].id } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Entry).path).toBe('/doc.txt');
    expect(await get('/doc.txt')).toBe('one');
    v = await versionsOf('/doc.txt');
    expect(v).toHaveLength(2);
    expect(await (async () => {
      await t.api('/api/v1/versions/restore', { method: 'POST', json: { path: '/doc.txt', version: v[0].id } });
      return get('/doc.txt');
    })()).toBe('two');
    // README: "Restores are audited as `file.restore`".
    const audit = (await (await t.api('/api/v1/admin/audit?event=file.restore')).json()) as { entries: { path: string; details: { version?: number } }[] };
    expect(audit.entries.filter((e) => e.path === '/doc.txt')).toHaveLength(2);
    expect(audit.entries.every((e) => typeof e.details.version === 'number')).toBe(true);
  });

  it('versions belong to a path: a moved file leaves its old versions at the old path (README)', async () => {
    await put('/walk/a.txt', 'first');
    await put('/walk/a.txt', 'second');
    expect((await versionsOf('/walk/a.txt')).map((x) => x.size)).toEqual([5]);
    expect((await t.api('/api/v1/move', { method: 'POST', json: { from: '/walk/a.txt', to: '/walk/b.txt' } })).status).toBe(200);
    expect(await versionsOf('/walk/b.txt')).toEqual([]);
    const left = await versionsOf('/walk/a.txt');
    expect(left.map((x) => x.size)).toEqual([5]);
    // Still readable there, by the old path and the id.
    expect(Buffer.from(await (await t.api(`/api/v1/files/walk/a.txt?version=${left[0].id}`)).arrayBuffer()).toString()).toBe('first');
  });

  it('a WebDAV MOVE or COPY over a file keeps the replaced content as a version, as mv over it does', async () => {
    await addUser(t, 'dava', { password: 'dava-password-1' });
    const { token } = await tokenFor(t, 'dava');
    const auth = `Bearer ${token}`;
    await put('/old.txt', 'replaced by a move', token);
    await put('/src.txt', 'the mover', token);
    await put('/old2.txt', 'replaced by a copy', token);
    clock += 1000;
    expect((await dav(t.url, 'MOVE', '/dav/src.txt', { auth, headers: { destination: '/dav/old.txt' } })).status).toBe(204);
    expect((await dav(t.url, 'COPY', '/dav/old.txt', { auth, headers: { destination: '/dav/old2.txt' } })).status).toBe(204);
    expect(await get('/old.txt', token)).toBe('the mover');
    expect(await get('/old2.txt', token)).toBe('the mover');
    expect((await versionsOf('/old.txt', token)).map((x) => x.size)).toEqual(['replaced by a move'.length]);
    expect((await versionsOf('/old2.txt', token)).map((x) => x.size)).toEqual(['replaced by a copy'.length]);
  });

  it('keeps at most `keep` versions, and none under a path whose rule is off', async () => {
    for (const n of ['a', 'b', 'c', 'd', 'e', 'f']) await put('/many.txt', n.repeat(10));
    expect((await versionsOf('/many.txt')).length).toBe(3);
    for (const n of ['a', 'b', 'c']) await put('/deep/x.txt', n);
    expect((await versionsOf('/deep/x.txt')).length).toBe(1);
    await put('/scratch/tmp.txt', 'first');
    await put('/scratch/tmp.txt', 'second');
    expect(await versionsOf('/scratch/tmp.txt')).toEqual([]);
  });

  it("the list says the path's rule, so that \"versioning is off here\" and \"no versions yet\" differ", async () => {
    const listOf = async (path: string) => (await (await t.api(`/api/v1/versions${path}`)).json()) as { path: string; versions: unknown[]; policy: unknown };
    await put('/fresh.txt', 'only once');
    expect(await listOf('/fresh.txt')).toEqual({ path: '/fresh.txt', versions: [], policy: { enabled: true, keep: 3, days: 30 } });
    expect(await listOf('/scratch/tmp.txt')).toEqual({ path: '/scratch/tmp.txt', versions: [], policy: { enabled: false, keep: 0, days: 0 } });
    expect((await listOf('/deep/x.txt')).policy).toEqual({ enabled: true, keep: 1, days: 0 });
  });

  it('restores the version current at a given time', async () => {
    await put('/timed.txt', 'morning');
    const morning = clock;
    clock += 3600_000;
    await put('/timed.txt', 'noon');
    clock += 3600_000;
    await put('/timed.txt', 'evening');
    const res = await t.api('/api/v1/versions/restore', { method: 'POST', json: { path: '/timed.txt', at: morning + 60_000 } });
    expect(res.status).toBe(200);
    expect(await get('/timed.txt')).toBe('morning');
    const before = await t.api('/api/v1/versions/restore', { method: 'POST', json: { path: '/timed.txt', at: morning - 10 * DAY } });
    expect(before.status).toBe(404);
    expect(((await before.json()) as { error: { message: string } }).error.message).not.toContain('versioning is off');
    // Where versioning is off, no time finds a version: the answer says why.
    await put('/scratch/timed.txt', 'one');
    await put('/scratch/timed.txt', 'two');
    const off = await t.api('/api/v1/versions/restore', { method: 'POST', json: { path: '/scratch/timed.txt', at: clock - 60_000 } });
    expect(off.status).toBe(404);
    expect(((await off.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'FERRY_ERR_NOT_FOUND',
      message: expect.stringContaining('(versioning is off for this path: the server keeps no old versions; an admin sets "versions" in its config)'),
    });
    const bad = await t.api('/api/v1/versions/restore', { method: 'POST', json: { path: '/timed.txt', version: 'x' } });
    expect(bad.status).toBe(400);
  });

  it('GET /files?version=ID serves an old version (Range and HEAD too); another path\'s id, a bad id and no read access are refused', async () => {
    const first = randomBytes(300 * 1024);
    await put('/dl/report.bin', first);
    await put('/dl/report.bin', 'the second one');
    await put('/dl/other.txt', 'other v1');
    await put('/dl/other.txt', 'other v2');
    const [v] = await versionsOf('/dl/report.bin');
    const [otherV] = await versionsOf('/dl/other.txt');
    const whole = await t.api(`/api/v1/files/dl/report.bin?version=${v.id}&download=1`);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(first)).toBe(true);
    expect(whole.headers.get('etag')).toBe(`"${v.hash}"`);
    expect(whole.headers.get('content-disposition')).toContain('report.bin');
    const part = await t.api(`/api/v1/files/dl/report.bin?version=${v.id}`, { headers: { range: 'bytes=100000-100009' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(first.subarray(100000, 100010))).toBe(true);
    const head = await t.api(`/api/v1/files/dl/report.bin?version=${v.id}`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(first.length));
    expect(await get('/dl/report.bin')).toBe('the second one');
    const elsewhere = await t.api(`/api/v1/files/dl/report.bin?version=${otherV.id}`);
    expect(elsewhere.status).toBe(404);
    expect(((await elsewhere.json()) as { error: { message: string } }).error.message).toBe(`/dl/report.bin has no version ${otherV.id}`);
    const bad = await t.api('/api/v1/files/dl/report.bin?version=abc');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_VALIDATION');
    await addUser(t, 'nosy', { home: '/nosy' });
    const nosy = await tokenFor(t, 'nosy');
    const theirs = await t.api(`/api/v1/files/dl/report.bin?version=${v.id}`, { token: nosy.token });
    expect(theirs.status).toBe(404);
  });

  it('versions share chunks: an old version costs only its changed chunks', async () => {
    const base = randomBytes(16 * 64 * 1024);
    await put('/big.bin', base);
    const before = await stats();
    const edited = Buffer.from(base);
    edited[5 * 64 * 1024 + 7] ^= 0xff;
    await put('/big.bin', edited);
    const after = await stats();
    expect(after.storedBytes - before.storedBytes).toBe(64 * 1024);
    expect(after.chunks - before.chunks).toBe(1);
    expect((await versionsOf('/big.bin')).length).toBe(1);
  });

  it('GC never collects a chunk a version needs; it does once the version expires', async () => {
    const old = randomBytes(200_000);
    await put('/gc/file.bin', old);
    await put('/gc/file.bin', randomBytes(200_000));
    expect((await t.api('/api/v1/files/gc/file.bin', { method: 'DELETE' })).status).toBe(204);
    expect((await t.api('/api/v1/trash?allUsers=true', { method: 'DELETE', json: undefined })).status).toBe(200); // empties the trash: only the version holds old bytes now
    await gc();
    const [v] = await versionsOf('/gc/file.bin');
    expect((await t.api('/api/v1/versions/restore', { method: 'POST', json: { path: '/gc/file.bin', version: v.id } })).status).toBe(200);
    expect(Buffer.from(await (await t.api('/api/v1/files/gc/file.bin')).arrayBuffer()).equals(old)).toBe(true);

    // Past `days`, versions go at the next sweep, and then their chunks with GC.
    const stored = (await stats()).storedBytes;
    clock += 31 * DAY;
    expect((await t.api('/api/v1/admin/sweep', { method: 'POST' })).status).toBe(200);
    expect(await versionsOf('/doc.txt')).toEqual([]);
    expect((await gc()).chunks).toBeGreaterThan(0);
    expect((await stats()).storedBytes).toBeLessThan(stored);
    expect(Buffer.from(await (await t.api('/api/v1/files/gc/file.bin')).arrayBuffer()).equals(old)).toBe(true);
  });
});

describe('trash', () => {
  it('a delete moves files to the trash; restore puts them back, refusing to overwrite', async () => {
    await put('/t/a.txt', 'alpha');
    await put('/t/sub/b.txt', 'beta');
    expect((await t.api('/api/v1/files/t?recursive=true', { method: 'DELETE' })).status).toBe(204);
    expect((await t.api('/api/v1/stat/t/a.txt')).status).toBe(404);
    const { entries } = (await (await t.api('/api/v1/trash?path=/t')).json()) as { entries: { id: number; path: string; batch: string }[] };
    expect(entries.map((e) => e.path).sort()).toEqual(['/t/a.txt', '/t/sub/b.txt']);
    expect(new Set(entries.map((e) => e.batch)).size).toBe(1);
    const a = entries.find((e) => e.path === '/t/a.txt')!;
    expect((await t.api('/api/v1/trash/restore', { method: 'POST', json: { id: a.id } })).status).toBe(200);
    expect(await get('/t/a.txt')).toBe('alpha');
    expect((await t.api('/api/v1/trash/restore', { method: 'POST', json: { id: a.id } })).status).toBe(404);
    // A file at the old place: restoring there is refused; elsewhere works.
    const b = entries.find((e) => e.path === '/t/sub/b.txt')!;
    await put('/t/sub/b.txt', 'new beta');
    const clash = await t.api('/api/v1/trash/restore', { method: 'POST', json: { id: b.id } });
    expect(clash.status).toBe(409);
    expect((await t.api('/api/v1/trash/restore', { method: 'POST', json: { id: b.id, to: '/t/sub/b-old.txt' } })).status).toBe(200);
    expect(await get('/t/sub/b-old.txt')).toBe('beta');
    expect(await get('/t/sub/b.txt')).toBe('new beta');
  });

  it('a file removed by its own TTL is not versioned (README: "Files removed by their own TTL are not versioned")', async () => {
    await put('/ttl/kept.txt', 'first');
    clock += 1000;
    expect((await uploadBuffer(t, '/ttl/kept.txt', Buffer.from('second, expiring'), 64 * 1024, { ttlSeconds: 60 })).status).toBe(200);
    expect(await versionsOf('/ttl/kept.txt')).toHaveLength(1); // the overwrite kept 'first'
    clock += 61_000;
    await t.api('/api/v1/admin/sweep', { method: 'POST' });
    expect((await t.api('/api/v1/stat/ttl/kept.txt')).status).toBe(404);
    // The expired content became no version: only the one the overwrite kept is there.
    const left = await versionsOf('/ttl/kept.txt');
    expect(left.map((v) => v.size)).toEqual([5]);
    const trash = ((await (await t.api('/api/v1/trash?path=/ttl')).json()) as { entries: { path: string }[] }).entries;
    expect(trash.map((e) => e.path)).toEqual([]);
  });

  it('the trash empties itself after trashDays', async () => {
    await put('/t/old.txt', 'old');
    expect((await t.api('/api/v1/files/t/old.txt', { method: 'DELETE' })).status).toBe(204);
    const list = async () => ((await (await t.api('/api/v1/trash?path=/t/old.txt')).json()) as { entries: unknown[] }).entries;
    expect(await list()).toHaveLength(1);
    clock += 6 * DAY;
    await t.api('/api/v1/admin/sweep', { method: 'POST' });
    expect(await list()).toHaveLength(1);
    clock += 2 * DAY;
    await t.api('/api/v1/admin/sweep', { method: 'POST' });
    expect(await list()).toHaveLength(0);
  });

  it("a user sees only their own trash, and quota counts only current files", async () => {
    await addUser(t, 'vera', { home: '/home/vera', quotaBytes: 1000 });
    const vera = await tokenFor(t, 'vera');
    await put('/q.bin', Buffer.alloc(600, 1), vera.token);
    // Overwriting keeps a 600-byte version, but the quota counts the 600 bytes of the current file.
    await put('/q.bin', Buffer.alloc(600, 2), vera.token);
    const me = (await (await t.api('/api/v1/users/vera')).json()) as { usage: { bytes: number } };
    expect(me.usage.bytes).toBe(600);
    expect((await versionsOf('/q.bin', vera.token)).length).toBe(1);
    // Restoring a version is a write: it must fit the quota like an upload.
    expect((await t.api('/api/v1/files/q.bin', { method: 'DELETE', token: vera.token })).status).toBe(204);
    await put('/other.bin', Buffer.alloc(900, 3), vera.token);
    const [trashed] = ((await (await t.api('/api/v1/trash', { token: vera.token })).json()) as { entries: { id: number; path: string }[] }).entries;
    expect(trashed.path).toBe('/q.bin');
    const over = await t.api('/api/v1/trash/restore', { method: 'POST', json: { id: trashed.id }, token: vera.token });
    expect(over.status).toBe(413);
    // The admin's trash entries (outside vera's home) are invisible to her.
    await put('/admin-only.txt', 'secret');
    expect((await t.api('/api/v1/files/admin-only.txt', { method: 'DELETE' })).status).toBe(204);
    const adminEntry = ((await (await t.api('/api/v1/trash?path=/admin-only.txt')).json()) as { entries: { id: number; path: string }[] }).entries[0];
    expect(adminEntry.path).toBe('/admin-only.txt');
    expect((await t.api('/api/v1/trash/restore', { method: 'POST', json: { id: adminEntry.id }, token: vera.token })).status).toBe(404);
    const veraList = ((await (await t.api('/api/v1/trash', { token: vera.token })).json()) as { entries: { path: string }[] }).entries;
    expect(veraList.map((e) => e.path)).toEqual(['/q.bin']);
  });
});

describe('the CLI', () => {
  it('ferry versions, restore --version, trash ls, restore and empty', async () => {
    const env = { FERRY_SERVER: t.url, FERRY_TOKEN: t.token };
    await put('/cli/f.txt', 'v1');
    await put('/cli/f.txt', 'v2');
    await put('/cli/once.txt', 'v1');
    const yet = await runFerry(['versions', '/cli/once.txt'], { env });
    expect([yet.code, yet.stdout, yet.stderr]).toEqual([0, '', 'no versions of /cli/once.txt yet: the server keeps them (the last 3, for 30 days) from the next overwrite on\n']);
    await put('/scratch/cli.txt', 'v1');
    const off = await runFerry(['versions', '/scratch/cli.txt'], { env });
    expect([off.code, off.stdout, off.stderr]).toEqual([0, '', 'versioning is off for /scratch/cli.txt: the server keeps no old versions of it (its versions setting, keep or days, is 0 for this path: an admin sets it in the server\'s config file, README "Versions and trash")\n']);
    const ls = await runFerry(['versions', '/cli/f.txt', '--json'], { env });
    expect(ls.code).toBe(0);
    const [v] = JSON.parse(ls.stdout) as Version[];
    expect(v.size).toBe(2);
    expect((await runFerry(['restore', '/cli/f.txt', '--version', String(v.id)], { env })).code).toBe(0);
    expect(await get('/cli/f.txt')).toBe('v1');
    expect((await runFerry(['restore', '/cli/f.txt'], { env })).code).toBe(2);
    expect((await runFerry(['rm', '/cli/f.txt'], { env })).code).toBe(0);
    const trash = await runFerry(['trash', 'ls', '/cli', '--json'], { env });
    const [entry] = JSON.parse(trash.stdout) as { id: number; path: string }[];
    expect(entry.path).toBe('/cli/f.txt');
    const text = await runFerry(['trash', 'ls', '/cli'], { env });
    expect(text.stdout).toMatch(new RegExp(`^${entry.id} +/cli/f\\.txt`, 'm'));
    expect((await runFerry(['trash', 'restore', String(entry.id)], { env })).code).toBe(0);
    expect(await get('/cli/f.txt')).toBe('v1');
    expect((await runFerry(['rm', '/cli/f.txt'], { env })).code).toBe(0);
    const empty = await runFerry(['trash', 'empty', '/cli'], { env });
    expect(empty.code).toBe(0);
    expect(empty.stderr).toContain('removed 1 file from the trash');
    expect(JSON.parse((await runFerry(['trash', 'ls', '/cli', '--json'], { env })).stdout)).toEqual([]);
    // An empty trash on a server that keeps one says so, not "trashDays is 0" (as it did).
    const none = await runFerry(['trash', 'ls', '/cli'], { env });
    expect([none.code, none.stdout, none.stderr]).toEqual([0, '', 'no deleted files in /cli (the server keeps deleted files for 7 days)\n']);
  });

  it('restore, trash restore and trash empty with --json: the entry, or how many were removed, on stdout', async () => {
    const env = { FERRY_SERVER: t.url, FERRY_TOKEN: t.token };
    await put('/cli-json/f.txt', 'one');
    await put('/cli-json/f.txt', 'three');
    const [v] = JSON.parse((await runFerry(['versions', '/cli-json/f.txt', '--json'], { env })).stdout) as Version[];
    const restored = await runFerry(['restore', '/cli-json/f.txt', '--version', String(v.id), '--json'], { env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ path: '/cli-json/f.txt', type: 'file', size: 3 });
    expect((await runFerry(['rm', '/cli-json/f.txt'], { env })).code).toBe(0);
    const [entry] = JSON.parse((await runFerry(['trash', 'ls', '/cli-json', '--json'], { env })).stdout) as { id: number }[];
    const back = await runFerry(['trash', 'restore', String(entry.id), '--to', '/cli-json/back.txt', '--json'], { env });
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ path: '/cli-json/back.txt', size: 3 });
    expect((await runFerry(['rm', '/cli-json/back.txt'], { env })).code).toBe(0);
    const empty = await runFerry(['trash', 'empty', '/cli-json', '--json'], { env });
    expect(empty.code, empty.stderr).toBe(0);
    expect(JSON.parse(empty.stdout)).toEqual({ removed: 1 });
    expect(empty.stderr).toBe('');
  });
});
