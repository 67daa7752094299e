/**
 * Every refusal in Ferry's error format (`{"error": {"code": "FERRY_ERR_…", "message"}}`),
 * including what never reaches a route: a URL that is not valid percent-encoding, what
 * Node's HTTP parser refuses, an HTTP/1.1 request without Host. And routing before
 * authentication: a path no route serves is 404 for everyone, `GET /` needs no token.
 * Requests are written byte for byte on a socket (no client library fixes them up).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEFENDER } from '../../src/server/defender.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    ipDeny: ['127.0.0.66/32'],
    defender: { ...DEFAULT_DEFENDER, threshold: 4, safeList: ['127.0.0.1'] },
  });
});
afterAll(async () => t?.close());

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `text` on a fresh connection (from `localAddress`) and reads the answer until the server closes or a full response arrived. */
function raw(text: string, localAddress = '127.0.0.1'): Promise<RawAnswer> {
  const { port } = new URL(t.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ port: Number(port), host: '127.0.0.1', localAddress }, () => socket.write(text));
    let data = Buffer.alloc(0);
    const done = (): void => {
      const at = data.indexOf('\r\n\r\n');
      const head = data.subarray(0, at).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
      resolve({ status: Number(head[0].split(' ')[1]), headers, body: data.subarray(at + 4).toString('utf8') });
    };
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      const at = data.indexOf('\r\n\r\n');
      const length = /content-length: *(\d+)/i.exec(data.subarray(0, at).toString('latin1'))?.[1];
      if (at !== -1 && length !== undefined && data.length >= at + 4 + Number(length)) {
        socket.destroy();
        done();
      }
    });
    socket.on('close', () => (data.length > 0 ? done() : reject(new Error('closed without an answer'))));
    socket.on('error', () => {});
  });
}

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: ferry.test\r\n${extra}\r\n`;

function expectFerryError(a: RawAnswer, status: number, code: string, message?: RegExp): void {
  expect({ status: a.status, type: a.headers['content-type'] }).toEqual({ status, type: expect.stringMatching(/^application\/json/) });
  const body = JSON.parse(a.body) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  if (message) expect(body.error.message).toMatch(message);
}

describe("requests refused before any route, in Ferry's format", () => {
  it('a URL that is not valid percent-encoding', async () => {
    for (const path of ['/api/v1/files/%zz', '/s/%E0%A4%A', '/api/v1/stat/a%']) {
      const a = await raw(get(path));
      expectFerryError(a, 400, 'FERRY_ERR_PATH_INVALID', /not valid/);
      expect(a.headers['x-request-id']).toMatch(/^[0-9a-f]{16}$/);
    }
  });

  it("what Node's HTTP parser refuses", async () => {
    expectFerryError(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'), 400, 'FERRY_ERR_VALIDATION', /malformed HTTP request: invalid Content-Length/);
    expectFerryError(await raw('BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n'), 400, 'FERRY_ERR_VALIDATION', /malformed HTTP request: unknown method/);
    expectFerryError(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n'), 400, 'FERRY_ERR_VALIDATION', /malformed HTTP request/);
    expectFerryError(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n'), 400, 'FERRY_ERR_VALIDATION', /malformed HTTP request/);
    expectFerryError(await raw('\u0001\u0002 garbage\r\n\r\n'), 400, 'FERRY_ERR_VALIDATION', /malformed HTTP request/);
    expectFerryError(await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), 431, 'FERRY_ERR_PAYLOAD_TOO_LARGE', /headers are too large/);
  });

  it('an HTTP/1.1 request without Host (HTTP/1.0 needs none)', async () => {
    expectFerryError(await raw('GET /healthz HTTP/1.1\r\n\r\n'), 400, 'FERRY_ERR_VALIDATION', /needs a Host header/);
    const old = await raw('GET /healthz HTTP/1.0\r\n\r\n');
    expect({ status: old.status, body: JSON.parse(old.body) }).toEqual({ status: 200, body: { status: 'ok' } });
  });

  it('a bad URL from a denied or banned address is refused as such', async () => {
    expectFerryError(await raw(get('/api/v1/files/%zz'), '127.0.0.66'), 403, 'FERRY_ERR_FORBIDDEN', /does not accept requests from 127\.0\.0\.66/);
    for (let i = 0; i < 2; i++) expect((await raw(get('/api/v1/me', `Authorization: Bearer ferry_${'0'.repeat(15)}${i}_${'A'.repeat(43)}\r\n`), '127.0.0.67')).status).toBe(401);
    const banned = await raw(get('/api/v1/files/%zz'), '127.0.0.67');
    expectFerryError(banned, 403, 'FERRY_ERR_BANNED');
    expect(Number(banned.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('routing before authentication', () => {
  it("GET / needs no token: it is the web app's page (which asks the API for everything)", async () => {
    const page = await raw(get('/', 'Accept: text/html,application/xhtml+xml\r\n'));
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
  });

  it('an unknown path under /api/ is 404 FERRY_ERR_NOT_FOUND, the same with no token, a wrong one or a valid one; outside /api/ it is the web app', async () => {
    const answersOf = (path: string, check: (a: RawAnswer) => void) =>
      Promise.all(
        ['', 'Authorization: Bearer wrong\r\n', `Authorization: Bearer ${t.token}\r\n`].map(async (auth) => {
          const a = await raw(get(path, auth));
          check(a);
          return a.body;
        }),
      );
    for (const path of ['/api/v1/nope', '/api/v2/files/x', '/api/v1/filesx/a']) {
      expect(new Set(await answersOf(path, (a) => expectFerryError(a, 404, 'FERRY_ERR_NOT_FOUND'))).size).toBe(1);
    }
    const app = await answersOf('/nope', (a) => {
      expect(a.status).toBe(200);
      expect(a.headers['content-type']).toMatch(/^text\/html/);
    });
    expect(new Set(app).size).toBe(1);
  });

  it('a bodiless request with Content-Type: application/json is a request without a body; bad JSON is still 400', async () => {
    const json = { 'content-type': 'application/json' };
    const mkdir = await t.api('/api/v1/mkdir/json-header', { method: 'POST', headers: json });
    expect(mkdir.status).toBe(201);
    const rm = await t.api('/api/v1/files/json-header', { method: 'DELETE', headers: json });
    expect(rm.status).toBe(204);
    const bad = await t.api('/api/v1/mkdir/bad-json', { method: 'POST', headers: json, body: '{' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_VALIDATION');
    const poisoned = await t.api('/api/v1/tokens', { method: 'POST', headers: json, body: '{"name":"p","__proto__":{"x":1}}' });
    expect(poisoned.status).toBe(400);
  });

  // docs/protocol.md, "Conventions": JSON request bodies are at most 8 MiB.
  it('a JSON body of 8 MiB is read; one byte more is 413 FERRY_ERR_PAYLOAD_TOO_LARGE', async () => {
    const json = { 'content-type': 'application/json' };
    const of = (bytes: number) => {
      const head = '{"paths":["/nothing-here"],"name":"';
      return head + 'x'.repeat(bytes - head.length - 2) + '"}';
    };
    expect(Buffer.byteLength(of(8 * 1024 * 1024))).toBe(8 * 1024 * 1024);
    // Read and judged on its merits: a name over 200 characters is a validation error.
    const fits = await t.api('/api/v1/zip', { method: 'POST', headers: json, body: of(8 * 1024 * 1024) });
    expect(fits.status).toBe(400);
    expect(((await fits.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_VALIDATION');
    const over = await t.api('/api/v1/zip', { method: 'POST', headers: json, body: of(8 * 1024 * 1024 + 1) });
    expect(over.status).toBe(413);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_PAYLOAD_TOO_LARGE');
  });

  it('a route that exists still needs a token, whether what it names exists or not', async () => {
    for (const path of ['/api/v1/files/missing.txt', '/api/v1/stat/x', '/api/v1/me', '/metrics']) {
      expectFerryError(await raw(get(path)), 401, 'FERRY_ERR_AUTH_REQUIRED');
    }
  });
});
