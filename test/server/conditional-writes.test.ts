/**
 * Conditional writes on the native API (docs/protocol.md, "Conditional writes"): a commit of
 * an upload session, a one-request PUT, a move, a copy and a delete take If-Match (the
 * file's ETag as downloads give it) and If-None-Match: *, decided in the write's own
 * transaction: of writers racing from one ETag exactly one replaces the file, the others get
 * 412 FERRY_ERR_PRECONDITION_FAILED naming the path and its ETag now. Before, every writer
 * won in turn and the last one's bytes stayed (a lost update).
 *
 * Each race starts every request before awaiting any: no sleep, no timing. On both
 * dialects: SQLite (writers take turns) and PostgreSQL (READ COMMITTED, per-name locks).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { pieces, startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { addUser, tokenFor } from '../helpers/users.js';

const WRITERS = 12;

let pg: PostgresHandle;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => pg?.stop());

interface Answer {
  status: number;
  code?: string;
  message?: string;
  details?: Record<string, unknown>;
}

async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  if (res.status < 400) return { status: res.status };
  const { error } = JSON.parse(text) as { error: { code: string; message: string; details?: Record<string, unknown> } };
  return { status: res.status, code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) };
}

const refused = (n: number): Answer[] => Array.from({ length: n }, () => expect.objectContaining({ status: 412, code: 'FERRY_ERR_PRECONDITION_FAILED' }) as Answer);

for (const dialect of ['postgresql', 'sqlite'] as const) {
  describe(`conditional writes on the native API (${dialect})`, () => {
    let t: TestServer;
    let tok: string;
    const api = (path: string, init: Parameters<TestServer['api']>[1] = {}) => t.api(path, { token: tok, ...init });
    const put = (path: string, body: string | Buffer, headers: Record<string, string> = {}) => api('/api/v1/files' + path, { method: 'PUT', body, headers });
    const etagOf = async (path: string): Promise<string> => {
      const res = await api('/api/v1/files' + path, { headers: { 'accept-encoding': 'identity' } });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      return res.headers.get('etag')!;
    };
    const text = async (path: string) => (await api('/api/v1/files' + path)).text();

    /** An upload session of `buf` at `path` with every chunk sent, ready to commit. */
    async function readySession(path: string, buf: Buffer): Promise<string> {
      const { refs, parts } = pieces(buf, 64 * 1024);
      const created = await api('/api/v1/uploads', { method: 'POST', json: { path, size: buf.length, hash: fileHashOf(refs), chunks: refs } });
      expect(created.status).toBe(201);
      const { id, missing } = (await created.json()) as { id: string; missing: string[] };
      for (const [i, part] of parts.entries()) {
        if (!missing.includes(refs[i].hash)) continue;
        const r = await api(`/api/v1/uploads/${id}/chunks/${refs[i].hash}`, { method: 'PUT', body: part, headers: { 'content-type': 'application/octet-stream' } });
        expect(r.status).toBe(200);
      }
      return id;
    }
    const commit = (id: string, headers: Record<string, string> = {}) => api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {}, headers });

    beforeAll(async () => {
      t = await startTestServer(dialect === 'postgresql' ? { db: await pg.createDatabase(), sessionKey: randomBytes(32) } : {});
      await addUser(t, 'nora', { password: 'nora-password-1' });
      tok = (await tokenFor(t, 'nora')).token;
    });
    afterAll(async () => t?.close());

    it('commits racing from one ETag: exactly one replaces the file, the others get 412 and leave it alone', async () => {
      expect((await put('/race/commit.txt', 'first')).status).toBe(201);
      const etag = await etagOf('/race/commit.txt');
      const body = (i: number) => Buffer.from(`commit ${i} `.repeat(20_000));
      const ids: string[] = [];
      for (let i = 0; i < WRITERS; i++) ids.push(await readySession('/race/commit.txt', body(i)));
      const answers = await Promise.all(ids.map((id) => commit(id, { 'if-match': etag }).then(answerOf)));
      const won = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
      expect(won).toHaveLength(1);
      expect(answers.filter((a) => a.status !== 200)).toEqual(refused(WRITERS - 1));
      expect(await text('/race/commit.txt')).toBe(body(won[0]).toString());
      const now = await etagOf('/race/commit.txt');
      const loser = answers.find((a) => a.status === 412)!;
      expect(loser.message).toBe(`/race/commit.txt changed since you read it: its ETag is now ${now}, not ${etag}`);
      expect(loser.details).toEqual({ path: '/race/commit.txt', condition: 'If-Match', etag: now });
      // A refused commit keeps its session (the client may commit it again, or abort it).
      const left = ids.filter((_, i) => i !== won[0]);
      expect((await api(`/api/v1/uploads/${left[0]}`)).status).toBe(200);
      for (const id of left) expect((await api(`/api/v1/uploads/${id}`, { method: 'DELETE' })).status).toBe(204);
    });

    it('one-request PUTs racing from one ETag: one wins (201), the others 412; the file is the winner\'s', async () => {
      expect((await put('/race/put.txt', 'first')).status).toBe(201);
      const etag = await etagOf('/race/put.txt');
      const sessions = () => t.server.ctx.meta.db.selectFrom('uploads').select('id').execute();
      const before = await sessions();
      // Over one chunk's worth each, so that every body streams in before any commit.
      const body = (i: number) => `put ${i} `.repeat(200_000);
      const answers = await Promise.all(Array.from({ length: WRITERS }, (_, i) => put('/race/put.txt', body(i), { 'if-match': etag }).then(answerOf)));
      const won = answers.flatMap((a, i) => (a.status === 201 ? [i] : []));
      expect(won).toHaveLength(1);
      expect(answers.filter((a) => a.status !== 201)).toEqual(refused(WRITERS - 1));
      expect(await text('/race/put.txt')).toBe(body(won[0]));
      // Nothing left behind by the refused ones.
      expect(await sessions()).toEqual(before);
    });

    it('PUTs with If-None-Match: * onto a free name: one creates it, the others 412', async () => {
      const answers = await Promise.all(Array.from({ length: WRITERS }, (_, i) => put('/race/new.txt', `new ${i}`, { 'if-none-match': '*' }).then(answerOf)));
      const won = answers.flatMap((a, i) => (a.status === 201 ? [i] : []));
      expect(won).toHaveLength(1);
      expect(answers.filter((a) => a.status !== 201)).toEqual(refused(WRITERS - 1));
      expect(await text('/race/new.txt')).toBe(`new ${won[0]}`);
    });

    it('moves and copies onto one file from its ETag at once: one lands, the others 412 and keep their source', async () => {
      for (const op of ['move', 'copy']) {
        const dir = `/race/${op}`;
        expect((await put(`${dir}/dst.txt`, 'the destination')).status).toBe(201);
        for (let i = 0; i < WRITERS; i++) expect((await put(`${dir}/s${i}.txt`, `source ${i}`)).status).toBe(201);
        const etag = await etagOf(`${dir}/dst.txt`);
        const answers = await Promise.all(Array.from({ length: WRITERS }, (_, i) => api(`/api/v1/${op}`, { method: 'POST', json: { from: `${dir}/s${i}.txt`, to: `${dir}/dst.txt` }, headers: { 'if-match': etag } }).then(answerOf)));
        const won = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
        expect(won, op).toHaveLength(1);
        expect(answers.filter((a) => a.status !== 200)).toEqual(refused(WRITERS - 1));
        expect(await text(`${dir}/dst.txt`)).toBe(`source ${won[0]}`);
        for (let i = 0; i < WRITERS; i++) expect((await api(`/api/v1/files${dir}/s${i}.txt`)).status).toBe(op === 'move' && i === won[0] ? 404 : 200);
      }
    });

    it('a delete and a commit racing from one ETag: one of them happens, the other gets 412', async () => {
      for (let round = 0; round < 4; round++) {
        const path = `/race/del${round}.txt`;
        expect((await put(path, `first ${round}`)).status).toBe(201);
        const etag = await etagOf(path);
        const id = await readySession(path, Buffer.from(`second ${round}`));
        const [committed, deleted] = await Promise.all([commit(id, { 'if-match': etag }).then(answerOf), api('/api/v1/files' + path, { method: 'DELETE', headers: { 'if-match': etag } }).then(answerOf)]);
        expect([committed.status, deleted.status].sort()).toEqual(committed.status === 200 ? [200, 412] : [204, 412]);
        const there = await api('/api/v1/files' + path);
        if (committed.status === 200) expect(await there.text()).toBe(`second ${round}`);
        else expect(there.status).toBe(404);
      }
    });
  });
}

describe('conditional writes: what each one holds to', () => {
  let t: TestServer;
  let tok: string;
  const api = (path: string, init: Parameters<TestServer['api']>[1] = {}) => t.api(path, { token: tok, ...init });
  const put = (path: string, body: string, headers: Record<string, string> = {}) => api('/api/v1/files' + path, { method: 'PUT', body, headers }).then(answerOf);
  const etagOf = async (path: string): Promise<string> => {
    const res = await api('/api/v1/files' + path, { headers: { 'accept-encoding': 'identity' } });
    await res.arrayBuffer();
    return res.headers.get('etag')!;
  };
  const text = async (path: string) => (await api('/api/v1/files' + path)).text();
  const hashOf = async (path: string) => ((await (await api('/api/v1/stat' + path)).json()) as { hash: string }).hash;

  beforeAll(async () => {
    t = await startTestServer();
    await addUser(t, 'nora', { password: 'nora-password-1' });
    tok = (await tokenFor(t, 'nora')).token;
  });
  afterAll(async () => t?.close());

  it('PUT: If-Match with the ETag a download gave replaces; a stale one, a folder or nothing there is 412', async () => {
    expect((await put('/a.txt', 'one')).status).toBe(201);
    const first = await etagOf('/a.txt');
    expect(first).toBe(`"${await hashOf('/a.txt')}"`);
    expect((await put('/a.txt', 'two', { 'if-match': first })).status).toBe(201);
    expect(await put('/a.txt', 'three', { 'if-match': first })).toEqual({
      status: 412,
      code: 'FERRY_ERR_PRECONDITION_FAILED',
      message: `/a.txt changed since you read it: its ETag is now ${await etagOf('/a.txt')}, not ${first}`,
      details: { path: '/a.txt', condition: 'If-Match', etag: await etagOf('/a.txt') },
    });
    expect(await text('/a.txt')).toBe('two');
    // One of a list, `*`, and a content-coded download's ETag of the same content hold.
    const second = await etagOf('/a.txt');
    expect((await put('/a.txt', 'four', { 'if-match': `"${'0'.repeat(64)}", ${second}` })).status).toBe(201);
    expect((await put('/a.txt', 'five', { 'if-match': '*' })).status).toBe(201);
    expect((await put('/a.txt', 'six', { 'if-match': `${(await etagOf('/a.txt')).slice(0, -1)}-zstd"` })).status).toBe(201);
    // A weak tag never holds for If-Match (strong comparison).
    expect((await put('/a.txt', 'seven', { 'if-match': `W/${await etagOf('/a.txt')}` })).status).toBe(412);
    expect(await text('/a.txt')).toBe('six');

    expect(await put('/gone.txt', 'x', { 'if-match': first })).toMatchObject({ status: 412, message: '/gone.txt: no longer there (deleted or moved away since you read it); If-Match does not hold', details: { etag: null } });
    expect((await put('/gone.txt', 'x', { 'if-match': '*' })).status).toBe(412);
    expect((await api('/api/v1/files/gone.txt')).status).toBe(404);
    expect((await api('/api/v1/mkdir/folder', { method: 'POST' })).status).toBe(201);
    expect(await put('/folder', 'x', { 'if-match': first })).toMatchObject({ status: 412, message: '/folder is a folder, which has no ETag; If-Match does not hold' });
  });

  it('PUT: If-None-Match: * creates only; If-None-Match with the current ETag is 412', async () => {
    expect((await put('/b.txt', 'b', { 'if-none-match': '*' })).status).toBe(201);
    const etag = await etagOf('/b.txt');
    expect(await put('/b.txt', 'again', { 'if-none-match': '*' })).toMatchObject({ status: 412, code: 'FERRY_ERR_PRECONDITION_FAILED', message: `/b.txt exists (a file, ETag ${etag}); If-None-Match: * does not hold` });
    expect(await put('/b.txt', 'again', { 'if-none-match': etag })).toMatchObject({ status: 412, message: `/b.txt still holds ${etag}; If-None-Match does not hold` });
    expect((await put('/b.txt', 'new', { 'if-none-match': `"${'1'.repeat(64)}"` })).status).toBe(201);
    expect(await text('/b.txt')).toBe('new');
  });

  it('a malformed condition is 400 FERRY_ERR_VALIDATION and changes nothing; a form takes none', async () => {
    expect((await put('/c.txt', 'c')).status).toBe(201);
    const hash = await hashOf('/c.txt');
    for (const bad of [hash, 'W/', '"unterminated', '', ' , ']) {
      expect(await put('/c.txt', 'no', { 'if-match': bad }), bad).toMatchObject({ status: 400, code: 'FERRY_ERR_VALIDATION' });
    }
    expect(await put('/c.txt', 'no', { 'if-match': hash })).toMatchObject({ message: expect.stringContaining('entity tags in quotes') });
    expect(await put('/c.txt', 'no', { 'if-none-match': 'x' })).toMatchObject({ status: 400, code: 'FERRY_ERR_VALIDATION' });
    expect(await text('/c.txt')).toBe('c');
    const form = new FormData();
    form.append('file', new Blob(['form']), 'c.txt');
    expect(await api('/api/v1/files/', { method: 'POST', body: form, headers: { 'if-match': `"${hash}"` } }).then(answerOf)).toMatchObject({ status: 400, code: 'FERRY_ERR_VALIDATION' });
    expect(await text('/c.txt')).toBe('c');
  });

  it('move and copy: the conditions are on the destination', async () => {
    expect((await put('/m/src.txt', 'src')).status).toBe(201);
    expect((await put('/m/dst.txt', 'dst')).status).toBe(201);
    const dst = await etagOf('/m/dst.txt');
    const src = await etagOf('/m/src.txt');
    const move = (headers: Record<string, string>) => api('/api/v1/move', { method: 'POST', json: { from: '/m/src.txt', to: '/m/dst.txt' }, headers }).then(answerOf);
    const copy = (to: string, headers: Record<string, string>) => api('/api/v1/copy', { method: 'POST', json: { from: '/m/src.txt', to }, headers }).then(answerOf);
    // The source's ETag is not the destination's: refused, both files as they were.
    expect(await move({ 'if-match': src })).toMatchObject({ status: 412, message: `/m/dst.txt changed since you read it: its ETag is now ${dst}, not ${src}` });
    expect(await copy('/m/dst.txt', { 'if-none-match': '*' })).toMatchObject({ status: 412, code: 'FERRY_ERR_PRECONDITION_FAILED' });
    expect(await copy('/m/new.txt', { 'if-match': '*' })).toMatchObject({ status: 412 });
    expect([await text('/m/src.txt'), await text('/m/dst.txt')]).toEqual(['src', 'dst']);
    expect((await api('/api/v1/files/m/new.txt')).status).toBe(404);
    expect((await copy('/m/new.txt', { 'if-none-match': '*' })).status).toBe(200);
    expect((await move({ 'if-match': dst })).status).toBe(200);
    expect(await text('/m/dst.txt')).toBe('src');
    expect((await api('/api/v1/files/m/src.txt')).status).toBe(404);
  });

  it('delete: If-Match with the current ETag removes; a stale one is 412 and the file stays', async () => {
    expect((await put('/d.txt', 'one')).status).toBe(201);
    const old = await etagOf('/d.txt');
    expect((await put('/d.txt', 'two')).status).toBe(201);
    const del = (headers: Record<string, string>) => api('/api/v1/files/d.txt', { method: 'DELETE', headers }).then(answerOf);
    expect(await del({ 'if-match': old })).toMatchObject({ status: 412, details: { path: '/d.txt', condition: 'If-Match', etag: await etagOf('/d.txt') } });
    expect(await text('/d.txt')).toBe('two');
    expect((await del({ 'if-match': await etagOf('/d.txt') })).status).toBe(204);
    expect(await del({ 'if-match': old })).toMatchObject({ status: 412, details: { etag: null } });
  });

  it('a commit of a session of several files takes no condition', async () => {
    const { refs } = pieces(Buffer.from('x'), 64);
    const files = ['/s1.txt', '/s2.txt'].map((path) => ({ path, size: 1, hash: fileHashOf(refs), chunks: refs }));
    const created = (await (await api('/api/v1/uploads', { method: 'POST', json: { files } })).json()) as { id: string };
    expect(await api(`/api/v1/uploads/${created.id}/commit`, { method: 'POST', json: {}, headers: { 'if-none-match': '*' } }).then(answerOf)).toMatchObject({ status: 400, code: 'FERRY_ERR_VALIDATION' });
  });
});
