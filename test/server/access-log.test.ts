/** The access log: one pino JSON line per request, each key once, the file path on file routes. */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { waitFor } from '../helpers/e2e.js';
import { addUser, tokenFor } from '../helpers/users.js';

const lines: string[] = [];
let t: TestServer;
beforeAll(async () => {
  let pending = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      pending += chunk.toString();
      const parts = pending.split('\n');
      pending = parts.pop()!;
      lines.push(...parts);
      cb();
    },
  });
  t = await startTestServer({ logLevel: 'info', logDestination: sink });
});
afterAll(async () => t?.close());

/** The access-log line (msg "request") of the request with this id, once written (after the response). */
async function accessLine(reqId: string): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const found = lines.filter((l) => l.includes(reqId) && JSON.parse(l).msg === 'request');
    if (found.length > 0) {
      expect(found).toHaveLength(1);
      return found[0];
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no access-log line for ${reqId}`);
}

describe('access log', () => {
  it('has each key once, reqId included, and the server path of the file a route is about', async () => {
    await addUser(t, 'lou');
    const lou = (await tokenFor(t, 'lou')).token;
    expect((await uploadBuffer(t, '/a b/x.txt', Buffer.from('hello'), 1024, { token: lou })).status).toBe(200);
    const res = await t.api('/api/v1/files/a%20b/x.txt', { token: lou });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const id = res.headers.get('x-request-id')!;
    const line = await accessLine(id);
    expect(line.match(/"reqId":/g)).toHaveLength(1);
    const keys = [...line.matchAll(/"([A-Za-z]+)":/g)].map((m) => m[1]);
    expect(keys.length).toBe(new Set(keys).size);
    expect(JSON.parse(line)).toMatchObject({ reqId: id, user: 'lou', method: 'GET', route: '/api/v1/files/*', status: 200, path: '/users/lou/a b/x.txt', bytesOut: 5 });

    // A HEAD announces the length and sends no body: bytesOut 0.
    const head = await t.api('/api/v1/files/a%20b/x.txt', { method: 'HEAD', token: lou });
    expect(head.headers.get('content-length')).toBe('5');
    expect(JSON.parse(await accessLine(head.headers.get('x-request-id')!))).toMatchObject({ method: 'HEAD', bytesOut: 0 });

    const other = await t.api('/api/v1/me', { token: lou });
    await other.arrayBuffer();
    const me = JSON.parse(await accessLine(other.headers.get('x-request-id')!)) as Record<string, unknown>;
    expect(me.path).toBeUndefined();
    expect(me.route).toBe('/api/v1/me');
  });
});

describe('a request the client cuts short', () => {
  const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

  it('a download cancelled half way has its line, cut: true, and no error line', async () => {
    expect((await uploadBuffer(t, '/big.bin', randomBytes(16 * 1024 * 1024))).status).toBe(200);
    const reqId = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${t.url}/api/v1/files/big.bin`, { headers: { authorization: `Bearer ${t.token}` } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve(String(res.headers['x-request-id']));
        });
      });
      req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)));
      req.end();
    });
    const line = JSON.parse(await accessLine(reqId)) as Record<string, unknown>;
    expect(line).toMatchObject({ route: '/api/v1/files/*', path: '/big.bin', status: 200, cut: true, user: 'admin' });
    // What went out, not the 16 MiB announced.
    expect(line.bytesOut).toBeGreaterThan(0);
    expect(line.bytesOut).toBeLessThan(16 * 1024 * 1024);
    expect(parsed().filter((l) => l.reqId === reqId && Number(l.level) >= 50)).toEqual([]);
  });

  it('an upload cancelled half way is logged 499 cut: true at info, with no error line and its stack', async () => {
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${t.url}/api/v1/files/cancelled.bin`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${t.token}`, 'content-length': String(64 * 1024 * 1024) },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(randomBytes(1024 * 1024), () => setImmediate(() => req.destroy()));
    });
    let line: Record<string, unknown> | undefined;
    await waitFor(() => (line = parsed().find((l) => l.msg === 'request' && l.path === '/cancelled.bin')) !== undefined, 20_000);
    expect(line).toMatchObject({ level: 30, method: 'PUT', route: '/api/v1/files/*', status: 499, cut: true, user: 'admin' });
    expect(parsed().filter((l) => l.reqId === line!.reqId && Number(l.level) >= 50)).toEqual([]);
    expect(parsed().filter((l) => l.reqId === line!.reqId && l.msg === 'request')).toHaveLength(1);
  });
});

describe('levels', () => {
  it('a 503 (a draining node turning an upload away) is a warning without a stack, not an error', async () => {
    t.server.ctx.draining = true;
    let res: Response;
    try {
      res = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/turned-away.bin' } });
    } finally {
      t.server.ctx.draining = false;
    }
    expect(res.status).toBe(503);
    const reqId = res.headers.get('x-request-id')!;
    await accessLine(reqId);
    const own = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.reqId === reqId && l.msg !== 'request');
    expect(own).toEqual([expect.objectContaining({ level: 40, code: 'FERRY_ERR_UNAVAILABLE', msg: expect.stringMatching(/shutting down/) })]);
    expect(own[0].err).toBeUndefined();
  });
});

describe('warnings of a request carry its id', () => {
  it("a body cut for arriving too slowly: the warning has the request's reqId, as its access-log line and its other warnings do", async () => {
    const own: string[] = [];
    let pending = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        pending += chunk.toString();
        const parts = pending.split('\n');
        pending = parts.pop()!;
        own.push(...parts);
        cb();
      },
    });
    const slow = await startTestServer({ logLevel: 'info', logDestination: sink, connections: { maxPerAddress: 8, headersTimeoutMs: 600, bodyTimeoutMs: 600, bodyMinRate: 2000 } });
    try {
      const url = new URL(slow.url);
      const socket = connect(Number(url.port), url.hostname);
      await new Promise((r) => socket.once('connect', r));
      const closed = new Promise((r) => socket.once('close', r));
      socket.on('error', () => {});
      socket.write(`PUT /api/v1/files/slow.bin HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${slow.token}\r\nContent-Length: 100000\r\n\r\n`);
      const timer = setInterval(() => socket.writable && socket.write('x'), 100);
      await closed;
      clearInterval(timer);
      const parsed = () => own.map((l) => JSON.parse(l) as Record<string, unknown>);
      await waitFor(() => parsed().some((l) => l.msg === 'request' && l.path === '/slow.bin'), 20_000);
      const cut = parsed().find((l) => l.msg === 'request cut: body too slow');
      expect(cut).toMatchObject({ level: 40, phase: 'body', reqId: expect.any(String) });
      const access = parsed().find((l) => l.msg === 'request' && l.path === '/slow.bin')!;
      expect(cut!.reqId).toBe(access.reqId);
      // Every warning or error line is about this request, and says so.
      expect(parsed().filter((l) => Number(l.level) >= 40 && l.reqId !== access.reqId)).toEqual([]);
    } finally {
      await slow.close();
    }
  });
});
