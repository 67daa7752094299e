/**
 * The other half of test/server/openapi.test.ts: there, the statuses the server answers are
 * ones the OpenAPI document lists; here, every status the document names for a route (other
 * than 2xx) is one a real request gets, with the error code it says where it names one. A
 * status documented without a request below, or a request for a status no longer documented,
 * fails the comparison of the two lists.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';

let t: TestServer;
let hooked: TestServer;
let work: string;
type Op = { responses?: Record<string, unknown> };
let doc: { paths: Record<string, Record<string, Op>> };

const MAX_FILE = 1 << 20;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ferry-openapi-statuses-'));
  const reject = join(work, 'reject.sh');
  writeFileSync(reject, '#!/bin/sh\ncat >/dev/null\necho "refused by the test hook"\nexit 1\n');
  chmodSync(reject, 0o755);
  t = await startTestServer({ maxFileSize: MAX_FILE, trashDays: 7, versions: { keep: 5, days: 0, paths: {} } });
  hooked = await startTestServer({ preUploadHook: { command: [reject], timeoutMs: 20_000 } });
  doc = (await (await t.api('/api/v1/openapi.json', { token: null })).json()) as typeof doc;
});
afterAll(async () => {
  await t?.close();
  await hooked?.close();
  rmSync(work, { recursive: true, force: true });
});

const json = (method: string, body: unknown) => ({ method, json: body });
const octets = { 'content-type': 'application/octet-stream' };

/** Opens a one-chunk upload session for `bytes` at `path`; its id and the chunk's hash. */
async function session(server: TestServer, path: string, bytes: Buffer, extra: Record<string, unknown> = {}, token?: string): Promise<{ id: string; hash: string }> {
  const hash = sha256(bytes);
  const res = await server.api('/api/v1/uploads', { ...json('POST', { path, size: bytes.length, chunks: [{ hash, size: bytes.length }], ...extra }), token });
  expect(res.status, await res.clone().text()).toBe(201);
  return { id: ((await res.json()) as { id: string }).id, hash };
}

/** One chunk frame: 32-byte hash | u32 BE size | u32 BE length | bytes. */
function frame(bytes: Buffer, declaredSize = bytes.length): Buffer {
  const head = Buffer.alloc(40);
  Buffer.from(sha256(bytes), 'hex').copy(head, 0);
  head.writeUInt32BE(declaredSize, 32);
  head.writeUInt32BE(bytes.length, 36);
  return Buffer.concat([head, bytes]);
}

/** A user with its own token (its quota in bytes, when given). */
async function userWithToken(name: string, quotaBytes?: number): Promise<string> {
  expect((await t.api('/api/v1/users', json('POST', { name, ...(quotaBytes === undefined ? {} : { quotaBytes }) }))).status).toBe(201);
  const created = await t.api('/api/v1/tokens', json('POST', { user: name, name: 'statuses' }));
  expect(created.status, await created.clone().text()).toBe(201);
  return ((await created.json()) as { token: string }).token;
}

/**
 * `METHOD /documented/path STATUS` -> the request that gets it, and the error code it answers
 * (a HEAD has no body to carry one).
 */
const CALLS: Record<string, [() => Promise<Response>, string?]> = {
  'GET /readyz 503': [async () => {
    t.server.ctx.draining = true;
    try {
      return await t.api('/readyz', { token: null });
    } finally {
      t.server.ctx.draining = false;
    }
  }, 'FERRY_ERR_UNAVAILABLE'],
  'POST /api/v1/uploads 400': [() => t.api('/api/v1/uploads', json('POST', { path: '/a/../../b', size: 1 })), 'FERRY_ERR_PATH_INVALID'],
  'POST /api/v1/uploads 413': [() => t.api('/api/v1/uploads', json('POST', { path: '/big.bin', size: MAX_FILE + 1 })), 'FERRY_ERR_PAYLOAD_TOO_LARGE'],
  'DELETE /api/v1/uploads/{id} 404': [() => t.api('/api/v1/uploads/no-such-session', { method: 'DELETE' }), 'FERRY_ERR_UPLOAD_NOT_FOUND'],
  'PUT /api/v1/uploads/{id}/chunks/{hash} 400': [async () => {
    const { id, hash } = await session(t, '/chunk-400.txt', Buffer.from('hello'));
    return t.api(`/api/v1/uploads/${id}/chunks/${hash}`, { method: 'PUT', body: 'hellx', headers: octets });
  }, 'FERRY_ERR_HASH_MISMATCH'],
  'POST /api/v1/uploads/{id}/chunk-frames 400': [async () => {
    const { id } = await session(t, '/frames-400.txt', Buffer.from('frames'));
    return t.api(`/api/v1/uploads/${id}/chunk-frames`, { method: 'POST', body: frame(Buffer.from('frames')).subarray(0, 30), headers: octets });
  }, 'FERRY_ERR_SIZE_MISMATCH'],
  'POST /api/v1/uploads/{id}/chunk-frames 413': [async () => {
    const { id } = await session(t, '/frames-413.txt', Buffer.from('frames'));
    return t.api(`/api/v1/uploads/${id}/chunk-frames`, { method: 'POST', body: Buffer.alloc(16 * 1024 * 1024 + 1), headers: octets });
  }, 'FERRY_ERR_PAYLOAD_TOO_LARGE'],
  'POST /api/v1/uploads/{id}/chunk-frames 415': [async () => {
    const { id } = await session(t, '/frames-415.txt', Buffer.from('frames'));
    return t.api(`/api/v1/uploads/${id}/chunk-frames`, { method: 'POST', body: frame(Buffer.from('frames')), headers: { ...octets, 'content-encoding': 'gzip' } });
  }, 'FERRY_ERR_ENCODING_UNSUPPORTED'],
  'POST /api/v1/uploads/{id}/commit 409': [async () => {
    expect((await uploadBuffer(t, '/taken.txt', Buffer.from('first'))).status).toBe(200);
    const bytes = Buffer.from('second');
    const { id, hash } = await session(t, '/taken.txt', bytes, { noOverwrite: true });
    expect((await t.api(`/api/v1/uploads/${id}/chunks/${hash}`, { method: 'PUT', body: bytes, headers: octets })).status).toBe(200);
    return t.api(`/api/v1/uploads/${id}/commit`, json('POST', {}));
  }, 'FERRY_ERR_ALREADY_EXISTS'],
  'POST /api/v1/uploads/{id}/commit 413': [async () => {
    // The quota lowered by an admin after the session was opened: the commit finds no room.
    const token = await userWithToken('quota413', 100);
    const bytes = Buffer.from('seven b');
    const { id, hash } = await session(t, '/users/quota413/a.txt', bytes, {}, token);
    expect((await t.api(`/api/v1/uploads/${id}/chunks/${hash}`, { method: 'PUT', body: bytes, headers: octets, token })).status).toBe(200);
    expect((await t.api('/api/v1/users/quota413', json('PATCH', { quotaBytes: 3 }))).status).toBe(200);
    return t.api(`/api/v1/uploads/${id}/commit`, { ...json('POST', {}), token });
  }, 'FERRY_ERR_QUOTA_EXCEEDED'],
  'POST /api/v1/uploads/{id}/commit 422': [async () => {
    const bytes = Buffer.from('anything');
    const { id, hash } = await session(hooked, '/hooked.txt', bytes);
    expect((await hooked.api(`/api/v1/uploads/${id}/chunks/${hash}`, { method: 'PUT', body: bytes, headers: octets })).status).toBe(200);
    return hooked.api(`/api/v1/uploads/${id}/commit`, json('POST', {}));
  }, 'FERRY_ERR_UPLOAD_REJECTED'],
  'POST /api/v1/uploads/{id}/commit 412': [async () => {
    expect((await uploadBuffer(t, '/matched.txt', Buffer.from('first'))).status).toBe(200);
    const bytes = Buffer.from('second');
    const { id, hash } = await session(t, '/matched.txt', bytes);
    expect((await t.api(`/api/v1/uploads/${id}/chunks/${hash}`, { method: 'PUT', body: bytes, headers: octets })).status).toBe(200);
    return t.api(`/api/v1/uploads/${id}/commit`, { ...json('POST', {}), headers: { 'if-match': `"${'0'.repeat(64)}"` } });
  }, 'FERRY_ERR_PRECONDITION_FAILED'],
  'PUT /api/v1/files/{path} 412': [async () => {
    expect((await t.api('/api/v1/files/cond.txt', { method: 'PUT', body: 'cond' })).status).toBe(201);
    return t.api('/api/v1/files/cond.txt', { method: 'PUT', body: 'again', headers: { 'if-none-match': '*' } });
  }, 'FERRY_ERR_PRECONDITION_FAILED'],
  'DELETE /api/v1/files/{path} 412': [async () => {
    expect((await t.api('/api/v1/files/cond-del.txt', { method: 'PUT', body: 'cond' })).status).toBe(201);
    return t.api('/api/v1/files/cond-del.txt', { method: 'DELETE', headers: { 'if-match': `"${'0'.repeat(64)}"` } });
  }, 'FERRY_ERR_PRECONDITION_FAILED'],
  'GET /api/v1/files/{path} 304': [async () => {
    const put = await t.api('/api/v1/files/etag.txt', { method: 'PUT', body: 'etag' });
    expect(put.status).toBe(201);
    const etag = (await t.api('/api/v1/files/etag.txt', { method: 'HEAD' })).headers.get('etag');
    expect(etag).toBeTruthy();
    return t.api('/api/v1/files/etag.txt', { headers: { 'if-none-match': etag! } });
  }],
  'GET /api/v1/files/{path} 404': [() => t.api('/api/v1/files/no-such-file'), 'FERRY_ERR_NOT_FOUND'],
  'GET /api/v1/files/{path} 416': [async () => {
    expect((await t.api('/api/v1/files/short.txt', { method: 'PUT', body: 'short' })).status).toBe(201);
    return t.api('/api/v1/files/short.txt', { headers: { range: 'bytes=100-200' } });
  }, 'FERRY_ERR_RANGE_NOT_SATISFIABLE'],
  'DELETE /api/v1/files/{path} 404': [() => t.api('/api/v1/files/no-such-file', { method: 'DELETE' }), 'FERRY_ERR_NOT_FOUND'],
  'DELETE /api/v1/files/{path} 409': [async () => {
    expect((await t.api('/api/v1/files/full/inside.txt', { method: 'PUT', body: 'x' })).status).toBe(201);
    return t.api('/api/v1/files/full', { method: 'DELETE' });
  }, 'FERRY_ERR_DIRECTORY_NOT_EMPTY'],
  'PUT /api/v1/files/{path} 409': [async () => {
    expect((await t.api('/api/v1/files/once.txt', { method: 'PUT', body: 'once' })).status).toBe(201);
    return t.api('/api/v1/files/once.txt?overwrite=false', { method: 'PUT', body: 'twice' });
  }, 'FERRY_ERR_ALREADY_EXISTS'],
  'PUT /api/v1/files/{path} 413': [() => t.api('/api/v1/files/too-big.bin', { method: 'PUT', body: Buffer.alloc(MAX_FILE + 1) }), 'FERRY_ERR_PAYLOAD_TOO_LARGE'],
  'PUT /api/v1/files/{path} 415': [() => t.api('/api/v1/files/gz.txt', { method: 'PUT', body: 'x', headers: { 'content-encoding': 'gzip' } }), 'FERRY_ERR_ENCODING_UNSUPPORTED'],
  'GET /api/v1/chunks/{hash} 404': [() => t.api(`/api/v1/chunks/${'0'.repeat(64)}`), 'FERRY_ERR_NOT_FOUND'],
  'GET /api/v1/stat/{path} 404': [() => t.api('/api/v1/stat/no-such-file'), 'FERRY_ERR_NOT_FOUND'],
  'POST /api/v1/move 409': [async () => {
    expect((await t.api('/api/v1/files/mv/a.txt', { method: 'PUT', body: 'a' })).status).toBe(201);
    expect((await t.api('/api/v1/files/mv/dir/b.txt', { method: 'PUT', body: 'b' })).status).toBe(201);
    return t.api('/api/v1/move', json('POST', { from: '/mv/a.txt', to: '/mv/dir' }));
  }, 'FERRY_ERR_ALREADY_EXISTS'],
  'POST /api/v1/copy 409': [async () => {
    expect((await t.api('/api/v1/files/cp/a.txt', { method: 'PUT', body: 'a' })).status).toBe(201);
    expect((await t.api('/api/v1/files/cp/dir/b.txt', { method: 'PUT', body: 'b' })).status).toBe(201);
    return t.api('/api/v1/copy', json('POST', { from: '/cp/a.txt', to: '/cp/dir' }));
  }, 'FERRY_ERR_ALREADY_EXISTS'],
  'POST /api/v1/move 412': [async () => {
    expect((await t.api('/api/v1/files/mv412/a.txt', { method: 'PUT', body: 'a' })).status).toBe(201);
    return t.api('/api/v1/move', { ...json('POST', { from: '/mv412/a.txt', to: '/mv412/b.txt' }), headers: { 'if-match': '*' } });
  }, 'FERRY_ERR_PRECONDITION_FAILED'],
  'POST /api/v1/copy 412': [async () => {
    expect((await t.api('/api/v1/files/cp412/a.txt', { method: 'PUT', body: 'a' })).status).toBe(201);
    return t.api('/api/v1/copy', { ...json('POST', { from: '/cp412/a.txt', to: '/cp412/a.txt.bak' }), headers: { 'if-match': `"${'0'.repeat(64)}"` } });
  }, 'FERRY_ERR_PRECONDITION_FAILED'],
  'POST /api/v1/auth/login 401': [() => t.api('/api/v1/auth/login', { ...json('POST', { user: 'admin', password: 'not the password' }), token: null }), 'FERRY_ERR_AUTH_INVALID'],
  'POST /api/v1/auth/session 401': [() => t.api('/api/v1/auth/session', { ...json('POST', { user: 'admin', password: 'not the password' }), token: null }), 'FERRY_ERR_AUTH_INVALID'],
  'POST /api/v1/auth/refresh 401': [() => t.api('/api/v1/auth/refresh', { ...json('POST', { refreshToken: 'ferry_0000000000000000_nope' }), token: null }), 'FERRY_ERR_AUTH_INVALID'],
  'POST /api/v1/users 409': [async () => {
    expect((await t.api('/api/v1/users', json('POST', { name: 'twice' }))).status).toBe(201);
    return t.api('/api/v1/users', json('POST', { name: 'twice' }));
  }, 'FERRY_ERR_ALREADY_EXISTS'],
  'DELETE /api/v1/users/{name} 404': [() => t.api('/api/v1/users/nobody', { method: 'DELETE' }), 'FERRY_ERR_NOT_FOUND'],
  'DELETE /api/v1/users/{name}/keys/{id} 404': [async () => {
    expect((await t.api('/api/v1/users', json('POST', { name: 'keyless' }))).status).toBe(201);
    return t.api('/api/v1/users/keyless/keys/sk_0000000000000000', { method: 'DELETE' });
  }, 'FERRY_ERR_NOT_FOUND'],
  'DELETE /api/v1/tokens/{id} 404': [() => t.api('/api/v1/tokens/0000000000000000', { method: 'DELETE' }), 'FERRY_ERR_NOT_FOUND'],
  'DELETE /api/v1/shares/{id} 404': [() => t.api('/api/v1/shares/sh_0000000000000000', { method: 'DELETE' }), 'FERRY_ERR_NOT_FOUND'],
  'DELETE /api/v1/admin/bans/{ip} 404': [() => t.api('/api/v1/admin/bans/192.0.2.1', { method: 'DELETE' }), 'FERRY_ERR_NOT_FOUND'],
  'GET /api/v1/admin/uploads 404': [() => t.api('/api/v1/admin/uploads?user=nobody'), 'FERRY_ERR_NOT_FOUND'],
  'DELETE /api/v1/admin/uploads/{id} 404': [() => t.api('/api/v1/admin/uploads/no-such-session', { method: 'DELETE' }), 'FERRY_ERR_UPLOAD_NOT_FOUND'],
  'HEAD /api/v1/tus/{id} 404': [() => t.api('/api/v1/tus/no-such-upload', { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' } })],
  'DELETE /api/v1/admin/webhooks/{id} 404': [() => t.api('/api/v1/admin/webhooks/wh_0', { method: 'DELETE' }), 'FERRY_ERR_NOT_FOUND'],
  'POST /api/v1/admin/backup 409': [async () => {
    const dir = join(work, 'backup-not-empty');
    mkdirSync(dir);
    writeFileSync(join(dir, 'something'), 'here');
    return t.api('/api/v1/admin/backup', json('POST', { dir }));
  }, 'FERRY_ERR_ALREADY_EXISTS'],
  'GET /api/v1/versions/{path} 404': [() => t.api('/api/v1/versions/no-such-file'), 'FERRY_ERR_NOT_FOUND'],
  'POST /api/v1/versions/restore 404': [async () => {
    expect((await t.api('/api/v1/files/versioned.txt', { method: 'PUT', body: 'v1' })).status).toBe(201);
    return t.api('/api/v1/versions/restore', json('POST', { path: '/versioned.txt', version: 999999 }));
  }, 'FERRY_ERR_NOT_FOUND'],
  'POST /api/v1/trash/restore 409': [async () => {
    expect((await t.api('/api/v1/files/trashed.txt', { method: 'PUT', body: 'old' })).status).toBe(201);
    expect((await t.api('/api/v1/files/trashed.txt', { method: 'DELETE' })).status).toBe(204);
    expect((await t.api('/api/v1/files/trashed.txt', { method: 'PUT', body: 'new' })).status).toBe(201);
    const { entries } = (await (await t.api('/api/v1/trash')).json()) as { entries: { id: number; path: string }[] };
    const entry = entries.find((e) => e.path === '/trashed.txt');
    expect(entry).toBeDefined();
    return t.api('/api/v1/trash/restore', json('POST', { id: entry!.id }));
  }, 'FERRY_ERR_ALREADY_EXISTS'],
};

describe('every status the OpenAPI document names for a route is one a request gets', () => {
  it('the document names exactly the statuses requested below (other than 2xx and the 4XX/5XX classes)', () => {
    const documented: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const status of Object.keys(op.responses ?? {})) {
          if (!/^2|XX$/.test(status)) documented.push(`${method.toUpperCase()} ${path} ${status}`);
        }
      }
    }
    expect(documented.sort()).toEqual(Object.keys(CALLS).sort());
  });

  for (const [key, [call, code]] of Object.entries(CALLS)) {
    it(key, async () => {
      const res = await call();
      const body = await res.text();
      expect(res.status, body).toBe(Number(key.split(' ')[2]));
      if (code) expect((JSON.parse(body) as { error: { code: string } }).error.code).toBe(code);
    });
  }
});

describe('the error codes the document names in its descriptions', () => {
  it('every body described as "other fields are refused" refuses one (400 FERRY_ERR_VALIDATION, details.field)', async () => {
    expect((await t.api('/api/v1/files/closed.txt', { method: 'PUT', body: 'x' })).status).toBe(201);
    expect((await t.api('/api/v1/users', json('POST', { name: 'closed' }))).status).toBe(201);
    // `METHOD path` -> a body the route takes, to which an unknown field is added.
    const bodies: Record<string, [string, Record<string, unknown>]> = {
      'POST /api/v1/tokens': ['/api/v1/tokens', { name: 'closed' }],
      'POST /api/v1/shares': ['/api/v1/shares', { path: '/closed.txt' }],
      'POST /api/v1/users': ['/api/v1/users', { name: 'closed2' }],
      'PATCH /api/v1/users/{name}': ['/api/v1/users/closed', {}],
    };
    const closed = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => JSON.stringify((op as { requestBody?: unknown }).requestBody ?? null).includes('other fields are refused'))
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(closed.sort()).toEqual(Object.keys(bodies).sort());
    for (const [key, [url, body]] of Object.entries(bodies)) {
      const res = await t.api(url, json(key.split(' ')[0], { ...body, colour: 'blue' }));
      expect(res.status, key).toBe(400);
      expect(((await res.json()) as { error: { code: string; details?: unknown } }).error, key).toMatchObject({ code: 'FERRY_ERR_VALIDATION', details: { field: 'colour' } });
    }
  });

  it("a chunk PUT's 400: FERRY_ERR_SIZE_MISMATCH and FERRY_ERR_CHUNK_NOT_IN_UPLOAD as well as the hash mismatch", async () => {
    const { id, hash } = await session(t, '/chunk-codes.txt', Buffer.from('hello'));
    const short = await t.api(`/api/v1/uploads/${id}/chunks/${hash}`, { method: 'PUT', body: 'hell', headers: octets });
    expect(short.status).toBe(400);
    expect(((await short.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_SIZE_MISMATCH');
    const other = sha256(Buffer.from('other'));
    const stranger = await t.api(`/api/v1/uploads/${id}/chunks/${other}`, { method: 'PUT', body: 'other', headers: octets });
    expect(stranger.status).toBe(400);
    expect(((await stranger.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_CHUNK_NOT_IN_UPLOAD');
    const bad = await t.api(`/api/v1/uploads/${id}/chunks/not-a-hash`, { method: 'PUT', body: 'hello', headers: octets });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_HASH_INVALID');
  });

  it("emptying the trash at a path that holds other users' homes: 400 FERRY_ERR_ALL_USERS_REQUIRED without allUsers=true", async () => {
    const res = await t.api('/api/v1/trash?path=/', { method: 'DELETE' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_ALL_USERS_REQUIRED');
    expect((await t.api('/api/v1/trash?path=/&allUsers=true', { method: 'DELETE' })).status).toBe(200);
  });
});

describe('SECURITY.md: "Authentication on every route except …"', () => {
  it('names exactly the routes the document marks as taking no token (security: [])', async () => {
    const security = readFileSync(join(import.meta.dirname, '..', '..', 'SECURITY.md'), 'utf8').replace(/\s+/g, ' ');
    // Each phrase of the promise -> the routes it names.
    const promised: Record<string, string[]> = {
      'health (`/healthz`, `/readyz`)': ['GET /healthz', 'HEAD /healthz', 'GET /readyz', 'HEAD /readyz'],
      'capabilities': ['GET /api/v1/capabilities'],
      'the three login routes (`/api/v1/auth/login`, `session`, `refresh`': ['POST /api/v1/auth/login', 'POST /api/v1/auth/session', 'POST /api/v1/auth/refresh'],
      'share links (`/s/…`)': ['GET /s/{key}', 'HEAD /s/{key}', 'GET /s/{key}/{path}', 'HEAD /s/{key}/{path}', 'PUT /s/{key}/{path}', 'POST /s/{key}/unlock'],
      'the API description (`/api/v1/openapi.json`, `/api/v1/docs`)': ['GET /api/v1/openapi.json', 'GET /api/v1/docs', 'GET /api/v1/docs/{asset}'],
      'tus and WebDAV discovery (`OPTIONS /api/v1/tus…`': ['OPTIONS /api/v1/tus', 'OPTIONS /api/v1/tus/', 'OPTIONS /api/v1/tus/{id}'],
      "the web app's pages and scripts (`/`, `/assets/*`, other paths outside `/api/`": ['GET /', 'GET /{path}'],
    };
    for (const phrase of Object.keys(promised)) expect(security, phrase).toContain(phrase);
    const open: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) if (Array.isArray((op as { security?: unknown[] }).security) && (op as { security: unknown[] }).security.length === 0) open.push(`${method.toUpperCase()} ${path}`);
    }
    expect(open.sort()).toEqual(Object.values(promised).flat().sort());
    // WebDAV's discovery (not in the document): OPTIONS /dav answers without a token, a PROPFIND does not.
    expect((await t.api('/dav/', { method: 'OPTIONS', token: null })).status).toBe(200);
    expect((await t.api('/dav/', { method: 'PROPFIND', token: null, headers: { depth: '0' } })).status).toBe(401);
    // And a route the document says needs a token refuses a request without one.
    expect((await t.api('/api/v1/list/', { token: null })).status).toBe(401);
  });
});
