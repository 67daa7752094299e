/**
 * A drop box's byte cap (`maxBytes` of an upload link; docs/security-audit.md, 2026-12-04):
 * anonymous visitors could fill the owner's quota, or the disk when the owner has none. Each
 * way a visitor uploads through the link (a PUT with and without Content-Length, an upload
 * session of the link's page) is taken up to the cap and refused past it with 413
 * FERRY_ERR_LINK_BYTES_EXCEEDED, leaving nothing visible; a link without a cap is as before.
 * On SQLite and PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import type { ShareInfo } from '../../src/core/protocol.js';
import { pieces, startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

interface Owner {
  srv: TestServer;
  token: string;
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

async function dropBox(o: Owner, folder: string, maxBytes?: number): Promise<{ url: string; id: string }> {
  expect((await o.srv.api(`/api/v1/mkdir/${folder}`, { method: 'POST', token: o.token })).status).toBe(201);
  return share(o.srv, o.token, { path: `/${folder}`, kind: 'upload', ...(maxBytes === undefined ? {} : { maxBytes }) });
}

async function linkInfo(o: Owner, id: string): Promise<ShareInfo> {
  const list = (await (await o.srv.api('/api/v1/shares', { token: o.token })).json()) as ShareInfo[];
  return list.find((s) => s.id === id)!;
}

async function exists(o: Owner, path: string): Promise<boolean> {
  return (await o.srv.api(`/api/v1/files${path}`, { method: 'HEAD', token: o.token })).status === 200;
}

/** A request body streamed in pieces, so fetch sends it without Content-Length (chunked). */
function unsized(data: Buffer): { body: ReadableStream<Uint8Array>; duplex: 'half' } {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= data.length) return controller.close();
      controller.enqueue(data.subarray(sent, sent + 1000));
      sent += 1000;
    },
  });
  return { body, duplex: 'half' };
}

async function putWithLength(o: Owner) {
  const link = await dropBox(o, 'inbox-put', 10_000);
  expect((await linkInfo(o, link.id)).maxBytes).toBe(10_000);
  expect((await fetch(`${link.url}/a.bin`, { method: 'PUT', body: randomBytes(6_000) })).status).toBe(201);
  const chunks = () => o.srv.server.ctx.meta.db.selectFrom('chunks').select('hash').execute();
  const stored = (await chunks()).length;
  const over = await fetch(`${link.url}/b.bin`, { method: 'PUT', body: randomBytes(4_001) });
  expect(over.status).toBe(413);
  // Its Content-Length said so: refused before a byte of it was stored.
  expect((await chunks()).length).toBe(stored);
  const err = ((await over.json()) as { error: { code: string; message: string } }).error;
  expect(err.code).toBe('FERRY_ERR_LINK_BYTES_EXCEEDED');
  expect(err.message).toBe("this upload link takes at most 9.77 KiB (10000 bytes) in all and has 3.91 KiB (4000 bytes) left; this upload has 3.91 KiB (4001 bytes): ask the link's owner for room");
  expect(await exists(o, '/inbox-put/b.bin')).toBe(false);
  // Exactly up to the cap is taken; then not one byte more.
  expect((await fetch(`${link.url}/c.bin`, { method: 'PUT', body: randomBytes(4_000) })).status).toBe(201);
  const full = await fetch(`${link.url}/d.bin`, { method: 'PUT', body: 'x' });
  expect(full.status).toBe(413);
  expect(await errorCode(full)).toBe('FERRY_ERR_LINK_BYTES_EXCEEDED');
  expect(await linkInfo(o, link.id)).toMatchObject({ maxBytes: 10_000, bytesReceived: 10_000, uses: 2 });
}

async function putWithoutLength(o: Owner) {
  const link = await dropBox(o, 'inbox-stream', 5_000);
  expect((await fetch(`${link.url}/small.bin`, { method: 'PUT', ...unsized(randomBytes(3_000)) })).status).toBe(201);
  const over = await fetch(`${link.url}/big.bin`, { method: 'PUT', ...unsized(randomBytes(50_000)) });
  expect(over.status).toBe(413);
  const err = ((await over.json()) as { error: { code: string; message: string } }).error;
  expect(err.code).toBe('FERRY_ERR_LINK_BYTES_EXCEEDED');
  expect(err.message).toMatch(/has 1\.95 KiB \(2000 bytes\) left; this upload has more than 1\.95 KiB \(2000 bytes\)/);
  expect(await exists(o, '/inbox-stream/big.bin')).toBe(false);
  expect(await linkInfo(o, link.id)).toMatchObject({ bytesReceived: 3_000, uses: 1 });
  // Nothing of the refused upload is left in flight either.
  const sessions = await o.srv.server.ctx.meta.db.selectFrom('uploads').select('id').execute();
  expect(sessions).toEqual([]);
}

/** The drop-box page's way: an upload session with the link's upload token (and tus, which refuses that token). */
async function sessions(o: Owner) {
  const link = await dropBox(o, 'inbox-session', 100_000);
  const unlock = await fetch(`${link.url}/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const visitor = ((await unlock.json()) as { token: string }).token;
  const call = (path: string, init: { method: string; json?: unknown; body?: Buffer }) =>
    fetch(o.srv.url + path, { method: init.method, headers: { authorization: `Bearer ${visitor}`, 'content-type': init.json === undefined ? 'application/octet-stream' : 'application/json' }, body: init.json === undefined ? init.body : JSON.stringify(init.json) });
  const send = async (name: string, data: Buffer) => {
    const { refs, parts } = pieces(data, 32 * 1024);
    const res = await call('/api/v1/uploads', { method: 'POST', json: { path: name, size: data.length, hash: fileHashOf(refs), chunks: refs } });
    if (res.status !== 201) return res;
    const { id } = (await res.json()) as { id: string };
    for (let i = 0; i < parts.length; i++) expect((await call(`/api/v1/uploads/${id}/chunks/${refs[i].hash}`, { method: 'PUT', body: parts[i] })).status).toBe(200);
    return id;
  };
  // tus takes no share upload token: no way around the cap there.
  const tus = await fetch(`${o.srv.url}/api/v1/tus`, { method: 'POST', headers: { authorization: `Bearer ${visitor}`, 'tus-resumable': '1.0.0', 'upload-length': '100001', 'upload-metadata': `filename ${Buffer.from('tus.bin').toString('base64')}` } });
  expect(tus.status).toBe(401);
  expect(await errorCode(tus)).toBe('FERRY_ERR_AUTH_INVALID');
  // Announced past the cap: refused before a chunk is sent.
  const early = (await send('/huge.bin', randomBytes(100_001))) as Response;
  expect(early.status).toBe(413);
  expect(await errorCode(early)).toBe('FERRY_ERR_LINK_BYTES_EXCEEDED');
  // Two sessions that each fit, but not both: the first commit takes its bytes, the second is refused and goes.
  const first = (await send('/one.bin', randomBytes(60_000))) as string;
  const second = (await send('/two.bin', randomBytes(60_000))) as string;
  expect((await call(`/api/v1/uploads/${first}/commit`, { method: 'POST', json: {} })).status).toBe(200);
  const refused = await call(`/api/v1/uploads/${second}/commit`, { method: 'POST', json: {} });
  expect(refused.status).toBe(413);
  expect(await errorCode(refused)).toBe('FERRY_ERR_LINK_BYTES_EXCEEDED');
  expect(await exists(o, '/inbox-session/one.bin')).toBe(true);
  expect(await exists(o, '/inbox-session/two.bin')).toBe(false);
  expect((await call(`/api/v1/uploads/${second}`, { method: 'GET' })).status).toBe(404);
  // What is left is still taken.
  const rest = (await send('/rest.bin', randomBytes(40_000))) as string;
  expect((await call(`/api/v1/uploads/${rest}/commit`, { method: 'POST', json: {} })).status).toBe(200);
  expect(await linkInfo(o, link.id)).toMatchObject({ maxBytes: 100_000, bytesReceived: 100_000, uses: 2 });
}

async function noCap(o: Owner) {
  const link = await dropBox(o, 'inbox-free');
  expect((await fetch(`${link.url}/a.bin`, { method: 'PUT', body: randomBytes(200_000) })).status).toBe(201);
  expect((await fetch(`${link.url}/b.bin`, { method: 'PUT', ...unsized(randomBytes(200_000)) })).status).toBe(201);
  expect(await linkInfo(o, link.id)).toMatchObject({ maxBytes: null, bytesReceived: 400_000, uses: 2 });
}

async function badCaps(o: Owner) {
  expect((await o.srv.api('/api/v1/mkdir/capped', { method: 'POST', token: o.token })).status).toBe(201);
  for (const body of [{ path: '/capped', maxBytes: 1000 }, { path: '/capped', kind: 'upload', maxBytes: 0 }, { path: '/capped', kind: 'upload', maxBytes: '1M' }]) {
    const res = await o.srv.api('/api/v1/shares', { method: 'POST', json: body, token: o.token });
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(await errorCode(res)).toBe('FERRY_ERR_VALIDATION');
  }
}

function capSuite(name: string, open: () => Promise<Owner>, close: () => Promise<void>) {
  describe(name, () => {
    let o: Owner;
    beforeAll(async () => {
      o = await open();
    }, 120_000);
    afterAll(close);

    it('a PUT with Content-Length is taken up to the cap and refused past it (413 FERRY_ERR_LINK_BYTES_EXCEEDED), leaving nothing', () => putWithLength(o));
    it('a PUT without Content-Length is cut past the cap, leaving nothing', () => putWithoutLength(o));
    it("the drop-box page's upload sessions: refused at creation or commit past the cap, the refused session goes", () => sessions(o));
    it('a link without a cap takes what the owner may store, and counts it', () => noCap(o));
    it('takes maxBytes only for upload links and only as a whole number >= 1', () => badCaps(o));
  });
}

let sqlite: TestServer | undefined;
capSuite(
  'drop-box byte cap (SQLite)',
  async () => {
    sqlite = await startTestServer();
    await addUser(sqlite, 'olga');
    return { srv: sqlite, token: (await tokenFor(sqlite, 'olga')).token };
  },
  async () => {
    await sqlite?.close();
  },
);

let pg: PostgresHandle | undefined;
let pgServer: TestServer | undefined;
capSuite(
  'drop-box byte cap (PostgreSQL)',
  async () => {
    pg = await startPostgres();
    pgServer = await startTestServer({ db: await pg.createDatabase(), sessionKey: randomBytes(32) });
    await addUser(pgServer, 'olga');
    return { srv: pgServer, token: (await tokenFor(pgServer, 'olga')).token };
  },
  async () => {
    await pgServer?.close();
    await pg?.stop();
  },
);

