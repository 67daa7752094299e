/**
 * curl (Debian's 7.88) as a WebDAV client of /dav/, as scripts use it: MKCOL, `-T` uploads
 * of nasty names and from stdin (chunked), PROPFIND, `-C -` on an upload (curl cannot ask
 * where to resume over HTTP and sends the whole file with a Content-Range covering it) and on
 * a download (a Range request from the local file's size), a real partial PUT refused, MOVE,
 * COPY, DELETE (Depth on a collection and on a file), PROPPATCH, LOCK/UNLOCK with the token in
 * If headers (and a refresh), COPY Depth: infinity, a Destination naming another server (502)
 * or this one behind a proxy (the `--public-url` host), and
 * what macOS Finder sends (AppleDouble `._` files, chunked PUTs, PROPFIND without a body).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { addUser } from '../helpers/users.js';

let t: TestServer;
let dir: string;

beforeAll(async () => {
  expect(ensureCommand('curl'), 'curl (Debian package) is needed').toBe(true);
  // As behind a reverse proxy that hands the request on with its own Host.
  t = await startTestServer({ publicUrl: 'https://files.example.com' });
  await addUser(t, 'cora', { password: 'cora-password-1' });
  dir = await mkdtemp(join(tmpdir(), 'ferry-curl-'));
});
afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

const MiB = 1024 * 1024;

/** curl with cora's password; resolves with the HTTP status (`-w`), the body in `-o` if given. */
function curl(args: string[]): Promise<{ code: number; status: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '-u', 'cora:cora-password-1', '-w', '\n%{http_code}', ...args], { cwd: dir, maxBuffer: 64 * MiB }, (err, stdout) => {
      const at = stdout.lastIndexOf('\n');
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, status: Number(stdout.slice(at + 1)), stdout: stdout.slice(0, at) });
    });
  });
}
const url = (path: string) => `${t.url}/dav${path.split('/').map(encodeURIComponent).join('/')}`;

async function stored(path: string): Promise<Buffer | number> {
  const res = await t.api(`/api/v1/files/users/cora${path.split('/').map(encodeURIComponent).join('/')}`);
  return res.status === 200 ? Buffer.from(await res.arrayBuffer()) : res.status;
}
const same = (a: Buffer | number, b: Buffer) => Buffer.isBuffer(a) && a.equals(b);

describe('curl against /dav/', () => {
  it('makes collections, uploads nasty names, lists, moves, copies, deletes, downloads', async () => {
    expect((await curl(['-X', 'MKCOL', url('/docs/')])).status).toBe(201);
    expect((await curl(['-X', 'MKCOL', url('/docs/sub/')])).status).toBe(201);
    const files: Record<string, Buffer> = { 'naïve café.txt': Buffer.from('unicode'), "it's #1 100%.txt": Buffer.from('quotes'), 'sub/big.bin': randomBytes(5 * MiB + 1) };
    for (const [rel, data] of Object.entries(files)) {
      await writeFile(join(dir, 'up.bin'), data);
      expect((await curl(['-T', 'up.bin', url(`/docs/${rel}`)])).status, rel).toBe(201);
      expect(same(await stored(`/docs/${rel}`), data), rel).toBe(true);
    }
    // From stdin: curl sends it chunked, with no length announced.
    const piped = randomBytes(2 * MiB + 5);
    await writeFile(join(dir, 'piped.bin'), piped);
    const fromStdin = await new Promise<number>((resolve) => {
      const child = execFile('curl', ['-sS', '-u', 'cora:cora-password-1', '-o', '/dev/null', '-w', '%{http_code}', '-T', '-', url('/docs/piped.bin')], { cwd: dir }, (_err, stdout) => resolve(Number(stdout)));
      createReadStream(join(dir, 'piped.bin')).pipe(child.stdin!);
    });
    expect(fromStdin).toBe(201);
    expect(same(await stored('/docs/piped.bin'), piped)).toBe(true);
    const listing = await curl(['-X', 'PROPFIND', '-H', 'Depth: 1', url('/docs/')]);
    expect(listing.status).toBe(207);
    expect(listing.stdout).toContain(`/dav/docs/${encodeURIComponent('naïve café.txt')}`);
    expect(listing.stdout).toMatch(/<D:href>\/dav\/docs\/sub\/<\/D:href>/);

    expect((await curl(['-X', 'MOVE', '-H', `Destination: ${url('/docs/sub/moved.txt')}`, url('/docs/naïve café.txt')])).status).toBe(201);
    expect(await stored('/docs/naïve café.txt')).toBe(404);
    expect((await curl(['-X', 'COPY', '-H', `Destination: ${url('/docs/copy.bin')}`, url('/docs/sub/big.bin')])).status).toBe(201);
    // Depth on DELETE: a collection is removed only with infinity (RFC 4918 9.6.1); a file with any.
    expect((await curl(['-X', 'DELETE', '-H', 'Depth: 0', url('/docs/sub/')])).status).toBe(400);
    expect(same(await stored('/docs/sub/big.bin'), files['sub/big.bin'])).toBe(true);
    expect((await curl(['-X', 'DELETE', '-H', 'Depth: 0', url("/docs/it's #1 100%.txt")])).status).toBe(204);
    expect(await stored("/docs/it's #1 100%.txt")).toBe(404);
    expect((await curl(['-X', 'DELETE', url('/docs/sub/')])).status).toBe(204);
    expect(await stored('/docs/sub/big.bin')).toBe(404);
    expect((await curl(['--fail', '-o', 'gone.bin', url('/docs/sub/big.bin')])).code).toBe(22);

    expect((await curl(['-o', 'copy.bin', url('/docs/copy.bin')])).status).toBe(200);
    expect((await readFile(join(dir, 'copy.bin'))).equals(files['sub/big.bin'])).toBe(true);
  });

  it('resumes a download with -C - (a Range from the local size)', async () => {
    const data = randomBytes(6 * MiB + 5);
    await writeFile(join(dir, 'full.bin'), data);
    expect((await curl(['-T', 'full.bin', url('/resume-down.bin')])).status).toBe(201);
    await writeFile(join(dir, 'part.bin'), data.subarray(0, 2 * MiB + 3));
    expect((await curl(['-C', '-', '-o', 'part.bin', url('/resume-down.bin')])).status).toBe(206);
    expect((await readFile(join(dir, 'part.bin'))).equals(data)).toBe(true);
  });

  it('takes -C - -T (the whole file with a Content-Range covering it), empty files too; refuses a real partial PUT', async () => {
    const data = randomBytes(3 * MiB + 9);
    await writeFile(join(dir, 'again.bin'), data);
    const first = await curl(['-C', '-', '-T', 'again.bin', url('/again.bin')]);
    expect(first.status, first.stdout).toBe(201);
    expect(same(await stored('/again.bin'), data)).toBe(true);
    // Run again after an interruption: the whole file once more, replacing what was there.
    expect((await curl(['-C', '-', '-T', 'again.bin', url('/again.bin')])).status).toBe(204);
    expect(same(await stored('/again.bin'), data)).toBe(true);
    await writeFile(join(dir, 'empty.bin'), '');
    expect((await curl(['-C', '-', '-T', 'empty.bin', url('/empty.bin')])).status).toBe(201);
    expect(same(await stored('/empty.bin'), Buffer.alloc(0))).toBe(true);

    // `-C 1048576`: only the rest, announced as bytes 1048576-…: refused, the file untouched.
    await writeFile(join(dir, 'changed.bin'), randomBytes(data.length));
    const partial = await curl(['-C', String(MiB), '-T', 'changed.bin', url('/again.bin')]);
    expect(partial.status).toBe(400);
    expect(JSON.parse(partial.stdout).error).toMatchObject({ code: 'FERRY_ERR_VALIDATION', message: expect.stringMatching(/partial update.*send the whole file/) });
    expect(same(await stored('/again.bin'), data)).toBe(true);
    // A range that claims the whole file but is not the body's length is refused too.
    const lying = await curl(['-H', `Content-Range: bytes 0-${data.length}/${data.length + 1}`, '-T', 'again.bin', url('/again.bin')]);
    expect(lying.status).toBe(400);
    expect(same(await stored('/again.bin'), data)).toBe(true);
  });

  it('PROPPATCH, LOCK, a refresh and writes with the token in If, UNLOCK; COPY Depth: infinity of a tree', async () => {
    await writeFile(join(dir, 'l.txt'), 'locked');
    expect((await curl(['-X', 'MKCOL', url('/lk')])).status).toBe(201);
    expect((await curl(['-T', 'l.txt', url('/lk/l.txt')])).status).toBe(201);
    const lockinfo = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>script</D:owner></D:lockinfo>';
    const lock = await curl(['-X', 'LOCK', '-H', 'Timeout: Second-60', '-H', 'Content-Type: application/xml', '--data', lockinfo, url('/lk/l.txt')]);
    expect(lock.status).toBe(200);
    const token = /<D:locktoken><D:href>([^<]+)<\/D:href>/.exec(lock.stdout)![1];
    // Without the token a write is 423; with it in If (untagged, or tagged with the URL) it passes.
    expect((await curl(['-T', 'l.txt', url('/lk/l.txt')])).status).toBe(423);
    const refresh = await curl(['-X', 'LOCK', '-H', 'Timeout: Second-120', '-H', `If: <${url('/lk/l.txt')}> (<${token}>)`, url('/lk/l.txt')]);
    expect(refresh.status).toBe(200);
    expect(refresh.stdout).toContain('<D:timeout>Second-120</D:timeout>');
    const update = '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x-script:"><D:set><D:prop><Z:state>reviewed</Z:state></D:prop></D:set></D:propertyupdate>';
    expect((await curl(['-X', 'PROPPATCH', '--data', update, url('/lk/l.txt')])).status).toBe(423);
    expect((await curl(['-X', 'PROPPATCH', '-H', `If: (<${token}>)`, '--data', update, url('/lk/l.txt')])).status).toBe(207);
    await writeFile(join(dir, 'l2.txt'), 'written under the lock');
    expect((await curl(['-T', 'l2.txt', '-H', `If: (<${token}>)`, url('/lk/l.txt')])).status).toBe(204);
    expect((await curl(['-X', 'UNLOCK', '-H', 'Lock-Token: <urn:uuid:00000000-0000-0000-0000-000000000000>', url('/lk/l.txt')])).status).toBe(409);
    expect((await curl(['-X', 'UNLOCK', '-H', `Lock-Token: <${token}>`, url('/lk/l.txt')])).status).toBe(204);
    expect((await curl(['-T', 'l.txt', url('/lk/l.txt')])).status).toBe(204);

    // The property and the tree travel with a COPY Depth: infinity.
    expect((await curl(['-X', 'MKCOL', url('/lk/sub')])).status).toBe(201);
    expect((await curl(['-T', 'l2.txt', url('/lk/sub/deep.txt')])).status).toBe(201);
    expect((await curl(['-X', 'COPY', '-H', 'Depth: infinity', '-H', `Destination: ${url('/lk-copy')}`, url('/lk/')])).status).toBe(201);
    expect(same(await stored('/lk-copy/sub/deep.txt'), Buffer.from('written under the lock'))).toBe(true);
    const props = await curl(['-X', 'PROPFIND', '-H', 'Depth: 0', '--data', '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><Z:state xmlns:Z="urn:x-script:"/></D:prop></D:propfind>', url('/lk-copy/l.txt')]);
    expect(props.status).toBe(207);
    expect(props.stdout).toMatch(/<state xmlns="urn:x-script:">reviewed<\/state>/);
  });

  it('a Destination on another server is 502 and nothing moves; this server by its Host or --public-url host moves (behind a proxy rewriting Host)', async () => {
    await writeFile(join(dir, 'h.txt'), 'host');
    expect((await curl(['-T', 'h.txt', url('/host-a.txt')])).status).toBe(201);
    const port = new URL(t.url).port;
    for (const foreign of ['https://other.example.com/dav/host-x.txt', `http://127.0.0.2:${port}/dav/host-x.txt`, `http://127.0.0.1:${Number(port) + 1}/dav/host-x.txt`, 'https://files.example.com:8443/dav/host-x.txt']) {
      for (const method of ['MOVE', 'COPY']) {
        const r = await curl(['-X', method, '-H', `Destination: ${foreign}`, url('/host-a.txt')]);
        expect(r.status, `${method} ${foreign}`).toBe(502);
        expect(JSON.parse(r.stdout).error.code).toBe('FERRY_ERR_DESTINATION_FOREIGN');
      }
    }
    expect(same(await stored('/host-a.txt'), Buffer.from('host'))).toBe(true);
    expect(await stored('/host-x.txt')).toBe(404);
    // The proxy's public name (--public-url), with or without its default port, and the Host the request came with.
    expect((await curl(['-X', 'MOVE', '-H', 'Destination: https://files.example.com/dav/host-b.txt', url('/host-a.txt')])).status).toBe(201);
    expect((await curl(['-X', 'MOVE', '-H', 'Destination: https://FILES.example.com:443/dav/host-c.txt', url('/host-b.txt')])).status).toBe(201);
    expect((await curl(['-X', 'COPY', '-H', 'Host: nas.lan', '-H', 'Destination: http://nas.lan/dav/host-d.txt', url('/host-c.txt')])).status).toBe(201);
    expect((await curl(['-X', 'MOVE', '-H', `Destination: ${url('/host-e.txt')}`, url('/host-d.txt')])).status).toBe(201);
    expect(await stored('/host-a.txt')).toBe(404);
    expect(same(await stored('/host-c.txt'), Buffer.from('host'))).toBe(true);
    expect(same(await stored('/host-e.txt'), Buffer.from('host'))).toBe(true);
  });

  it('what macOS Finder sends: a LOCK and its refresh, chunked PUTs of a file, its ._ AppleDouble and .DS_Store; PROPFIND without a body lists them', async () => {
    const finder = ['-H', 'User-Agent: WebDAVFS/3.0.0 (03008000) Darwin/22.6.0 (arm64)'];
    expect((await curl([...finder, '-X', 'MKCOL', url('/mac')])).status).toBe(201);
    const lockinfo = '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>http://www.apple.com/webdav_fs/</D:href></D:owner></D:lockinfo>';
    // Finder locks the new name first (an empty file appears), then refreshes with a bare LOCK.
    const lock = await curl([...finder, '-X', 'LOCK', '-H', 'Timeout: Second-600', '-H', 'Depth: 0', '-H', 'Content-Type: text/xml; charset="utf-8"', '--data', lockinfo, url('/mac/photo.jpg')]);
    expect(lock.status).toBe(201);
    const token = /<D:locktoken><D:href>([^<]+)<\/D:href>/.exec(lock.stdout)![1];
    expect((await curl([...finder, '-X', 'LOCK', '-H', 'Timeout: Second-600', '-H', `If: (<${token}>)`, url('/mac/photo.jpg')])).status).toBe(200);
    const photo = randomBytes(300_000);
    await writeFile(join(dir, 'photo.jpg'), photo);
    // Chunked, with the length in X-Expected-Entity-Length (curl sends chunked for -T - from stdin).
    const chunked = (file: string, to: string, extra: string[] = []) =>
      new Promise<number>((resolve) => {
        const child = execFile('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-u', 'cora:cora-password-1', ...finder, '-H', 'Transfer-Encoding: chunked', ...extra, '-T', '-', url(to)], { cwd: dir }, (_err, stdout) => resolve(Number(stdout)));
        createReadStream(join(dir, file)).pipe(child.stdin!);
      });
    expect(await chunked('photo.jpg', '/mac/photo.jpg', ['-H', `X-Expected-Entity-Length: ${photo.length}`, '-H', `If: (<${token}>)`])).toBe(204);
    const appleDouble = Buffer.concat([Buffer.from([0, 5, 22, 7, 0, 2, 0, 0]), Buffer.from('Mac OS X        '), randomBytes(4000)]);
    await writeFile(join(dir, 'ad'), appleDouble);
    expect(await chunked('ad', '/mac/._photo.jpg', ['-H', `X-Expected-Entity-Length: ${appleDouble.length}`])).toBe(201);
    await writeFile(join(dir, 'ds'), randomBytes(6148));
    expect(await chunked('ds', '/mac/.DS_Store')).toBe(201);
    expect((await curl([...finder, '-X', 'UNLOCK', '-H', `Lock-Token: <${token}>`, url('/mac/photo.jpg')])).status).toBe(204);
    expect(same(await stored('/mac/photo.jpg'), photo)).toBe(true);
    expect(same(await stored('/mac/._photo.jpg'), appleDouble)).toBe(true);

    // PROPFIND without a body is allprop (RFC 4918 9.1): each member with its length.
    const listing = await curl([...finder, '-X', 'PROPFIND', '-H', 'Depth: 1', url('/mac/')]);
    expect(listing.status).toBe(207);
    for (const [name, size] of [['photo.jpg', photo.length], ['._photo.jpg', appleDouble.length], ['.DS_Store', 6148]] as const) {
      expect(listing.stdout).toMatch(new RegExp(`<D:href>/dav/mac/${name.replace(/\./g, '\\.')}</D:href><D:propstat><D:prop>(?:(?!</D:response>).)*<D:getcontentlength>${size}</D:getcontentlength>`));
    }
    // Deleting the file in Finder deletes its ._ companion too: two DELETEs.
    expect((await curl([...finder, '-X', 'DELETE', url('/mac/photo.jpg')])).status).toBe(204);
    expect((await curl([...finder, '-X', 'DELETE', url('/mac/._photo.jpg')])).status).toBe(204);
    expect(await stored('/mac/._photo.jpg')).toBe(404);
  });
});
