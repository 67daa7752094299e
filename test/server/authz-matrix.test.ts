/**
 * The authorization matrix: every route × every kind of caller, each cell asserting the
 * status, and every refused cell asserting that nothing got through (no file bytes in the
 * answer, nothing changed on the server).
 *
 * Callers: no token, a malformed header, a wrong secret, an expired token, a revoked token,
 * alice's read-only token, alice's token limited to /docs acting on /photos (outside its
 * prefix), bob acting on alice's things (other user's files), the admin, and alice herself
 * with a full token (the owner, to show each route does work).
 *
 * Paths are each caller's own: alice's `/photos/p.bin` is `/users/alice/photos/p.bin` on the
 * server, which is how the admin (home `/`) names it; bob, whose home is `/users/bob`,
 * cannot name it at all, so his requests for it find nothing (404).
 */
import { signatureOf } from '../../src/algo/chunk-delta.js';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { CHUNK_FRAME_HEADER_BYTES } from '../../src/core/protocol.js';
import { DEFAULT_DEFENDER } from '../../src/server/defender.js';
import { sha256, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share, tokenFor } from '../helpers/users.js';
import { packBody as pack } from '../helpers/packs.js';

const IDS = ['none', 'malformed', 'wrong', 'expired', 'revoked', 'readOnly', 'prefix', 'other', 'admin', 'owner'] as const;
type Id = (typeof IDS)[number];
type Expect = Record<Id, number>;

const AUTH_FAIL = { none: 401, malformed: 401, wrong: 401, expired: 401, revoked: 401 } as const;
/** Authenticated-caller columns, in IDS order: readOnly, prefix, other, admin, owner. */
const row = (readOnly: number, prefix: number, other: number, admin: number, owner: number): Expect => ({ ...AUTH_FAIL, readOnly, prefix, other, admin, owner });
const everyone = (status: number): Expect => Object.fromEntries(IDS.map((id) => [id, status])) as Expect;
const ADMIN_ONLY = (status: number): Expect => row(403, 403, 403, status, 403);

/** Bytes that must never appear in a refused answer. */
const SECRET = Buffer.from('SECRET-PHOTO-' + randomBytes(16).toString('hex'));
const OCTET = { 'content-type': 'application/octet-stream' };

let t: TestServer;
let clock = Date.now();
const tokens = {} as Record<Id, string | null>;
let aliceFullId = '';
let photoChunk = '';
let n = 0;
const fresh = (what: string): string => `${what}-${++n}`;

/** A request as caller `id`. */
function call(id: Id, method: string, path: string, init: { json?: unknown; body?: RequestInit['body']; headers?: Record<string, string> } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (id === 'malformed') headers.authorization = 'Bearer two words';
  else if (tokens[id] !== null) headers.authorization = `Bearer ${tokens[id]}`;
  let body = init.body;
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  }
  return fetch(t.url + path, { method, headers, body });
}

/** Alice's path as caller `id` names it. */
const P = (id: Id, userPath: string): string => (id === 'admin' ? '/users/alice' + userPath : userPath);
const url = (id: Id, prefix: string, userPath: string): string => `/api/v1/${prefix}${encodeURI(P(id, userPath))}`;

const alice = (path: string, init: Parameters<typeof call>[3] = {}, method = 'GET') => call('owner', method, path, init);

async function aliceFile(userPath: string, data: Buffer = randomBytes(100)): Promise<void> {
  const r = await uploadBuffer(t, userPath, data, 64 * 1024, { token: tokens.owner! });
  expect(r.status).toBe(200);
}

async function aliceExists(userPath: string): Promise<boolean> {
  const r = await alice(`/api/v1/stat${encodeURI(userPath)}`);
  return r.status === 200;
}

/** An upload session of alice's: one file in /photos with one chunk (sent or not). */
async function aliceSession(opts: { send?: boolean; stream?: boolean } = {}): Promise<{ id: string; data: Buffer; hash: string }> {
  const data = randomBytes(500);
  const hash = sha256(data);
  const refs = [{ hash, size: data.length }];
  const spec = opts.stream ? { path: `/photos/${fresh('up')}` } : { path: `/photos/${fresh('up')}`, size: data.length, hash: fileHashOf(refs), chunks: refs };
  const r = await alice('/api/v1/uploads', { json: spec }, 'POST');
  expect(r.status).toBe(201);
  const { id } = (await r.json()) as { id: string };
  if (opts.send) expect((await alice(`/api/v1/uploads/${id}/chunks/${hash}`, { body: data, headers: OCTET }, 'PUT')).status).toBe(200);
  return { id, data, hash };
}

interface Row {
  name: string;
  expect: Expect;
  /** Makes the request for one cell (setting up whatever the cell needs first). */
  run(id: Id): Promise<Response>;
  /** Checks, after a refused cell, that nothing changed. */
  unchanged?(id: Id): Promise<void>;
}

const rows: Row[] = [];

beforeAll(async () => {
  t = await startTestServer({
    now: () => clock,
    // Hundreds of deliberate failures from 127.0.0.1: the defender and limits have suites of their own.
    defender: { ...DEFAULT_DEFENDER, enabled: false },
    rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 0 },
  });
  await addUser(t, 'alice', { password: 'alice-password' });
  await addUser(t, 'bob', { password: 'bob-password' });
  const full = await tokenFor(t, 'alice', { name: 'full' });
  aliceFullId = full.id;
  tokens.owner = full.token;
  tokens.readOnly = (await tokenFor(t, 'alice', { name: 'read-only', scopes: ['list', 'read'] })).token;
  tokens.prefix = (await tokenFor(t, 'alice', { name: 'docs only', pathPrefix: '/docs' })).token;
  tokens.other = (await tokenFor(t, 'bob', { name: 'bob' })).token;
  tokens.admin = t.token;
  tokens.none = null;
  tokens.malformed = null;
  tokens.wrong = `ferry_${aliceFullId}_${randomBytes(32).toString('base64url')}`;
  tokens.expired = (await tokenFor(t, 'alice', { name: 'short', expiresInSeconds: 60 })).token;
  const revoked = await tokenFor(t, 'alice', { name: 'revoked' });
  tokens.revoked = revoked.token;
  expect((await t.api(`/api/v1/tokens/${revoked.id}`, { method: 'DELETE' })).status).toBe(200);
  clock += 61_000; // the short token is now expired

  await aliceFile('/photos/p.bin', SECRET);
  await aliceFile('/docs/d.txt');
  const m = (await (await alice('/api/v1/manifests/photos/p.bin')).json()) as { chunks: { hash: string }[] };
  photoChunk = m.chunks[0].hash;
  await addUserFileForBob();
});

async function addUserFileForBob(): Promise<void> {
  const r = await uploadBuffer(t, '/bob.txt', Buffer.from('bob owns this'), 64 * 1024, { token: tokens.other! });
  expect(r.status).toBe(200);
}

afterAll(async () => {
  await t?.close();
});

// ---------------------------------------------------------------- public routes

rows.push(
  { name: 'GET /healthz', expect: everyone(200), run: (id) => call(id, 'GET', '/healthz') },
  { name: 'GET /readyz', expect: everyone(200), run: (id) => call(id, 'GET', '/readyz') },
  { name: 'HEAD /healthz', expect: everyone(200), run: (id) => call(id, 'HEAD', '/healthz') },
  { name: 'HEAD /readyz', expect: everyone(200), run: (id) => call(id, 'HEAD', '/readyz') },
  { name: 'GET /api/v1/capabilities', expect: everyone(200), run: (id) => call(id, 'GET', '/api/v1/capabilities') },
  {
    // A login is judged by its body alone; whatever Authorization header comes along is ignored.
    name: 'POST /api/v1/auth/login',
    expect: everyone(201),
    run: (id) => call(id, 'POST', '/api/v1/auth/login', { json: { user: 'alice', password: 'alice-password' } }),
  },
  { name: 'POST /api/v1/auth/login (wrong password)', expect: everyone(401), run: (id) => call(id, 'POST', '/api/v1/auth/login', { json: { user: 'alice', password: 'not-her-password' } }) },
  { name: 'POST /api/v1/auth/session', expect: everyone(201), run: (id) => call(id, 'POST', '/api/v1/auth/session', { json: { user: 'bob', password: 'bob-password' } }) },
  {
    name: 'POST /api/v1/auth/refresh',
    expect: everyone(200),
    run: async (id) => {
      const s = (await (await call('none', 'POST', '/api/v1/auth/session', { json: { user: 'bob', password: 'bob-password' } })).json()) as { refreshToken: string };
      return call(id, 'POST', '/api/v1/auth/refresh', { json: { refreshToken: s.refreshToken } });
    },
  },
  {
    name: 'GET /s/:key (download link)',
    expect: everyone(200),
    run: async (id) => {
      const s = await share(t, tokens.owner!, { path: '/docs/d.txt' });
      return call(id, 'GET', new URL(s.url).pathname);
    },
  },
  {
    name: 'HEAD /s/:key/* (folder link)',
    expect: everyone(200),
    run: async (id) => {
      const s = await share(t, tokens.owner!, { path: '/docs' });
      return call(id, 'HEAD', new URL(s.url).pathname + '/d.txt');
    },
  },
  {
    name: 'HEAD /s/:key (file link)',
    expect: everyone(200),
    run: async (id) => {
      const s = await share(t, tokens.owner!, { path: '/docs/d.txt' });
      return call(id, 'HEAD', new URL(s.url).pathname);
    },
  },
  {
    name: 'GET /s/:key/* (folder link)',
    expect: everyone(200),
    run: async (id) => {
      const s = await share(t, tokens.owner!, { path: '/docs' });
      return call(id, 'GET', new URL(s.url).pathname + '/d.txt');
    },
  },
  {
    name: 'PUT /s/:key/* (upload link)',
    expect: everyone(201),
    run: async (id) => {
      const s = await share(t, tokens.owner!, { path: '/docs', kind: 'upload' });
      return call(id, 'PUT', new URL(s.url).pathname + '/' + fresh('dropped'), { body: 'hello', headers: OCTET });
    },
  },
);

// ---------------------------------------------------------------- the web app (public pages; the API stays closed)

rows.push(
  { name: 'GET / (the app)', expect: everyone(200), run: (id) => call(id, 'GET', '/') },
  { name: 'GET /* (a page of the app)', expect: everyone(200), run: (id) => call(id, 'GET', '/files/photos') },
  // Unknown API paths stay JSON errors, never the app's page.
  { name: 'GET /* (an unknown API path)', expect: everyone(404), run: (id) => call(id, 'GET', '/api/v1/no-such-route') },
  {
    name: 'POST /s/:key/unlock',
    expect: everyone(200),
    run: async (id) => {
      const s = await share(t, tokens.owner!, { path: '/docs', kind: 'upload', password: 'drop-box-pass' });
      return call(id, 'POST', new URL(s.url).pathname + '/unlock', { json: { password: 'drop-box-pass' } });
    },
  },
);

// ---------------------------------------------------------------- namespace and downloads

rows.push(
  { name: 'GET /api/v1/stat/*', expect: row(200, 403, 404, 200, 200), run: (id) => call(id, 'GET', url(id, 'stat', '/photos/p.bin')) },
  // The root without a trailing path: each caller's own root (bob's is his home: 200, but his).
  { name: 'GET /api/v1/stat', expect: row(200, 403, 200, 200, 200), run: (id) => call(id, 'GET', '/api/v1/stat') },
  { name: 'GET /api/v1/list', expect: row(200, 403, 200, 200, 200), run: (id) => call(id, 'GET', '/api/v1/list') },
  { name: 'GET /api/v1/list/*', expect: row(200, 403, 404, 200, 200), run: (id) => call(id, 'GET', url(id, 'list', '/photos')) },
  { name: 'GET /api/v1/files/*', expect: row(200, 403, 404, 200, 200), run: (id) => call(id, 'GET', url(id, 'files', '/photos/p.bin')) },
  { name: 'HEAD /api/v1/files/*', expect: row(200, 403, 404, 200, 200), run: (id) => call(id, 'HEAD', url(id, 'files', '/photos/p.bin')) },
  { name: 'GET /api/v1/manifests/*', expect: row(200, 403, 404, 200, 200), run: (id) => call(id, 'GET', url(id, 'manifests', '/photos/p.bin')) },
  {
    name: 'GET /api/v1/chunks/:hash?path=',
    expect: row(200, 403, 404, 200, 200),
    run: (id) => call(id, 'GET', `/api/v1/chunks/${photoChunk}?path=${encodeURIComponent(P(id, '/photos/p.bin'))}`),
  },
  {
    // Without a file to read it through, a chunk hash opens nothing (an unrestricted admin excepted).
    name: 'GET /api/v1/chunks/:hash (no path)',
    expect: row(400, 400, 400, 200, 400),
    run: (id) => call(id, 'GET', `/api/v1/chunks/${photoChunk}`),
  },
  {
    // Bob names a file of his own that does not hold alice's chunk.
    name: 'GET /api/v1/chunks/:hash?path=<a file without it>',
    expect: row(404, 404, 404, 404, 404),
    run: (id) => call(id, 'GET', `/api/v1/chunks/${photoChunk}?path=${encodeURIComponent(id === 'other' ? '/bob.txt' : P(id, '/docs/d.txt'))}`),
  },
  {
    name: 'GET /api/v1/chunks/:hash/signature?path=',
    expect: row(200, 403, 404, 200, 200),
    run: (id) => call(id, 'GET', `/api/v1/chunks/${photoChunk}/signature?path=${encodeURIComponent(P(id, '/photos/p.bin'))}`),
  },
  {
    // The body: the signature of a base the caller holds (any bytes).
    name: 'POST /api/v1/chunks/:hash/delta?path=',
    expect: row(200, 403, 404, 200, 200),
    run: (id) => call(id, 'POST', `/api/v1/chunks/${photoChunk}/delta?path=${encodeURIComponent(P(id, '/photos/p.bin'))}`, { body: signatureOf(Buffer.alloc(3000, 7)), headers: OCTET }),
  },
  {
    name: 'POST /api/v1/chunks/batch',
    expect: row(200, 403, 404, 200, 200),
    run: (id) => call(id, 'POST', '/api/v1/chunks/batch', { json: { paths: [P(id, '/photos/p.bin')], hashes: [photoChunk] } }),
  },
  {
    name: 'POST /api/v1/chunks/batch (no paths)',
    expect: row(400, 400, 400, 200, 400),
    run: (id) => call(id, 'POST', '/api/v1/chunks/batch', { json: { hashes: [photoChunk] } }),
  },
  {
    // A readable file of one's own named next to a chunk it does not hold.
    name: 'POST /api/v1/chunks/batch (paths without it)',
    expect: row(404, 404, 404, 404, 404),
    run: (id) => call(id, 'POST', '/api/v1/chunks/batch', { json: { paths: [id === 'other' ? '/bob.txt' : P(id, '/docs/d.txt')], hashes: [photoChunk] } }),
  },
  {
    name: 'POST /api/v1/auth/ticket',
    expect: row(200, 403, 200, 200, 200),
    run: (id) => call(id, 'POST', '/api/v1/auth/ticket', { json: { path: P(id, '/photos') } }),
  },
  { name: 'GET /api/v1/zip/*', expect: row(200, 403, 404, 200, 200), run: (id) => call(id, 'GET', url(id, 'zip', '/photos')) },
  { name: 'GET /api/v1/zip', expect: row(200, 403, 404, 200, 200), run: (id) => call(id, 'GET', `/api/v1/zip?path=${encodeURIComponent(P(id, '/photos/p.bin'))}`) },
  { name: 'POST /api/v1/zip', expect: row(200, 403, 404, 200, 200), run: (id) => call(id, 'POST', '/api/v1/zip', { json: { paths: [P(id, '/photos')] } }) },
  {
    // Bob's upload lands in his own home: alice's /photos does not get the file.
    name: 'PUT /api/v1/files/*',
    expect: row(403, 403, 201, 201, 201),
    run: (id) => {
      lastPath = `/photos/${fresh('put')}`;
      return call(id, 'PUT', url(id, 'files', lastPath), { body: 'one request', headers: OCTET });
    },
    unchanged: async () => expect(await aliceExists(lastPath)).toBe(false),
  },
  {
    name: 'POST /api/v1/files/* (form)',
    expect: row(403, 403, 201, 201, 201),
    run: (id) => {
      const name = fresh('form');
      lastPath = `/photos/${name}`;
      const form = new FormData();
      form.append('file', new Blob(['a form upload']), name);
      return call(id, 'POST', url(id, 'files', '/photos'), { body: form });
    },
    unchanged: async () => expect(await aliceExists(lastPath)).toBe(false),
  },
  {
    name: 'POST /api/v1/files (form, into the root)',
    expect: row(403, 403, 201, 201, 201),
    run: (id) => {
      const form = new FormData();
      form.append('file', new Blob(['a form upload']), fresh('root-form'));
      return call(id, 'POST', '/api/v1/files', { body: form });
    },
  },
  {
    name: 'POST /api/v1/mkdir/*',
    expect: row(403, 403, 201, 201, 201),
    run: (id) => call(id, 'POST', url(id, 'mkdir', `/photos/${fresh('dir')}`) + '?parents=true'),
  },
  {
    name: 'POST /api/v1/move',
    expect: row(403, 403, 404, 200, 200),
    run: async (id) => {
      const from = `/photos/${fresh('mv')}`;
      await aliceFile(from);
      lastPath = from;
      return call(id, 'POST', '/api/v1/move', { json: { from: P(id, from), to: P(id, from + '-moved') } });
    },
    unchanged: async () => expect(await aliceExists(lastPath)).toBe(true),
  },
  {
    name: 'POST /api/v1/copy',
    expect: row(403, 403, 404, 200, 200),
    run: async (id) => {
      lastPath = `/photos/${fresh('cp')}`;
      return call(id, 'POST', '/api/v1/copy', { json: { from: P(id, '/photos/p.bin'), to: P(id, lastPath) } });
    },
    unchanged: async () => expect(await aliceExists(lastPath)).toBe(false),
  },
  {
    name: 'DELETE /api/v1/files/*',
    expect: row(403, 403, 404, 204, 204),
    run: async (id) => {
      lastPath = `/photos/${fresh('rm')}`;
      await aliceFile(lastPath);
      return call(id, 'DELETE', url(id, 'files', lastPath));
    },
    unchanged: async () => expect(await aliceExists(lastPath)).toBe(true),
  },
);
let lastPath = '';

// ---------------------------------------------------------------- uploads

let lastSession = '';
rows.push(
  {
    // Bob's upload lands in his own home: alice's /photos does not get the file.
    name: 'POST /api/v1/uploads',
    expect: row(403, 403, 201, 201, 201),
    run: (id) => {
      lastPath = `/photos/${fresh('new')}`;
      const data = Buffer.from('new');
      const refs = [{ hash: sha256(data), size: 3 }];
      return call(id, 'POST', '/api/v1/uploads', { json: { path: P(id, lastPath), size: 3, hash: fileHashOf(refs), chunks: refs } });
    },
    unchanged: async () => expect(await aliceExists(lastPath)).toBe(false),
  },
  {
    name: 'GET /api/v1/uploads/:id',
    expect: row(403, 403, 404, 404, 200),
    run: async (id) => call(id, 'GET', `/api/v1/uploads/${(await aliceSession()).id}`),
  },
  {
    name: 'POST /api/v1/uploads/:id/chunks',
    expect: row(403, 403, 404, 404, 200),
    run: async (id) => {
      const s = await aliceSession({ stream: true });
      lastSession = s.id;
      return call(id, 'POST', `/api/v1/uploads/${s.id}/chunks`, { json: { chunks: [{ hash: s.hash, size: s.data.length }] } });
    },
    unchanged: async () => {
      const st = (await (await alice(`/api/v1/uploads/${lastSession}`)).json()) as { missing: string[] };
      expect(st.missing).toEqual([]);
    },
  },
  {
    name: 'PUT /api/v1/uploads/:id/chunks/:hash',
    expect: row(403, 403, 404, 404, 200),
    run: async (id) => {
      const s = await aliceSession();
      lastSession = s.id;
      return call(id, 'PUT', `/api/v1/uploads/${s.id}/chunks/${s.hash}`, { body: s.data, headers: OCTET });
    },
    unchanged: async () => {
      const st = (await (await alice(`/api/v1/uploads/${lastSession}`)).json()) as { missing: string[] };
      expect(st.missing).toHaveLength(1);
    },
  },
  {
    name: 'POST /api/v1/uploads/:id/packs',
    expect: row(403, 403, 404, 404, 200),
    run: async (id) => {
      const s = await aliceSession();
      lastSession = s.id;
      return call(id, 'POST', `/api/v1/uploads/${s.id}/packs`, { body: pack([s.data]), headers: OCTET });
    },
    unchanged: async () => {
      const st = (await (await alice(`/api/v1/uploads/${lastSession}`)).json()) as { missing: string[] };
      expect(st.missing).toHaveLength(1);
    },
  },
  {
    name: 'POST /api/v1/uploads/:id/chunk-frames',
    expect: row(403, 403, 404, 404, 200),
    run: async (id) => {
      const s = await aliceSession();
      lastSession = s.id;
      const head = Buffer.alloc(CHUNK_FRAME_HEADER_BYTES);
      head.write(s.hash, 0, 'hex');
      head.writeUInt32BE(s.data.length, 32);
      head.writeUInt32BE(s.data.length, 36);
      return call(id, 'POST', `/api/v1/uploads/${s.id}/chunk-frames`, { body: Buffer.concat([head, s.data]), headers: OCTET });
    },
    unchanged: async () => {
      const st = (await (await alice(`/api/v1/uploads/${lastSession}`)).json()) as { missing: string[] };
      expect(st.missing).toHaveLength(1);
    },
  },
  {
    name: 'POST /api/v1/uploads/:id/commit',
    expect: row(403, 403, 404, 404, 200),
    run: async (id) => {
      const s = await aliceSession({ send: true });
      lastSession = s.id;
      return call(id, 'POST', `/api/v1/uploads/${s.id}/commit`, { json: {} });
    },
    unchanged: async () => expect((await alice(`/api/v1/uploads/${lastSession}`)).status).toBe(200),
  },
  {
    name: 'DELETE /api/v1/uploads/:id',
    expect: row(403, 403, 404, 404, 204),
    run: async (id) => {
      const s = await aliceSession();
      lastSession = s.id;
      return call(id, 'DELETE', `/api/v1/uploads/${s.id}`);
    },
    unchanged: async () => expect((await alice(`/api/v1/uploads/${lastSession}`)).status).toBe(200),
  },
);

// ---------------------------------------------------------------- account, tokens, shares

let lastId = '';
rows.push(
  { name: 'GET /api/v1/me', expect: row(200, 200, 200, 200, 200), run: (id) => call(id, 'GET', '/api/v1/me') },
  {
    // With alice's current password (left unchanged): whoever knows it may; bob's account is
    // not alice's (wrong password for him); the admin has no password yet and a full token.
    name: 'POST /api/v1/me/password',
    expect: row(204, 204, 401, 204, 204),
    run: (id) => call(id, 'POST', '/api/v1/me/password', { json: { currentPassword: 'alice-password', newPassword: 'alice-password' } }),
  },
  {
    // Each caller asks for a token of its own that can only read: allowed within what it holds.
    name: 'POST /api/v1/tokens',
    expect: row(201, 201, 201, 201, 201),
    run: (id) => call(id, 'POST', '/api/v1/tokens', { json: { name: fresh('tok'), scopes: ['read'] } }),
  },
  {
    name: 'POST /api/v1/tokens (more scopes than the caller)',
    expect: row(403, 201, 201, 201, 201),
    run: (id) => call(id, 'POST', '/api/v1/tokens', { json: { name: fresh('tok'), scopes: ['read', 'write'] } }),
  },
  {
    name: 'POST /api/v1/tokens (a path outside the caller\'s prefix)',
    expect: row(201, 403, 201, 201, 201),
    run: (id) => call(id, 'POST', '/api/v1/tokens', { json: { name: fresh('tok'), pathPrefix: '/photos' } }),
  },
  {
    name: 'POST /api/v1/tokens (for another user)',
    expect: row(403, 403, 403, 201, 403),
    run: (id) => call(id, 'POST', '/api/v1/tokens', { json: { name: fresh('tok'), user: id === 'other' || id === 'admin' ? 'alice' : 'bob' } }),
  },
  { name: 'GET /api/v1/tokens', expect: row(200, 200, 200, 200, 200), run: (id) => call(id, 'GET', '/api/v1/tokens') },
  { name: 'GET /api/v1/tokens?all=true', expect: row(403, 403, 403, 200, 403), run: (id) => call(id, 'GET', '/api/v1/tokens?all=true') },
  {
    // A token of alice's that can list and read, unlimited in path.
    name: 'DELETE /api/v1/tokens/:id',
    expect: row(200, 403, 404, 200, 200),
    run: async (id) => {
      lastId = (await tokenFor(t, 'alice', { name: fresh('victim'), scopes: ['list', 'read'] })).id;
      return call(id, 'DELETE', `/api/v1/tokens/${lastId}`);
    },
    unchanged: async () => {
      const list = (await (await alice('/api/v1/tokens')).json()) as { id: string; revokedAt: number | null }[];
      expect(list.find((x) => x.id === lastId)?.revokedAt).toBeNull();
    },
  },
  { name: 'GET /api/v1/shares', expect: row(403, 200, 200, 200, 200), run: (id) => call(id, 'GET', '/api/v1/shares') },
  { name: 'GET /api/v1/shares?all=true', expect: row(403, 403, 403, 200, 403), run: (id) => call(id, 'GET', '/api/v1/shares?all=true') },
  {
    name: 'POST /api/v1/shares',
    expect: row(403, 403, 404, 201, 201),
    run: (id) => call(id, 'POST', '/api/v1/shares', { json: { path: P(id, '/photos/p.bin') } }),
  },
  {
    name: 'DELETE /api/v1/shares/:id',
    expect: row(403, 403, 404, 204, 204),
    run: async (id) => {
      const s = await share(t, tokens.owner!, { path: '/photos/p.bin' });
      lastId = s.id;
      lastPath = new URL(s.url).pathname;
      return call(id, 'DELETE', `/api/v1/shares/${s.id}`);
    },
    unchanged: async () => expect((await fetch(t.url + lastPath)).status).toBe(200),
  },
);

// ---------------------------------------------------------------- admin

rows.push(
  { name: 'GET /metrics', expect: ADMIN_ONLY(200), run: (id) => call(id, 'GET', '/metrics') },
  { name: 'GET /api/v1/admin/stats', expect: ADMIN_ONLY(200), run: (id) => call(id, 'GET', '/api/v1/admin/stats') },
  { name: 'POST /api/v1/admin/gc', expect: ADMIN_ONLY(200), run: (id) => call(id, 'POST', '/api/v1/admin/gc', { json: {} }) },
  { name: 'POST /api/v1/admin/sweep', expect: ADMIN_ONLY(200), run: (id) => call(id, 'POST', '/api/v1/admin/sweep') },
  { name: 'GET /api/v1/admin/audit', expect: ADMIN_ONLY(200), run: (id) => call(id, 'GET', '/api/v1/admin/audit?limit=5') },
  { name: 'POST /api/v1/admin/webhooks', expect: ADMIN_ONLY(201), run: (id) => call(id, 'POST', '/api/v1/admin/webhooks', { json: { url: 'http://127.0.0.1:2/x', events: ['upload'] } }) },
  { name: 'GET /api/v1/admin/webhooks', expect: ADMIN_ONLY(200), run: (id) => call(id, 'GET', '/api/v1/admin/webhooks') },
  { name: 'DELETE /api/v1/admin/webhooks/:id', expect: ADMIN_ONLY(404), run: (id) => call(id, 'DELETE', '/api/v1/admin/webhooks/wh_0000000000000000') },
  { name: 'GET /api/v1/admin/webhook-deliveries', expect: ADMIN_ONLY(200), run: (id) => call(id, 'GET', '/api/v1/admin/webhook-deliveries') },
  { name: 'POST /api/v1/admin/backup', expect: ADMIN_ONLY(400), run: (id) => call(id, 'POST', '/api/v1/admin/backup', { json: { dir: 'not/absolute' } }) },
  { name: 'POST /api/v1/admin/check', expect: ADMIN_ONLY(200), run: (id) => call(id, 'POST', '/api/v1/admin/check', { json: { quarantine: false } }) },
  { name: 'GET /api/v1/admin/bans', expect: ADMIN_ONLY(200), run: (id) => call(id, 'GET', '/api/v1/admin/bans') },
  { name: 'DELETE /api/v1/admin/bans/:ip', expect: ADMIN_ONLY(404), run: (id) => call(id, 'DELETE', '/api/v1/admin/bans/192.0.2.1') },
  { name: 'GET /api/v1/admin/uploads', expect: ADMIN_ONLY(200), run: (id) => call(id, 'GET', '/api/v1/admin/uploads?limit=5') },
  { name: 'DELETE /api/v1/admin/uploads/:id', expect: ADMIN_ONLY(404), run: (id) => call(id, 'DELETE', '/api/v1/admin/uploads/no-such-session') },
  { name: 'GET /api/v1/users', expect: ADMIN_ONLY(200), run: (id) => call(id, 'GET', '/api/v1/users') },
  {
    name: 'POST /api/v1/users',
    expect: ADMIN_ONLY(201),
    run: (id) => {
      lastId = fresh('user');
      return call(id, 'POST', '/api/v1/users', { json: { name: lastId } });
    },
    unchanged: async () => expect((await t.api(`/api/v1/users/${lastId}`)).status).toBe(404),
  },
  { name: 'GET /api/v1/users/:name', expect: ADMIN_ONLY(200), run: (id) => call(id, 'GET', '/api/v1/users/alice') },
  {
    name: 'PATCH /api/v1/users/:name',
    expect: ADMIN_ONLY(200),
    run: (id) => call(id, 'PATCH', '/api/v1/users/bob', { json: { quotaBytes: id === 'admin' ? null : 1 } }),
    unchanged: async () => expect(((await (await t.api('/api/v1/users/bob')).json()) as { quotaBytes: number | null }).quotaBytes).toBeNull(),
  },
  {
    name: 'PUT /api/v1/users/:name/grants',
    expect: ADMIN_ONLY(200),
    run: (id) => call(id, 'PUT', '/api/v1/users/bob/grants', { json: { path: '/extra', permissions: id === 'admin' ? [] : ['list'] } }),
    unchanged: async () => {
      const u = (await (await t.api('/api/v1/users/bob')).json()) as { grants: { path: string }[] };
      expect(u.grants.map((g) => g.path)).toEqual(['/']);
    },
  },
  {
    name: 'PUT /api/v1/users/:name/password',
    expect: ADMIN_ONLY(204),
    run: async (id) => {
      lastId = fresh('pw');
      await addUser(t, lastId, { password: 'first-password' });
      return call(id, 'PUT', `/api/v1/users/${lastId}/password`, { json: { password: 'second-password' } });
    },
    unchanged: async () => {
      const r = await fetch(t.url + '/api/v1/auth/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: lastId, password: 'first-password' }) });
      expect(r.status).toBe(201);
    },
  },
  {
    name: 'DELETE /api/v1/users/:name',
    expect: ADMIN_ONLY(204),
    run: async (id) => {
      lastId = fresh('gone');
      await addUser(t, lastId);
      return call(id, 'DELETE', `/api/v1/users/${lastId}`);
    },
    unchanged: async () => expect((await t.api(`/api/v1/users/${lastId}`)).status).toBe(200),
  },
);

// ---------------------------------------------------------------- SSH keys (the SFTP front's logins)

/** A fresh, well-formed ed25519 public key line (any 32 bytes are a key to the parser). */
function sshKeyLine(comment: string): string {
  const type = Buffer.from('ssh-ed25519');
  const blob = Buffer.concat([Buffer.alloc(4), type, Buffer.alloc(4), randomBytes(32)]);
  blob.writeUInt32BE(type.length, 0);
  blob.writeUInt32BE(32, 4 + type.length);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}

async function aliceKeyIds(): Promise<string[]> {
  const r = await t.api('/api/v1/users/alice/keys');
  expect(r.status).toBe(200);
  return ((await r.json()) as { id: string }[]).map((k) => k.id);
}

rows.push(
  // Any credential of alice's may list her keys; changing them needs one that can do all she can.
  { name: 'GET /api/v1/users/:name/keys', expect: row(200, 200, 403, 200, 200), run: (id) => call(id, 'GET', '/api/v1/users/alice/keys') },
  {
    name: 'POST /api/v1/users/:name/keys',
    expect: row(403, 403, 403, 201, 201),
    run: async (id) => {
      lastPath = sshKeyLine(fresh('key'));
      return call(id, 'POST', '/api/v1/users/alice/keys', { json: { keys: lastPath } });
    },
    unchanged: async () => {
      const r = await t.api('/api/v1/users/alice/keys');
      const comments = ((await r.json()) as { comment: string }[]).map((k) => k.comment);
      expect(comments).not.toContain(lastPath.split(' ')[2]);
    },
  },
  {
    name: 'DELETE /api/v1/users/:name/keys/:id',
    expect: row(403, 403, 403, 204, 204),
    run: async (id) => {
      const r = await t.api('/api/v1/users/alice/keys', { method: 'POST', json: { keys: sshKeyLine(fresh('doomed')) } });
      expect(r.status).toBe(201);
      lastId = ((await r.json()) as { id: string }[])[0].id;
      return call(id, 'DELETE', `/api/v1/users/alice/keys/${lastId}`);
    },
    unchanged: async () => expect(await aliceKeyIds()).toContain(lastId),
  },
);

// ---------------------------------------------------------------- the API description (public)

rows.push(
  { name: 'GET /api/v1/openapi.json', expect: everyone(200), run: (id) => call(id, 'GET', '/api/v1/openapi.json') },
  { name: 'GET /api/v1/docs', expect: everyone(200), run: (id) => call(id, 'GET', '/api/v1/docs') },
  { name: 'GET /api/v1/docs/:asset', expect: everyone(200), run: (id) => call(id, 'GET', '/api/v1/docs/app.js') },
);

// ---------------------------------------------------------------- versions and trash

rows.push(
  { name: 'GET /api/v1/versions/*', expect: row(200, 403, 404, 200, 200), run: (id) => call(id, 'GET', url(id, 'versions', '/photos/p.bin')) },
  { name: 'POST /api/v1/versions/restore', expect: row(403, 403, 404, 404, 404), run: (id) => call(id, 'POST', '/api/v1/versions/restore', { json: { path: P(id, '/photos/p.bin'), version: 1 } }) },
  { name: 'GET /api/v1/trash', expect: row(200, 403, 200, 200, 200), run: (id) => call(id, 'GET', `/api/v1/trash?path=${encodeURIComponent(P(id, '/photos'))}`) },
  { name: 'POST /api/v1/trash/restore', expect: row(404, 404, 404, 404, 404), run: (id) => call(id, 'POST', '/api/v1/trash/restore', { json: { id: 999_999 } }) },
  {
    name: 'DELETE /api/v1/trash',
    expect: row(403, 403, 200, 200, 200),
    // allUsers=true: the admin's path is inside Alice's home (test/server/trash-all-users.test.ts has the refusal without).
    run: (id) => call(id, 'DELETE', `/api/v1/trash?path=${encodeURIComponent(P(id, '/photos'))}&allUsers=true`),
    unchanged: async () => expect(await aliceExists('/photos/p.bin')).toBe(true),
  },
);

// ---------------------------------------------------------------- WebDAV (/dav/*: the caller's home; /dav: its root)

const dav = (id: Id, userPath: string): string => '/dav' + encodeURI(P(id, userPath));
const DAV_XML = { 'content-type': 'application/xml' };
const LOCK_SHARED = '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
let lastToken = '';

rows.push(
  { name: 'OPTIONS /', expect: everyone(200), run: (id) => call(id, 'OPTIONS', '/') },
  { name: 'OPTIONS /dav', expect: everyone(200), run: (id) => call(id, 'OPTIONS', '/dav') },
  { name: 'OPTIONS /dav/*', expect: everyone(200), run: (id) => call(id, 'OPTIONS', '/dav/photos/') },
  { name: 'GET /dav/*', expect: row(200, 403, 404, 200, 200), run: (id) => call(id, 'GET', dav(id, '/photos/p.bin')) },
  { name: 'GET /dav', expect: row(200, 403, 200, 200, 200), run: (id) => call(id, 'GET', '/dav') },
  { name: 'HEAD /dav/*', expect: row(200, 403, 404, 200, 200), run: (id) => call(id, 'HEAD', dav(id, '/photos/p.bin')) },
  { name: 'HEAD /dav', expect: row(200, 403, 200, 200, 200), run: (id) => call(id, 'HEAD', '/dav') },
  {
    // Bob's PUT lands in a /photos of his own home (made by his native upload above).
    name: 'PUT /dav/*',
    expect: row(403, 403, 201, 201, 201),
    run: (id) => {
      lastPath = `/photos/${fresh('dav-put')}`;
      return call(id, 'PUT', dav(id, lastPath), { body: 'new', headers: OCTET });
    },
    unchanged: async () => expect(await aliceExists(lastPath)).toBe(false),
  },
  { name: 'PUT /dav', expect: row(405, 405, 405, 405, 405), run: (id) => call(id, 'PUT', '/dav', { body: 'x', headers: OCTET }) },
  {
    name: 'DELETE /dav/*',
    expect: row(403, 403, 404, 204, 204),
    run: async (id) => {
      lastPath = `/photos/${fresh('dav-rm')}`;
      await aliceFile(lastPath);
      return call(id, 'DELETE', dav(id, lastPath));
    },
    unchanged: async () => expect(await aliceExists(lastPath)).toBe(true),
  },
  { name: 'DELETE /dav', expect: row(405, 405, 405, 405, 405), run: (id) => call(id, 'DELETE', '/dav') },
  {
    name: 'MKCOL /dav/*',
    expect: row(403, 403, 201, 201, 201),
    run: (id) => {
      lastPath = `/photos/${fresh('dav-dir')}`;
      return call(id, 'MKCOL', dav(id, lastPath));
    },
    unchanged: async () => expect(await aliceExists(lastPath)).toBe(false),
  },
  { name: 'MKCOL /dav', expect: row(403, 403, 405, 405, 405), run: (id) => call(id, 'MKCOL', '/dav') },
  {
    name: 'COPY /dav/*',
    expect: row(403, 403, 404, 201, 201),
    run: (id) => {
      lastPath = `/photos/${fresh('dav-cp')}`;
      return call(id, 'COPY', dav(id, '/photos/p.bin'), { headers: { destination: dav(id, lastPath) } });
    },
    unchanged: async () => expect(await aliceExists(lastPath)).toBe(false),
  },
  { name: 'COPY /dav', expect: row(400, 400, 400, 400, 400), run: (id) => call(id, 'COPY', '/dav', { headers: { destination: '/dav/into-itself' } }) },
  {
    name: 'MOVE /dav/*',
    expect: row(403, 403, 404, 201, 201),
    run: async (id) => {
      lastPath = `/photos/${fresh('dav-mv')}`;
      await aliceFile(lastPath);
      return call(id, 'MOVE', dav(id, lastPath), { headers: { destination: dav(id, lastPath + '-moved') } });
    },
    unchanged: async () => expect(await aliceExists(lastPath)).toBe(true),
  },
  { name: 'MOVE /dav', expect: row(400, 400, 400, 400, 400), run: (id) => call(id, 'MOVE', '/dav', { headers: { destination: '/dav/elsewhere' } }) },
  { name: 'PROPFIND /dav/*', expect: row(207, 403, 404, 207, 207), run: (id) => call(id, 'PROPFIND', dav(id, '/photos/p.bin'), { headers: { depth: '0' } }) },
  { name: 'PROPFIND /dav', expect: row(207, 403, 207, 207, 207), run: (id) => call(id, 'PROPFIND', '/dav', { headers: { depth: '1' } }) },
  { name: 'PROPFIND /', expect: row(207, 403, 207, 207, 207), run: (id) => call(id, 'PROPFIND', '/', { headers: { depth: '1' } }) },
  {
    name: 'PROPPATCH /dav/*',
    expect: row(403, 403, 404, 207, 207),
    run: (id) =>
      call(id, 'PROPPATCH', dav(id, '/photos/p.bin'), {
        headers: DAV_XML,
        body: `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><by xmlns="urn:matrix">${id}</by></D:prop></D:set></D:propertyupdate>`,
      }),
  },
  {
    name: 'PROPPATCH /dav',
    expect: row(403, 403, 207, 207, 207),
    run: (id) => call(id, 'PROPPATCH', '/dav', { headers: DAV_XML, body: `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><by xmlns="urn:matrix">${id}</by></D:prop></D:set></D:propertyupdate>` }),
  },
  // Bob's lock names a path of his own home where nothing is: an empty file of his is made (201).
  { name: 'LOCK /dav/*', expect: row(403, 403, 201, 200, 200), run: (id) => call(id, 'LOCK', dav(id, '/photos/p.bin'), { headers: { ...DAV_XML, depth: '0' }, body: LOCK_SHARED }) },
  { name: 'LOCK /dav', expect: row(403, 403, 200, 200, 200), run: (id) => call(id, 'LOCK', '/dav', { headers: { ...DAV_XML, depth: '0' }, body: LOCK_SHARED }) },
  {
    // Everyone tries to take away a lock of alice's (the admin may).
    name: 'UNLOCK /dav/*',
    expect: row(403, 403, 409, 204, 204),
    run: async (id) => {
      lastPath = `/photos/${fresh('dav-locked')}`;
      await aliceFile(lastPath);
      const l = await alice(`/dav${encodeURI(lastPath)}`, { headers: { ...DAV_XML, depth: '0' }, body: LOCK_SHARED }, 'LOCK');
      expect(l.status).toBe(200);
      lastToken = String(l.headers.get('lock-token'));
      return call(id, 'UNLOCK', dav(id, lastPath), { headers: { 'lock-token': lastToken } });
    },
    unchanged: async () => {
      const r = await alice(`/dav${encodeURI(lastPath)}`, { body: 'no token', headers: OCTET }, 'PUT');
      expect(r.status).toBe(423);
    },
  },
  { name: 'UNLOCK /dav', expect: row(403, 403, 409, 409, 409), run: (id) => call(id, 'UNLOCK', '/dav', { headers: { 'lock-token': '<urn:uuid:no-such-lock>' } }) },
);

// ---------------------------------------------------------------- tus (/api/v1/tus/)

const TUS = { 'tus-resumable': '1.0.0' };
const tusMeta = (path: string): string => `filename ${Buffer.from(path.split('/').pop()!).toString('base64')},path ${Buffer.from(path.slice(0, path.lastIndexOf('/')) || '/').toString('base64')}`;
const tusCreated: string[] = [];
/** An upload of alice's into /photos, 100 bytes announced (the previous cell's is terminated: each is a live upload session). */
async function aliceTus(): Promise<string> {
  for (const old of tusCreated.splice(0)) await alice(`/api/v1/tus/${old}`, { headers: TUS }, 'DELETE');
  const r = await alice('/api/v1/tus/', { headers: { ...TUS, 'upload-length': '100', 'upload-metadata': tusMeta(`/photos/${fresh('tus')}`) } }, 'POST');
  expect(r.status).toBe(201);
  const id = String(r.headers.get('location')).split('/').pop()!;
  tusCreated.push(id);
  return id;
}
async function aliceTusOffset(id: string): Promise<number> {
  const r = await alice(`/api/v1/tus/${id}`, { headers: TUS }, 'HEAD');
  expect(r.status).toBe(200);
  return Number(r.headers.get('upload-offset'));
}
const PATCH_BODY = { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' };

rows.push(
  { name: 'OPTIONS /api/v1/tus', expect: everyone(204), run: (id) => call(id, 'OPTIONS', '/api/v1/tus') },
  { name: 'OPTIONS /api/v1/tus/', expect: everyone(204), run: (id) => call(id, 'OPTIONS', '/api/v1/tus/') },
  { name: 'OPTIONS /api/v1/tus/:id', expect: everyone(204), run: (id) => call(id, 'OPTIONS', '/api/v1/tus/anything') },
  {
    // Bob's upload would land in his own home.
    name: 'POST /api/v1/tus/',
    expect: row(403, 403, 201, 201, 201),
    run: (id) => call(id, 'POST', '/api/v1/tus/', { headers: { ...TUS, 'upload-length': '10', 'upload-metadata': tusMeta(P(id, `/photos/${fresh('tus-new')}`)) } }),
  },
  {
    name: 'POST /api/v1/tus',
    expect: row(403, 403, 201, 201, 201),
    run: (id) => call(id, 'POST', '/api/v1/tus', { headers: { ...TUS, 'upload-length': '10', 'upload-metadata': tusMeta(P(id, `/photos/${fresh('tus-new')}`)) } }),
  },
  { name: 'HEAD /api/v1/tus/:id', expect: row(403, 403, 404, 404, 200), run: async (id) => call(id, 'HEAD', `/api/v1/tus/${await aliceTus()}`, { headers: TUS }) },
  {
    name: 'PATCH /api/v1/tus/:id',
    expect: row(403, 403, 404, 404, 204),
    run: async (id) => {
      lastSession = await aliceTus();
      return call(id, 'PATCH', `/api/v1/tus/${lastSession}`, { headers: PATCH_BODY, body: randomBytes(40) });
    },
    unchanged: async () => expect(await aliceTusOffset(lastSession)).toBe(0),
  },
  {
    // X-HTTP-Method-Override: PATCH.
    name: 'POST /api/v1/tus/:id',
    expect: row(403, 403, 404, 404, 204),
    run: async (id) => {
      lastSession = await aliceTus();
      return call(id, 'POST', `/api/v1/tus/${lastSession}`, { headers: { ...PATCH_BODY, 'x-http-method-override': 'PATCH' }, body: randomBytes(40) });
    },
    unchanged: async () => expect(await aliceTusOffset(lastSession)).toBe(0),
  },
  {
    name: 'DELETE /api/v1/tus/:id',
    expect: row(403, 403, 404, 404, 204),
    run: async (id) => {
      lastSession = await aliceTus();
      return call(id, 'DELETE', `/api/v1/tus/${lastSession}`, { headers: TUS });
    },
    unchanged: async () => expect(await aliceTusOffset(lastSession)).toBe(0),
  },
);

// ---------------------------------------------------------------- last: logging out ends each caller's credential

rows.push({
  name: 'POST /api/v1/auth/logout',
  expect: row(204, 204, 204, 204, 204),
  run: async (id) => {
    const res = await call(id, 'POST', '/api/v1/auth/logout');
    // The credential is dead from the next request on (the admin's env token is revoked too).
    if (res.status === 204) expect((await call(id, 'GET', '/api/v1/me')).status).toBe(401);
    return res;
  },
});

describe('authorization matrix', () => {
  // About 1,300 requests: 13 s on a loaded two-core machine; the default 60 s is too close.
  it(`${IDS.length} callers × every route: each cell's status, and nothing through a refusal`, { timeout: 180_000 }, async () => {
    const got: Record<string, Partial<Record<Id, number>>> = {};
    const want: Record<string, Expect> = {};
    let cells = 0;
    for (const r of rows) {
      got[r.name] = {};
      want[r.name] = r.expect;
      for (const id of IDS) {
        const res = await r.run(id);
        const body = Buffer.from(await res.arrayBuffer());
        got[r.name][id] = res.status;
        cells++;
        if (res.status >= 400) {
          // A refusal carries a JSON error and none of the protected bytes.
          expect(body.includes(SECRET), `${r.name} as ${id} leaked file bytes`).toBe(false);
          if (!r.name.startsWith('HEAD ')) {
            const parsed = JSON.parse(body.toString('utf8')) as { error: { code: string } };
            expect(parsed.error.code, `${r.name} as ${id}`).toMatch(/^FERRY_ERR_/);
          }
          await r.unchanged?.(id);
        }
      }
    }
    // One comparison of the whole table, so a failure shows every wrong cell at once.
    expect(got).toEqual(want);
    // Every route the server has is in the table.
    const covered = new Set(rows.map((r) => r.name.split(' ').slice(0, 2).join(' ').replace(/\?.*$/, '')));
    expect(t.server.ctx.endpoints.length).toBeGreaterThan(45);
    expect(t.server.ctx.endpoints.filter((r) => !covered.has(r))).toEqual([]);
    expect(cells).toBe(rows.length * IDS.length);
    console.log(`authorization matrix: ${rows.length} rows over ${new Set(t.server.ctx.endpoints).size} routes × ${IDS.length} callers = ${cells} cells`);
  });
});
