/**
 * One-request uploads with curl, no Ferry client: `curl -T` (known length), a body of
 * unknown length from stdin (chunked), a multipart form (`curl -F`), a share link in the
 * answer, a request cut in the middle (nothing visible afterwards), a wrong token (401).
 * The server runs in its own process (bin/ferry.js serve), so a synchronous curl cannot
 * starve it and a cut connection is a real one.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeRandomFile } from '../helpers/files.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let server: RunningServer;
let dir: { path: string; cleanup: () => Promise<void> };
let file: string;

const auth = () => `Authorization: Bearer ${server.adminToken}`;

async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', ...args], { encoding: 'utf8', maxBuffer: 64 * MiB }).catch((err: { stdout?: unknown }) => {
    // A refusal (401) answered before curl sent the whole 12 MiB body ends the connection
    // under it; curl then exits with a send error (55) after printing the answer it got.
    if (typeof err.stdout === 'string' && /\n[1-5]\d\d$/.test(err.stdout)) return { stdout: err.stdout };
    throw err;
  });
  const i = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
}

async function stored(path: string): Promise<Buffer | undefined> {
  const r = await fetch(`${server.url}/api/v1/files${path}`, { headers: { authorization: `Bearer ${server.adminToken}` } });
  if (r.status === 404) return undefined;
  expect(r.status).toBe(200);
  return Buffer.from(await r.arrayBuffer());
}

beforeAll(async () => {
  dir = await tempDir('ferry-curl-');
  server = await startServer({ dataDir: join(dir.path, 'data') });
  file = join(dir.path, 'upload.bin');
  await writeRandomFile(file, 12 * MiB);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await dir?.cleanup();
});

describe('one-request uploads', () => {
  it('curl -T file: one request, the file\'s JSON back, the bytes stored and chunked like any upload', async () => {
    const r = await curl(['-T', file, '-H', auth(), `${server.url}/api/v1/files/in/one.bin`]);
    expect(r.status).toBe(201);
    const entry = JSON.parse(r.body) as { path: string; size: number; type: string; hash: string };
    expect(entry).toMatchObject({ path: '/in/one.bin', size: 12 * MiB, type: 'file' });
    const manifest = (await (await fetch(`${server.url}/api/v1/manifests/in/one.bin`, { headers: { authorization: `Bearer ${server.adminToken}` } })).json()) as { hash: string; chunks: unknown[] };
    expect(manifest.chunks.length).toBeGreaterThan(1);
    expect(manifest.hash).toBe(entry.hash);
    // A URL ending in / takes curl's file name.
    const named = await curl(['-T', file, '-H', auth(), `${server.url}/api/v1/files/in/`]);
    expect(JSON.parse(named.body)).toMatchObject({ path: '/in/upload.bin' });
    expect((await fetch(`${server.url}/api/v1/files/in/upload.bin`, { method: 'DELETE', headers: { authorization: `Bearer ${server.adminToken}` } })).status).toBe(204);
    expect(sha((await stored('/in/one.bin'))!)).toBe(sha(readFileSync(file)));
  });

  it('a body of unknown length from stdin (chunked transfer encoding), with a share link asked for', async () => {
    const child = spawn('curl', ['-s', '-T', '-', '-H', auth(), `${server.url}/api/v1/files/in/stdin.bin?share=1&expires=1d`], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const data = readFileSync(file);
    for (let o = 0; o < data.length; o += MiB) child.stdin.write(data.subarray(o, o + MiB));
    child.stdin.end();
    await new Promise((resolve) => child.once('exit', resolve));
    const entry = JSON.parse(out) as { size: number; url: string };
    expect(entry.size).toBe(data.length);
    expect(entry.url).toMatch(new RegExp(`^${server.url}/s/[A-Za-z0-9_-]{43}$`));
    const viaLink = Buffer.from(await (await fetch(entry.url)).arrayBuffer());
    expect(sha(viaLink)).toBe(sha(data));
  });

  it('curl -F file=@x: a form upload into a directory; several files at once; the name is the file\'s', async () => {
    const r = await curl(['-F', `file=@${file}`, '-H', auth(), `${server.url}/api/v1/files/forms`]);
    expect(r.status).toBe(201);
    expect(JSON.parse(r.body)).toMatchObject({ path: '/forms/upload.bin', size: 12 * MiB });
    expect(sha((await stored('/forms/upload.bin'))!)).toBe(sha(readFileSync(file)));
    const two = await curl(['-F', `a=@${file};filename=first.bin`, '-F', 'note=ignored', '-F', `b=@${file};filename=second.bin`, '-H', auth(), `${server.url}/api/v1/files/forms/`]);
    expect(two.status).toBe(201);
    expect((JSON.parse(two.body) as { files: { path: string }[] }).files.map((f) => f.path)).toEqual(['/forms/first.bin', '/forms/second.bin']);
    // overwrite=false: an existing name is refused and kept.
    const again = await curl(['-F', `file=@${file}`, '-H', auth(), `${server.url}/api/v1/files/forms?overwrite=false`]);
    expect(again.status).toBe(409);
    expect(JSON.parse(again.body).error.code).toBe('FERRY_ERR_ALREADY_EXISTS');
  });

  it('a request cut in the middle of its body leaves nothing visible, and the server goes on', async () => {
    const url = new URL(server.url);
    const send = (head: string, body: Buffer) =>
      new Promise<void>((resolve, reject) => {
        const socket = connect(Number(url.port), url.hostname, () => {
          socket.write(head);
          socket.write(body, () => setTimeout(() => (socket.destroy(), resolve()), 300));
        });
        socket.on('error', reject);
      });
    const part = readFileSync(file).subarray(0, 5 * MiB);
    await send(`PUT /api/v1/files/in/cut.bin HTTP/1.1\r\nHost: ${url.host}\r\n${auth()}\r\nContent-Length: ${12 * MiB}\r\n\r\n`, part);
    await send(`PUT /api/v1/files/in/cut-chunked.bin HTTP/1.1\r\nHost: ${url.host}\r\n${auth()}\r\nTransfer-Encoding: chunked\r\n\r\n`, Buffer.concat([Buffer.from(part.length.toString(16) + '\r\n'), part, Buffer.from('\r\n')]));
    const boundary = 'XyZ';
    const form = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut-form.bin"\r\n\r\n`), part]);
    await send(`POST /api/v1/files/in HTTP/1.1\r\nHost: ${url.host}\r\n${auth()}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${form.length + 7 * MiB}\r\n\r\n`, form);
    await expect.poll(async () => ((await (await fetch(`${server.url}/api/v1/admin/stats`, { headers: { authorization: `Bearer ${server.adminToken}` } })).json()) as { uploads: number }).uploads, { timeout: 10_000 }).toBe(0);
    for (const p of ['/in/cut.bin', '/in/cut-chunked.bin', '/in/cut-form.bin']) expect(await stored(p), p).toBeUndefined();
    const list = (await (await fetch(`${server.url}/api/v1/list/in`, { headers: { authorization: `Bearer ${server.adminToken}` } })).json()) as { entries: { name: string }[] };
    expect(list.entries.map((e) => e.name).sort()).toEqual(['one.bin', 'stdin.bin']);
    // The server goes on taking uploads.
    const ok = await curl(['-T', file, '-H', auth(), `${server.url}/api/v1/files/in/after.bin`]);
    expect(ok.status).toBe(201);
  });

  it('a wrong or missing token is 401 and stores nothing', async () => {
    const wrong = await curl(['-T', file, '-H', 'Authorization: Bearer ferry_0123456789abcdef_' + 'x'.repeat(43), `${server.url}/api/v1/files/in/nope.bin`]);
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body).error.code).toBe('FERRY_ERR_AUTH_INVALID');
    const none = await curl(['-F', `file=@${file}`, `${server.url}/api/v1/files/in`]);
    expect(none.status).toBe(401);
    expect(await stored('/in/nope.bin')).toBeUndefined();
    expect(await stored('/in/upload.bin')).toBeUndefined();
  });

  it('bad requests get a clear 4xx: PUT on the root, a form with no file, a bad ttl', async () => {
    const root = await fetch(`${server.url}/api/v1/files/`, { method: 'PUT', body: 'x', headers: { authorization: `Bearer ${server.adminToken}` } });
    expect(root.status).toBe(400);
    expect(((await root.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_PATH_INVALID');
    const noFile = await curl(['-F', 'note=hello', '-H', auth(), `${server.url}/api/v1/files/in`]);
    expect(noFile.status).toBe(400);
    expect(JSON.parse(noFile.body).error.message).toContain('holds no file');
    const ttl = await curl(['-T', file, '-H', auth(), `${server.url}/api/v1/files/in/ttl.bin?ttl=soon`]);
    expect(ttl.status).toBe(400);
    expect(JSON.parse(ttl.body).error.code).toBe('FERRY_ERR_VALIDATION');
    const notDir = await curl(['-F', `file=@${file}`, '-H', auth(), `${server.url}/api/v1/files/in/one.bin`]);
    expect(notDir.status).toBe(409);
  });

  it('ttl and expires keep the JSON API\'s bounds: ttl=0 does not replace a file with one already expired, no link past a year', async () => {
    const put = (path: string, query: string) => fetch(`${server.url}/api/v1/files${path}?${query}`, { method: 'PUT', body: 'new', headers: { authorization: `Bearer ${server.adminToken}` } });
    expect((await put('/bounds/keep.txt', '')).status).toBe(201);
    for (const query of ['ttl=0', 'ttl=0s', 'ttl=11y', 'share=1&expires=0s', 'share=1&expires=400d']) {
      const r = await put('/bounds/keep.txt', query);
      expect(r.status, query).toBe(400);
      expect(((await r.json()) as { error: { code: string } }).error.code, query).toBe('FERRY_ERR_VALIDATION');
    }
    expect((await stored('/bounds/keep.txt'))?.toString()).toBe('new');
    const ok = await put('/bounds/year.txt', 'ttl=1s&share=1&expires=365d');
    expect(ok.status).toBe(201);
  });

  it('?share=1 needs read on the file as well as share, as POST /api/v1/shares does', async () => {
    const token = await fetch(`${server.url}/api/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'write-share', scopes: ['write', 'share'] }) });
    const { token: secret } = (await token.json()) as { token: string };
    const r = await fetch(`${server.url}/api/v1/files/bounds/blind.txt?share=1`, { method: 'PUT', body: 'x', headers: { authorization: `Bearer ${secret}` } });
    expect(r.status).toBe(403);
    expect(await stored('/bounds/blind.txt')).toBeUndefined();
  });
});
