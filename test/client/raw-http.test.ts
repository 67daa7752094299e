/**
 * The lean HTTP/1.1 client of bulk downloads (src/client/raw-http.ts), against real servers
 * on 127.0.0.1: Node's own HTTP server for well-formed answers (Content-Length, chunked,
 * errors, keep-alive), a raw TCP server for the malformed and the cut ones.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFerryError } from '../../src/core/errors.js';
import { HttpClient } from '../../src/client/http.js';
import { RawHttpPool } from '../../src/client/raw-http.js';
import type { BodySink, WireResponse } from '../../src/client/wire.js';

const DATA = randomBytes(3 * 1024 * 1024 + 17);
const TIMEOUTS = { headersTimeout: 5_000, bodyTimeout: 5_000 };

let http: Server;
let base = '';
/** Sockets the HTTP server accepted (keep-alive reuse shows as fewer than requests). */
let accepted = 0;

beforeAll(async () => {
  http = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/data') {
      res.writeHead(200, { 'content-length': String(DATA.length), 'x-echo': String(req.headers['x-test'] ?? '') });
      // in uneven pieces, so that reads straddle the sink's buffers
      for (let at = 0; at < DATA.length; at += 100_003) res.write(DATA.subarray(at, at + 100_003));
      res.end();
    } else if (url.pathname === '/chunked') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no length: chunked
      for (let at = 0; at < DATA.length; at += 77_777) res.write(DATA.subarray(at, at + 77_777));
      res.end();
    } else if (url.pathname === '/error') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'FERRY_ERR_NOT_FOUND', message: 'no such file' } }));
    } else if (url.pathname === '/empty') {
      res.writeHead(200, { 'content-length': '0' }).end();
    } else res.writeHead(500).end();
  });
  http.on('connection', () => accepted++);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterAll(async () => {
  http.closeAllConnections();
  await new Promise<void>((r) => http.close(() => r()));
});

/** A sink that gathers the body into buffers of `size` bytes, optionally slow (a promise per fill). */
function gather(size: number, slow = false): BodySink & { bytes(): Buffer } {
  const full: Buffer[] = [];
  let buf = Buffer.alloc(size);
  let fill = 0;
  return {
    room: () => buf.subarray(fill),
    filled(n) {
      fill += n;
      if (fill === buf.length) {
        full.push(buf);
        buf = Buffer.alloc(size);
        fill = 0;
      }
      if (slow) return new Promise<void>((r) => setTimeout(r, 1));
    },
    bytes: () => Buffer.concat([...full, buf.subarray(0, fill)]),
  };
}

function get(pool: RawHttpPool, url: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<WireResponse> {
  return pool.send({ method: 'GET', url, headers, signal, bulk: true });
}

/** A raw TCP server that answers every request with `answer(socket)`. */
async function tcpServer(answer: (s: Socket) => void): Promise<{ url: string; server: TcpServer }> {
  const server = createTcpServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => answer(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('raw HTTP/1.1 client of bulk downloads', () => {
  it('reads a Content-Length body straight into the sink, in buffers of any size, and reuses the connection', async () => {
    const pool = new RawHttpPool(new URL(base), TIMEOUTS);
    const before = accepted;
    for (const size of [1000, 4096, 1_000_000, DATA.length + 5]) {
      const res = await get(pool, `${base}/data`, { 'x-test': `size ${size}` });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-echo']).toBe(`size ${size}`);
      const sink = gather(size, size === 4096);
      await res.body.readInto!(sink);
      expect(sink.bytes().equals(DATA)).toBe(true);
    }
    expect(accepted - before).toBe(1);
    pool.close();
  });

  it('decodes chunked bodies, also as pieces and as text', async () => {
    const pool = new RawHttpPool(new URL(base), TIMEOUTS);
    const sink = gather(65_536);
    await (await get(pool, `${base}/chunked`)).body.readInto!(sink);
    expect(sink.bytes().equals(DATA)).toBe(true);
    const pieces: Buffer[] = [];
    for await (const p of (await get(pool, `${base}/chunked`)).body) pieces.push(Buffer.from(p));
    expect(createHash('sha256').update(Buffer.concat(pieces)).digest('hex')).toBe(createHash('sha256').update(DATA).digest('hex'));
    const err = await get(pool, `${base}/error`);
    expect(err.statusCode).toBe(404);
    expect(JSON.parse(await err.body.text())).toEqual({ error: { code: 'FERRY_ERR_NOT_FOUND', message: 'no such file' } });
    const empty = await get(pool, `${base}/empty`);
    await empty.body.readInto!(gather(10));
    // the connection still serves after all of these
    const again = gather(DATA.length);
    await (await get(pool, `${base}/data`)).body.readInto!(again);
    expect(again.bytes().equals(DATA)).toBe(true);
    pool.close();
  });

  it('a chunked body read as pieces by a slow reader arrives whole (the reader holds the socket, nothing is lost or stuck)', async () => {
    const pool = new RawHttpPool(new URL(base), TIMEOUTS);
    for (let round = 0; round < 3; round++) {
      const pieces: Buffer[] = [];
      for await (const p of (await get(pool, `${base}/chunked`)).body) {
        pieces.push(Buffer.from(p));
        // behind the socket: pieces pile up while a whole staging area is decoded at once
        await new Promise((r) => setTimeout(r, 2));
      }
      expect(Buffer.concat(pieces).equals(DATA)).toBe(true);
    }
    pool.close();
  });

  it('a chunked body never gets a second `filled` while the sink waits on one (a sink that reuses one buffer gets every byte right)', async () => {
    // The shape of `ferry get` through a proxy that re-chunks: a sink verifies each buffer
    // it filled before it takes more bytes, and reuses that buffer afterwards.
    const pool = new RawHttpPool(new URL(base), TIMEOUTS);
    for (const size of [1000, 65_536, 300_000]) {
      const one = Buffer.alloc(size);
      const copies: Buffer[] = [];
      let fill = 0;
      let pending = false;
      let overlaps = 0;
      const sink: BodySink = {
        room: () => {
          if (pending) overlaps++;
          return one.subarray(fill);
        },
        filled(n) {
          if (pending) overlaps++;
          fill += n;
          if (fill < size) return;
          pending = true;
          return new Promise<void>((r) =>
            setImmediate(() => {
              copies.push(Buffer.from(one));
              fill = 0;
              pending = false;
              r();
            }),
          );
        },
      };
      await (await get(pool, `${base}/chunked`)).body.readInto!(sink);
      expect(overlaps).toBe(0);
      expect(Buffer.concat([...copies, one.subarray(0, fill)]).equals(DATA)).toBe(true);
    }
    pool.close();
  });

  it('turns error answers into FerryErrors through the SDK transport', async () => {
    const client = new HttpClient({ server: base, retry: { retries: 0, baseMs: 1, capMs: 1, maxRetryAfterMs: 1 } });
    const err = await client.request({ method: 'GET', path: '/error', bulk: true }, async () => undefined).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_NOT_FOUND')).toBe(true);
    const sink = gather(1 << 20);
    await client.request({ method: 'GET', path: '/data', bulk: true }, (res) => res.body.readInto!(sink));
    expect(sink.bytes().equals(DATA)).toBe(true);
    await client.close();
  });

  it('refuses header values that would smuggle a second request', async () => {
    const pool = new RawHttpPool(new URL(base), TIMEOUTS);
    await expect(get(pool, `${base}/data`, { 'x-test': 'a\r\nGET /other HTTP/1.1' })).rejects.toMatchObject({ code: 'UND_ERR_INVALID_ARG' });
    pool.close();
  });

  it('fails a body cut short, one longer than announced, a malformed head, and a head that never ends', async () => {
    const cases: Array<[string, (s: Socket) => void, RegExp]> = [
      ['cut', (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n' + 'x'.repeat(400)), /UND_ERR_SOCKET/],
      ['longer', (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n' + 'x'.repeat(30)), /UND_ERR_RES_CONTENT_LENGTH_MISMATCH/],
      ['malformed', (s) => s.write('HTTP/1.1 200 OK\r\nbad header line\r\n\r\n'), /HPE_INVALID_HEADER_TOKEN/],
      ['smuggled', (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n'), /HPE_UNEXPECTED_CONTENT_LENGTH/],
      ['endless head', (s) => s.write('HTTP/1.1 200 OK\r\n' + 'x-filler: y\r\n'.repeat(6000)), /UND_ERR_HEADERS_OVERFLOW/],
    ];
    for (const [name, answer, code] of cases) {
      const { url, server } = await tcpServer(answer);
      const pool = new RawHttpPool(new URL(url), TIMEOUTS);
      const err = await get(pool, `${url}/x`)
        .then((res) => res.body.readInto!(gather(64)))
        .then(
          () => new Error('no error'),
          (e: unknown) => e as Error,
        );
      expect((err as { code?: string }).code, name).toMatch(code);
      pool.close();
      server.close();
    }
  });

  it('skips interim answers (103 Early Hints) before the real one', async () => {
    const { url, server } = await tcpServer((s) => s.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello'));
    const pool = new RawHttpPool(new URL(url), TIMEOUTS);
    const res = await get(pool, `${url}/x`);
    expect(res.statusCode).toBe(200);
    const sink = gather(5);
    await res.body.readInto!(sink);
    expect(sink.bytes().toString()).toBe('hello');
    pool.close();
    server.close();
  });

  it('reads a body framed by the close (no length, no chunks)', async () => {
    const { url, server } = await tcpServer((s) => s.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n' + 'abc'.repeat(50_000)));
    const pool = new RawHttpPool(new URL(url), TIMEOUTS);
    const sink = gather(10_000);
    await (await get(pool, `${url}/x`)).body.readInto!(sink);
    expect(sink.bytes().toString()).toBe('abc'.repeat(50_000));
    pool.close();
    server.close();
  });

  it('times out a server that does not answer, and stops at an abort', async () => {
    const { url, server } = await tcpServer(() => undefined);
    const pool = new RawHttpPool(new URL(url), { headersTimeout: 200, bodyTimeout: 200 });
    await expect(get(pool, `${url}/x`)).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
    const ac = new AbortController();
    const pending = get(new RawHttpPool(new URL(url), TIMEOUTS), `${url}/x`, {}, ac.signal);
    setTimeout(() => ac.abort(), 50);
    await expect(pending).rejects.toMatchObject({ code: 'UND_ERR_ABORTED' });
    pool.close();
    server.close();
  });

  it('sends again on a new connection when a kept one was closed by the server meanwhile', async () => {
    let sockets = 0;
    const { url, server } = await tcpServer(() => undefined);
    server.removeAllListeners('connection');
    server.on('connection', (s: Socket) => {
      sockets++;
      s.on('error', () => undefined);
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc');
        // the first connection is closed right after its answer, as an idle keep-alive would be
        if (sockets === 1) setTimeout(() => s.destroy(), 20);
      });
    });
    const pool = new RawHttpPool(new URL(url), TIMEOUTS);
    const first = gather(3);
    await (await get(pool, `${url}/x`)).body.readInto!(first);
    await new Promise((r) => setTimeout(r, 100));
    const second = gather(3);
    await (await get(pool, `${url}/x`)).body.readInto!(second);
    expect([first.bytes().toString(), second.bytes().toString()]).toEqual(['abc', 'abc']);
    expect(sockets).toBe(2);
    pool.close();
    server.close();
  });
});
