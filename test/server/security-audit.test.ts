/**
 * Regressions of the 2026-12-04 audit (docs/security-audit.md): each test here failed
 * before its fix. Zip archives of folders holding names an extractor would read as a way
 * out (`..\..\x`, `C:x`); a drop box's dedup answers, which told an anonymous visitor
 * whether the link's owner stores some content; version ids that are not plain numbers;
 * the metadata database and the chunk store readable by every local user when the data
 * directory was made by hand; password attempts limited per IPv6 address instead of per /64;
 * HTML pages another site could frame; 5xx answers (and /readyz, SFTP statuses) that carried
 * system text such as an absolute server path.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { NotFoundError, fromSystemError } from '../../src/core/errors.js';
import { statusOf as sftpStatusOf } from '../../src/server/sftp/sftp-session.js';
import { tempDir } from '../helpers/files.js';
import { pieces, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { startPostgres } from '../helpers/postgres.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

const run = promisify(execFile);
let t: TestServer;
let dir: { path: string; cleanup: () => Promise<void> };
let token: string;

const as = (path: string, init: RequestInit = {}) => fetch(t.url + path, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });

beforeAll(async () => {
  t = await startTestServer({ versions: { keep: 5, days: 0, paths: {} }, trashDays: 7 });
  dir = await tempDir('ferry-security-audit-');
  await addUser(t, 'owen');
  token = (await tokenFor(t, 'owen')).token;
});

afterAll(async () => {
  await t?.close();
  await dir?.cleanup();
});

/** The member names of a zip answer (after checking it is one). */
async function members(res: Response, file: string): Promise<string[]> {
  expect(res.status, res.status === 200 ? '' : await res.clone().text()).toBe(200);
  writeFileSync(join(dir.path, file), Buffer.from(await res.arrayBuffer()));
  const { stdout } = await run('unzip', ['-Z1', join(dir.path, file)], { encoding: 'utf8' });
  return stdout.trim().split('\n').sort();
}

describe('zip archives of names an extractor would misread', () => {
  it("a drop-box visitor's '..\\..\\x' or 'C:x' neither breaks the owner's folder zip nor climbs out of it", async () => {
    expect((await as('/api/v1/mkdir/inbox', { method: 'POST' })).status).toBe(201);
    expect((await as('/api/v1/files/inbox/fine.txt', { method: 'PUT', body: 'fine' })).status).toBe(201);
    const drop = await share(t, token, { path: '/inbox', kind: 'upload' });
    // Anyone holding the upload link can name a file so.
    for (const name of ['..\\..\\evil.txt', 'C:boot.ini', 'trailing\\']) {
      const put = await fetch(`${drop.url}/${encodeURIComponent(name)}`, { method: 'PUT', body: 'x' });
      expect(put.status, name).toBe(201);
    }
    const folder = ['inbox/', 'inbox/.._.._evil.txt', 'inbox/C:boot.ini', 'inbox/fine.txt', 'inbox/trailing_'];
    expect(await members(await as('/api/v1/zip/inbox'), 'inbox.zip')).toEqual(folder);
    // A selection puts the names at the archive's root, where `C:` would be a drive.
    expect(await members(await as('/api/v1/zip?path=/inbox/C:boot.ini&path=/inbox/..%5C..%5Cevil.txt'), 'picked.zip')).toEqual(['.._.._evil.txt', 'C_boot.ini']);
    // The folder's download link serves the same archive to anyone.
    const link = await share(t, token, { path: '/inbox' });
    expect(await members(await fetch(`${link.url}?zip=1`), 'link.zip')).toEqual(folder);
    // Unpacked, everything lands inside the target folder.
    const out = join(dir.path, 'out');
    await run('unzip', ['-q', join(dir.path, 'inbox.zip'), '-d', out]);
    const { stdout } = await run('find', [dir.path, '-name', '*evil*'], { encoding: 'utf8' });
    expect(stdout.trim()).toBe(join(out, 'inbox', '.._.._evil.txt'));
  });
});

/**
 * A drop box's visitor guesses a file of the link's owner: before the fix every chunk the
 * owner held came back as not missing, and the commit went through without a byte sent.
 */
async function visitorGuessesOwnersFile(srv: TestServer, owner: string, ownerToken: string): Promise<void> {
  const secret = randomBytes(200_000);
  expect((await uploadBuffer(srv, `/users/${owner}/private/diary.bin`, secret, 64 * 1024, { token: ownerToken })).status).toBe(200);
  expect((await srv.api('/api/v1/mkdir/drop', { method: 'POST', token: ownerToken })).status).toBe(201);
  const link = await share(srv, ownerToken, { path: '/drop', kind: 'upload' });
  const unlock = await fetch(`${link.url}/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const visitor = ((await unlock.json()) as { token: string }).token;
  const call = (path: string, init: { method: string; json?: unknown; body?: Buffer }) =>
    fetch(srv.url + path, { method: init.method, headers: { authorization: `Bearer ${visitor}`, 'content-type': init.json === undefined ? 'application/octet-stream' : 'application/json' }, body: init.json === undefined ? init.body : JSON.stringify(init.json) });
  const { refs, parts } = pieces(secret, 64 * 1024);
  const guess = async (name: string) => {
    const res = await call('/api/v1/uploads', { method: 'POST', json: { path: name, size: secret.length, hash: fileHashOf(refs), chunks: refs } });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; missing: string[] };
  };
  // A guess of the owner's private file: every chunk is asked for, as for bytes nobody has.
  const first = await guess('/guess.bin');
  expect(first.missing.sort()).toEqual(refs.map((r) => r.hash).sort());
  // Naming the hashes does not make the file either.
  const early = await call(`/api/v1/uploads/${first.id}/commit`, { method: 'POST', json: {} });
  expect(early.status).toBe(409);
  expect(((await early.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_UPLOAD_INCOMPLETE');
  // Chunks the owner holds are "new" to the visitor's session, and taken once sent.
  const put = await call(`/api/v1/uploads/${first.id}/chunks/${refs[0].hash}`, { method: 'PUT', body: parts[0] });
  expect(put.status).toBe(200);
  expect(((await put.json()) as { stored: boolean }).stored).toBe(true);
  for (let i = 1; i < parts.length; i++) expect((await call(`/api/v1/uploads/${first.id}/chunks/${refs[i].hash}`, { method: 'PUT', body: parts[i] })).status).toBe(200);
  expect((await call(`/api/v1/uploads/${first.id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
  // A second visit proves nothing by the first: each session sends its own bytes.
  expect((await guess('/again.bin')).missing.length).toBe(refs.length);
  // The owner's own uploads still skip what they hold.
  const mine = await srv.api('/api/v1/uploads', { method: 'POST', json: { path: '/mine.bin', size: secret.length, hash: fileHashOf(refs), chunks: refs }, token: ownerToken });
  expect(((await mine.json()) as { missing: string[] }).missing).toEqual([]);
  // What the first session proved went with it.
  const proofs = srv.server.ctx.meta.db.selectFrom('chunk_owners').select('user_id').where('user_id', '=', `upload:${first.id}`);
  expect(await proofs.execute()).toEqual([]);
}

/** Runs `scenario` as user `name` (with a token of theirs) on a server whose metadata is on a PostgreSQL of its own. */
async function onPostgres(name: string, scenario: (srv: TestServer, user: string, token: string) => Promise<void>): Promise<void> {
  const pg = await startPostgres();
  const srv = await startTestServer({ db: await pg.createDatabase(), sessionKey: randomBytes(32) });
  try {
    await addUser(srv, name);
    await scenario(srv, name, (await tokenFor(srv, name)).token);
  } finally {
    await srv.close();
    await pg.stop();
  }
}

describe('drop boxes', () => {
  it("a visitor's dedup answers and commits count only what their own session was sent, never what the owner stores", async () => {
    await visitorGuessesOwnersFile(t, 'owen', token);
  });

  it('the same on PostgreSQL', () => onPostgres('pia', visitorGuessesOwnersFile), 120_000);
});

/**
 * A token limited to `/inbox` guesses a file its user keeps outside it: before the fix every
 * chunk the user held anywhere came back as not missing, and the commit went through without
 * a byte sent. Chunks of a file inside the prefix that the token may read still count.
 */
async function scopedTokenGuessesHomeFile(srv: TestServer, user: string, fullToken: string): Promise<void> {
  const secret = randomBytes(200_000);
  expect((await uploadBuffer(srv, '/private/diary.bin', secret, 64 * 1024, { token: fullToken })).status).toBe(200);
  const kept = randomBytes(150_000);
  expect((await uploadBuffer(srv, '/inbox/kept.bin', kept, 64 * 1024, { token: fullToken })).status).toBe(200);
  const narrow = (await tokenFor(srv, user, { pathPrefix: '/inbox' })).token;
  const writeOnly = (await tokenFor(srv, user, { pathPrefix: '/inbox', scopes: ['write'] })).token;
  const { refs, parts } = pieces(secret, 64 * 1024);
  const spec = (path: string, of = refs) => ({ path, size: of.reduce((a, r) => a + r.size, 0), hash: fileHashOf(of), chunks: of });
  const create = async (json: unknown, tok: string) => {
    const res = await srv.api('/api/v1/uploads', { method: 'POST', json, token: tok });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; missing: string[] };
  };
  const all = refs.map((r) => r.hash).sort();
  // The guess: every chunk is asked for, as for bytes nobody has, and naming them makes no file.
  const first = await create(spec('/inbox/guess.bin'), narrow);
  expect(first.missing.sort()).toEqual(all);
  expect(((await (await srv.api(`/api/v1/uploads/${first.id}`, { token: narrow })).json()) as { missing: string[] }).missing.sort()).toEqual(all);
  const early = await srv.api(`/api/v1/uploads/${first.id}/commit`, { method: 'POST', json: {}, token: narrow });
  expect(early.status).toBe(409);
  expect(((await early.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_UPLOAD_INCOMPLETE');
  // The same through a manifest appended to an open session, and a chunk PUT is "new".
  const open = await create({ path: '/inbox/stream.bin' }, narrow);
  const appended = await srv.api(`/api/v1/uploads/${open.id}/chunks`, { method: 'POST', json: { chunks: refs }, token: narrow });
  expect(((await appended.json()) as { missing: string[] }).missing.sort()).toEqual(all);
  const put = await srv.api(`/api/v1/uploads/${first.id}/chunks/${refs[0].hash}`, { method: 'PUT', body: parts[0], headers: { 'content-type': 'application/octet-stream' }, token: narrow });
  expect(((await put.json()) as { stored: boolean }).stored).toBe(true);
  // A session of the user's full token that holds those chunks does not exist for the narrow one.
  const full = await create(spec('/inbox/full.bin'), fullToken);
  expect(full.missing).toEqual([]);
  const peek = await srv.api(`/api/v1/uploads/${full.id}`, { token: narrow });
  expect(peek.status).toBe(404);
  // Replacing a file inside the prefix that the token may read sends only what changed...
  const kp = pieces(kept, 64 * 1024);
  const edited = [...kp.refs.slice(0, 2), ...pieces(randomBytes(1000), 1000).refs];
  const edit = await create(spec('/inbox/kept.bin', edited), narrow);
  expect(edit.missing).toEqual([edited[2].hash]);
  // ...and the chunks of a file it may not read count for nothing.
  expect((await create(spec('/inbox/kept.bin', edited), writeOnly)).missing.sort()).toEqual(edited.map((r) => r.hash).sort());
  // Once the narrow token's session sends every chunk and commits, they are the user's too.
  for (let i = 1; i < parts.length; i++) expect((await srv.api(`/api/v1/uploads/${first.id}/chunks/${refs[i].hash}`, { method: 'PUT', body: parts[i], headers: { 'content-type': 'application/octet-stream' }, token: narrow })).status).toBe(200);
  expect((await srv.api(`/api/v1/uploads/${first.id}/commit`, { method: 'POST', json: {}, token: narrow })).status).toBe(200);
  const proofs = srv.server.ctx.meta.db.selectFrom('chunk_owners').select('user_id').where('user_id', '=', `upload:${first.id}`);
  expect(await proofs.execute()).toEqual([]);
  expect((await create(spec('/again.bin'), fullToken)).missing).toEqual([]);
  // Bytes only the narrow token ever sent count as its user's once committed.
  const fresh = randomBytes(100_000);
  expect((await uploadBuffer(srv, '/inbox/fresh.bin', fresh, 64 * 1024, { token: narrow })).status).toBe(200);
  expect((await create(spec('/fresh-again.bin', pieces(fresh, 64 * 1024).refs), fullToken)).missing).toEqual([]);
}

describe('path-limited tokens', () => {
  it("dedup answers and commits count only the session's own chunks and those of files the token may read", async () => {
    await addUser(t, 'nora');
    await scopedTokenGuessesHomeFile(t, 'nora', (await tokenFor(t, 'nora')).token);
  });

  it('the same on PostgreSQL', () => onPostgres('pam', scopedTokenGuessesHomeFile), 120_000);
});

describe('version ids', () => {
  it('takes only plain whole numbers: 0x.., 1e0, spaces and signs are a 400, not another version', async () => {
    for (const body of ['one', 'two', 'three']) {
      const res = await as('/api/v1/files/v.txt', { method: 'PUT', body });
      expect(res.status, await res.text()).toBeLessThan(300);
    }
    const { versions } = (await (await as('/api/v1/versions/v.txt')).json()) as { versions: { id: number }[] };
    const id = versions[versions.length - 1].id;
    expect(await (await as(`/api/v1/files/v.txt?version=${id}`)).text()).toBe('one');
    for (const bad of [`0x${id.toString(16)}`, `${id}e0`, `%20${id}`, `+${id}`, `0${id}`, `${id}.0`]) {
      const res = await as(`/api/v1/files/v.txt?version=${bad}`);
      expect(res.status, bad).toBe(400);
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('FERRY_ERR_VALIDATION');
      // Words for every front (the web app, WebDAV users): no CLI command in them.
      expect(error.message).toBe("version must be a version id: a whole number, as the file's list of versions gives it");
    }
    const restore = await as('/api/v1/versions/restore', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: '/v.txt', version: `0x${id.toString(16)}` }) });
    expect(restore.status).toBe(400);
    expect(await (await as('/api/v1/files/v.txt')).text()).toBe('three');
    const trash = await as('/api/v1/trash/restore', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: '1e0' }) });
    expect(trash.status).toBe(400);
  });
});

describe('the data directory', () => {
  it('keeps the metadata database and the chunk store to the server user even in a directory made with mode 0755', async () => {
    const data = mkdtempSync(join(tmpdir(), 'ferry-data-mode-'));
    chmodSync(data, 0o755); // as `mkdir /srv/ferry` leaves it
    const srv = await startTestServer({ dataDir: data });
    const mode = (f: string) => statSync(join(data, f)).mode & 0o777;
    try {
      expect((await uploadBuffer(srv, '/private.bin', randomBytes(10_000))).status).toBe(200);
      expect(mode('meta.db')).toBe(0o600);
      expect(mode('meta.db-wal')).toBe(0o600);
      expect(mode('meta.db-shm')).toBe(0o600);
      expect(mode('store')).toBe(0o700);
      // Left readable by an older server: narrowed at the next start.
      chmodSync(join(data, 'meta.db'), 0o644);
      chmodSync(join(data, 'store'), 0o755);
      await srv.restart();
      expect(mode('meta.db')).toBe(0o600);
      expect(mode('store')).toBe(0o700);
    } finally {
      await srv.close();
      rmSync(data, { recursive: true, force: true });
    }
  });
});

describe('IPv6 clients', () => {
  it('count as their /64 for password attempts: a share password cannot be guessed from address after address', async () => {
    const srv = await startTestServer({ trustProxy: ['127.0.0.1/32'], rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 5 } });
    try {
      await addUser(srv, 'vic');
      const vic = (await tokenFor(srv, 'vic')).token;
      expect((await srv.api('/api/v1/files/note.txt', { method: 'PUT', body: 'hi', token: vic })).status).toBe(201);
      const link = await share(srv, vic, { path: '/note.txt', password: 'right-password-1' });
      const attempt = (from: string, password: string) =>
        fetch(link.url, { headers: { authorization: `Basic ${Buffer.from(`:${password}`).toString('base64')}`, 'x-forwarded-for': from } });
      const statuses: number[] = [];
      for (let i = 1; i <= 8; i++) statuses.push((await attempt(`2001:db8:1:2::${i.toString(16)}`, `guess-${i}`)).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
      // Even the right password waits: the /64 is out of attempts. Another /64 is another client.
      expect((await attempt('2001:db8:1:2:ffff::1', 'right-password-1')).status).toBe(429);
      expect((await attempt('2001:db8:1:3::1', 'right-password-1')).status).toBe(200);
    } finally {
      await srv.close();
    }
  });
});

describe('the HTML pages the server serves', () => {
  it('all refuse to be framed by another site (CSP frame-ancestors and X-Frame-Options) and are not sniffed', async () => {
    expect((await as('/api/v1/mkdir/album', { method: 'POST' })).status).toBe(201);
    expect((await as('/api/v1/files/album/a.txt', { method: 'PUT', body: 'a' })).status).toBe(201);
    const folder = await share(t, token, { path: '/album' });
    const html = { accept: 'text/html' };
    const pages: [string, Response][] = [
      ['the web app', await fetch(t.url + '/', { headers: html })],
      ['a share link in a browser', await fetch(folder.url, { headers: html })],
      ['a share folder, plain listing', await fetch(folder.url)],
      ['the WebDAV folder page', await as('/dav/album/', { headers: html })],
      ['the API docs', await fetch(t.url + '/api/v1/docs', { headers: html })],
      ['no such route', await fetch(t.url + '/no/such/route', { method: 'DELETE', headers: html })],
    ];
    for (const [what, res] of pages) {
      expect(res.headers.get('content-type'), what).toMatch(/^text\/html/);
      expect(res.headers.get('content-security-policy'), what).toMatch(/(^|; )frame-ancestors 'none'(;|$)/);
      expect(res.headers.get('content-security-policy'), what).toMatch(/(^|; )default-src '(none|self)'/);
      expect(res.headers.get('x-frame-options'), what).toBe('DENY');
      expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
      expect(await res.text(), what).toMatch(/^<!doctype html>/i);
    }
  });
});

describe("the server's own failures", () => {
  it('answer a generic message with a request id over HTTP, WebDAV and tus; the system text (an absolute path) goes to the log only', async () => {
    const lines: string[] = [];
    const log = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
    const srv = await startTestServer({ logDestination: log, logLevel: 'warn' });
    try {
      const secret = '/srv/private/ferry-data/store/ab/cd';
      const exdev = () => Object.assign(new Error(`EXDEV: cross-device link not permitted, rename '${secret}.tmp' -> '${secret}'`), { code: 'EXDEV' });
      const { meta } = srv.server.ctx;
      const stat = meta.stat.bind(meta);
      meta.stat = async (path, ...rest) => {
        if (path.includes('broken')) throw exdev();
        return stat(path, ...rest);
      };
      // Raw from the file system (stat), and as a store reports it (FERRY_ERR_IO with Node's message).
      srv.server.ctx.tus.terminate = async () => {
        throw fromSystemError(exdev());
      };
      const tus = { method: 'DELETE', headers: { 'tus-resumable': '1.0.0' } };
      for (const [path, init] of [['/api/v1/stat/broken.txt', {}], ['/dav/broken.txt', {}], ['/api/v1/tus/broken', tus]] as const) {
        const res = await srv.api(path, init);
        const text = await res.text();
        expect(res.status, path).toBe(500);
        expect(text, path).not.toContain('/srv/private');
        expect(text, path).not.toContain('EXDEV');
        const { error } = JSON.parse(text) as { error: { code: string; message: string; requestId: string } };
        expect(error.code, path).toBe('FERRY_ERR_IO');
        expect(error.requestId, path).toMatch(/^[0-9a-f]{16}$/);
        expect(error.message, path).toContain(error.requestId);
        expect(res.headers.get('x-request-id'), path).toBe(error.requestId);
        const logged = lines.filter((l) => l.includes(`"reqId":"${error.requestId}"`)).join('');
        expect(logged, path).toContain(secret);
      }
      // A refusal keeps its own words.
      const missing = (await (await srv.api('/api/v1/files/absent.txt')).json()) as { error: { code: string; message: string } };
      expect(missing.error.code).toBe('FERRY_ERR_NOT_FOUND');
      expect(missing.error.message).toContain('absent.txt');
    } finally {
      await srv.close();
    }
  });

  it('answer SFTP clients a generic status message too (and the log gets the error)', () => {
    const exdev = fromSystemError(Object.assign(new Error("EXDEV: cross-device link not permitted, rename '/srv/private/a' -> '/srv/private/b'"), { code: 'EXDEV' }));
    expect(sftpStatusOf(exdev)).toBeUndefined();
    expect(sftpStatusOf(fromSystemError(Object.assign(new Error("EACCES: permission denied, open '/srv/private/a'"), { code: 'EACCES' })))).toBeUndefined();
    expect(sftpStatusOf(new NotFoundError('/x: not found'))?.message).toBe('/x: not found');
  });

  it('keep /readyz to its own words: the cause of a failed probe goes to the log', async () => {
    const lines: string[] = [];
    const log = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
    const srv = await startTestServer({ logDestination: log, logLevel: 'warn' });
    try {
      srv.server.ctx.meta.getSetting = async () => {
        throw new Error("SQLITE_IOERR: disk I/O error at '/srv/private/meta.db'");
      };
      const res = await fetch(srv.url + '/readyz');
      expect(res.status).toBe(503);
      const text = await res.text();
      expect(text).toContain('the metadata database does not answer');
      expect(text).not.toContain('/srv/private');
      expect(lines.join('')).toContain('/srv/private/meta.db');
    } finally {
      await srv.close();
    }
  });
});
