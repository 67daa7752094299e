/**
 * WebDAV conditions that must hold at the commit, not only before the body streams in.
 *
 * If-Match (and the If header's entity tags; If-Unmodified-Since, not honoured before, is
 * now too) were checked when a PUT began: clients that
 * had both read one ETag and both saved their edit each passed the check, and each replaced
 * the file (the lost update conditional requests are for). The commit now checks them again,
 * inside its transaction once the name is locked: of writers racing with one ETag exactly
 * one replaces the file and the others get 412, whatever the interleaving.
 *
 * MOVE and COPY with Overwrite: T onto a destination that was free when the request looked
 * but filled before it landed answered 409; RFC 4918 (9.8.4, 9.9.3) says T means replace:
 * every one now lands (one 201 for the one that found the name free at its commit, 204 for
 * the others) and the destination holds one of the sources.
 *
 * Each race starts every request before awaiting any: no sleep, no timing. On both
 * dialects: SQLite (writers take turns) and PostgreSQL (READ COMMITTED, per-name locks).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dav, type DavResponse } from '../helpers/dav.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { addUser } from '../helpers/users.js';

const WRITERS = 12;
const NORA = basic('nora', 'nora-password-1');

let pg: PostgresHandle;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => pg?.stop());

/** Sends `WRITERS` requests at once; their answers in order. */
const race = (send: (i: number) => Promise<DavResponse>): Promise<DavResponse[]> => Promise.all(Array.from({ length: WRITERS }, (_, i) => send(i)));

const indexesOf = (answers: DavResponse[], status: number): number[] => answers.flatMap((a, i) => (a.status === status ? [i] : []));

for (const dialect of ['postgresql', 'sqlite'] as const) {
  describe(`WebDAV conditions under races (${dialect})`, () => {
    let t: TestServer;
    const req = (method: string, path: string, init: { headers?: Record<string, string>; body?: string | Buffer } = {}) => dav(t.url, method, '/dav' + path, { auth: NORA, ...init });

    beforeAll(async () => {
      t = await startTestServer(dialect === 'postgresql' ? { db: await pg.createDatabase(), sessionKey: randomBytes(32) } : {});
      await addUser(t, 'nora', { password: 'nora-password-1' });
      expect((await req('MKCOL', '/race')).status).toBe(201);
    });
    afterAll(async () => t?.close());

    /** Puts `first`, then races `WRITERS` PUTs of their own bodies carrying `headers(etag)`; returns the winners and the answers. */
    async function editRace(path: string, headers: (seen: { etag: string; lastModified: string }) => Record<string, string>, firstHeaders: Record<string, string> = {}): Promise<{ won: number[]; answers: DavResponse[]; body: (i: number) => string }> {
      const first = await req('PUT', path, { body: `first version of ${path}`, headers: firstHeaders });
      expect(first.status).toBe(201);
      const etag = first.headers.etag as string;
      const got = await req('GET', path);
      expect(got.headers.etag).toBe(etag);
      const seen = { etag, lastModified: got.headers['last-modified'] as string };
      // Bodies over one chunk's worth, so each streams for a while before its commit.
      const body = (i: number) => `edit ${i} `.repeat(40_000);
      const answers = await race((i) => req('PUT', path, { headers: headers(seen), body: body(i) }));
      return { won: indexesOf(answers, 204), answers, body };
    }

    it('PUT with If-Match: one of the writers holding one ETag replaces the file, the others get 412', async () => {
      const { won, answers, body } = await editRace('/race/match.txt', ({ etag }) => ({ 'if-match': etag }));
      expect(won).toHaveLength(1);
      expect(answers.filter((a) => a.status !== 204).map((a) => a.status)).toEqual(Array.from({ length: WRITERS - 1 }, () => 412));
      const now = await req('GET', '/race/match.txt');
      expect(now.text).toBe(body(won[0]));
      expect(now.headers.etag).toBe(answers[won[0]].headers.etag);
    });

    it('PUT with an If header naming the ETag (untagged and tagged): one writer wins, the others get 412', async () => {
      const untagged = await editRace('/race/if.txt', ({ etag }) => ({ if: `([${etag}])` }));
      expect(untagged.won).toHaveLength(1);
      expect(untagged.answers.filter((a) => a.status !== 204).map((a) => a.status)).toEqual(Array.from({ length: WRITERS - 1 }, () => 412));
      expect((await req('GET', '/race/if.txt')).text).toBe(untagged.body(untagged.won[0]));

      const tagged = await editRace('/race/tagged.txt', ({ etag }) => ({ if: `<${t.url}/dav/race/tagged.txt> ([${etag}])` }));
      expect(tagged.won).toHaveLength(1);
      expect(tagged.answers.filter((a) => a.status !== 204).map((a) => a.status)).toEqual(Array.from({ length: WRITERS - 1 }, () => 412));
      expect((await req('GET', '/race/tagged.txt')).text).toBe(tagged.body(tagged.won[0]));
    });

    it('PUT with If-Unmodified-Since: refused when the file changed after the date; of writers racing with one date, one wins', async () => {
      // The file's time is set far back (X-OC-Mtime), so that any commit makes it later, to the second.
      const { won, answers, body } = await editRace('/race/since.txt', ({ lastModified }) => ({ 'if-unmodified-since': lastModified }), { 'x-oc-mtime': '1600000000' });
      expect(won).toHaveLength(1);
      expect(answers.filter((a) => a.status !== 204).map((a) => a.status)).toEqual(Array.from({ length: WRITERS - 1 }, () => 412));
      expect((await req('GET', '/race/since.txt')).text).toBe(body(won[0]));
      // Before the file's time: 412 at once; a later date, or one beside an If-Match that holds, is no obstacle.
      const now = await req('GET', '/race/since.txt');
      const modified = Date.parse(now.headers['last-modified'] as string);
      expect((await req('PUT', '/race/since.txt', { headers: { 'if-unmodified-since': new Date(modified - 1000).toUTCString() }, body: 'late' })).status).toBe(412);
      expect((await req('PUT', '/race/since.txt', { headers: { 'if-unmodified-since': new Date(modified - 1000).toUTCString(), 'if-match': now.headers.etag as string }, body: 'matched' })).status).toBe(204);
      const later = await req('GET', '/race/since.txt');
      expect(later.text).toBe('matched');
      expect((await req('PUT', '/race/since.txt', { headers: { 'if-unmodified-since': new Date(Date.parse(later.headers['last-modified'] as string) + 1000).toUTCString() }, body: 'in time' })).status).toBe(204);
      expect((await req('GET', '/race/since.txt')).text).toBe('in time');
    });

    it('a refused PUT leaves nothing behind: no upload session, the winner stored whole', async () => {
      const { won } = await editRace('/race/clean.txt', ({ etag }) => ({ 'if-match': etag }));
      expect(won).toHaveLength(1);
      const sessions = await t.server.ctx.meta.db.selectFrom('uploads').select('id').execute();
      expect(sessions).toEqual([]);
    });

    for (const method of ['MOVE', 'COPY']) {
      it(`${method} with Overwrite: T onto one free name at once: every one lands (one 201, the others 204)`, async () => {
        const dir = `/race/${method.toLowerCase()}`;
        expect((await req('MKCOL', dir)).status).toBe(201);
        for (let i = 0; i < WRITERS; i++) expect((await req('PUT', `${dir}/s${i}.txt`, { body: `source ${i}` })).status).toBe(201);
        const answers = await race((i) => req(method, `${dir}/s${i}.txt`, { headers: { destination: `${t.url}/dav${dir}/dst.txt`, overwrite: 'T' } }));
        const statuses = answers.map((a) => a.status);
        expect(indexesOf(answers, 201)).toHaveLength(1);
        expect(statuses.filter((s) => s !== 201)).toEqual(Array.from({ length: WRITERS - 1 }, () => 204));
        const landed = (await req('GET', `${dir}/dst.txt`)).text;
        expect(Array.from({ length: WRITERS }, (_, i) => `source ${i}`)).toContain(landed);
        for (let i = 0; i < WRITERS; i++) expect((await req('GET', `${dir}/s${i}.txt`)).status, `s${i}`).toBe(method === 'MOVE' ? 404 : 200);
      });
    }

    it('MOVE with Overwrite: T racing MKCOL at the destination: the MOVE replaces whatever is there', async () => {
      expect((await req('MKCOL', '/race/mixed')).status).toBe(201);
      for (let i = 0; i < WRITERS; i++) expect((await req('PUT', `/race/mixed/s${i}.txt`, { body: `mixed ${i}` })).status).toBe(201);
      // A quarter make a collection at the destination, the others move a file onto it. Each
      // MKCOL fills the name at most once, fewer times than a MOVE tries again (copy-move.ts).
      const isMkcol = (i: number) => i % 4 === 0;
      const answers = await race((i) => (isMkcol(i) ? req('MKCOL', '/race/mixed/dst') : req('MOVE', `/race/mixed/s${i}.txt`, { headers: { destination: `${t.url}/dav/race/mixed/dst`, overwrite: 'T' } })));
      for (const [i, a] of answers.entries()) expect(isMkcol(i) ? [201, 405, 409] : [201, 204], a.text).toContain(a.status);
      for (let i = 0; i < WRITERS; i++) if (!isMkcol(i)) expect((await req('GET', `/race/mixed/s${i}.txt`)).status).toBe(404);
    });
  });
}
