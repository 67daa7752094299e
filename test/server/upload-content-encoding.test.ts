/**
 * A file's bytes sent with a Content-Encoding are refused (415 FERRY_ERR_ENCODING_UNSUPPORTED)
 * on every route that takes them as a stream: PUT /api/v1/files, a form POST, WebDAV PUT,
 * tus (creation with upload, PATCH) and upload links. Before, the server stored the gzip
 * bytes as the file. Nothing is stored, no use of a link is counted; `identity` passes.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { share } from '../helpers/users.js';

const PLAIN = Buffer.from('the plain text of a file, '.repeat(40));
const GZIPPED = gzipSync(PLAIN);
const TUS = { 'tus-resumable': '1.0.0', 'content-type': 'application/offset+octet-stream' };

async function refused(res: Response, what: string): Promise<void> {
  const text = await res.text();
  expect(res.status, `${what}: ${text}`).toBe(415);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  expect(body.error.code, what).toBe('FERRY_ERR_ENCODING_UNSUPPORTED');
  expect(body.error.message, what).toContain('Content-Encoding "gzip"');
}

describe('a file sent with a Content-Encoding', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    expect((await t.api('/api/v1/mkdir/inbox', { method: 'POST' })).status).toBe(201);
  });
  afterAll(async () => t?.close());

  const absent = async (path: string) => expect((await t.api(`/api/v1/files${path}`)).status, path).toBe(404);

  it('PUT /api/v1/files: refused with 415, nothing stored; identity and none pass as sent', async () => {
    await refused(await t.api('/api/v1/files/put.txt', { method: 'PUT', body: GZIPPED, headers: { 'content-encoding': 'gzip' } }), 'PUT');
    await refused(await t.api('/api/v1/files/put.txt', { method: 'PUT', body: GZIPPED, headers: { 'content-encoding': ' GZIP ' } }), 'PUT, another spelling');
    await absent('/put.txt');
    expect((await t.api('/api/v1/files/put.txt', { method: 'PUT', body: PLAIN, headers: { 'content-encoding': 'identity' } })).status).toBe(201);
    expect(Buffer.from(await (await t.api('/api/v1/files/put.txt')).arrayBuffer()).equals(PLAIN)).toBe(true);
  });

  it('a form POST: refused with 415, nothing stored', async () => {
    const form = new FormData();
    form.append('file', new Blob([GZIPPED]), 'form.txt');
    const req = new Request('http://x/', { method: 'POST', body: form });
    const body = Buffer.from(await req.arrayBuffer());
    await refused(await t.api('/api/v1/files/inbox', { method: 'POST', body, headers: { 'content-type': req.headers.get('content-type')!, 'content-encoding': 'gzip' } }), 'form');
    await absent('/inbox/form.txt');
  });

  it('WebDAV PUT: refused with 415, nothing stored', async () => {
    await refused(await t.api('/dav/dav.txt', { method: 'PUT', body: GZIPPED, headers: { 'content-encoding': 'gzip' } }), 'WebDAV PUT');
    await absent('/dav.txt');
    expect((await t.api('/dav/dav.txt', { method: 'PUT', body: PLAIN })).status).toBe(201);
  });

  it('tus: a PATCH and a creation with upload are refused with 415, the offset stays', async () => {
    const metadata = `filename ${Buffer.from('tus.txt').toString('base64')}`;
    const created = await t.api('/api/v1/tus', { method: 'POST', headers: { ...TUS, 'upload-length': String(PLAIN.length), 'upload-metadata': metadata } });
    expect(created.status).toBe(201);
    const at = created.headers.get('location')!;
    await refused(await t.api(at, { method: 'PATCH', body: GZIPPED, headers: { ...TUS, 'upload-offset': '0', 'content-encoding': 'gzip' } }), 'tus PATCH');
    const head = await t.api(at, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' } });
    expect(head.headers.get('upload-offset')).toBe('0');
    // The same bytes plain finish the upload.
    expect((await t.api(at, { method: 'PATCH', body: PLAIN, headers: { ...TUS, 'upload-offset': '0' } })).status).toBe(204);
    expect(Buffer.from(await (await t.api('/api/v1/files/tus.txt')).arrayBuffer()).equals(PLAIN)).toBe(true);

    const withBody = `filename ${Buffer.from('tus-created.txt').toString('base64')}`;
    await refused(await t.api('/api/v1/tus', { method: 'POST', body: GZIPPED, headers: { ...TUS, 'upload-length': String(GZIPPED.length), 'upload-metadata': withBody, 'content-encoding': 'gzip' } }), 'tus creation with upload');
    await absent('/tus-created.txt');
  });

  it('an upload link: refused with 415 without using the link up', async () => {
    const link = await share(t, t.token, { path: '/inbox', kind: 'upload', maxUses: 1 });
    await refused(await fetch(`${link.url}/link.txt`, { method: 'PUT', body: GZIPPED, headers: { 'content-encoding': 'gzip' } }), 'upload link');
    await absent('/inbox/link.txt');
    // Its one use is still there.
    expect((await fetch(`${link.url}/link.txt`, { method: 'PUT', body: PLAIN })).status).toBe(201);
    expect(Buffer.from(await (await t.api('/api/v1/files/inbox/link.txt')).arrayBuffer()).equals(PLAIN)).toBe(true);
  });
});
