/**
 * Failing fast and visibly (issue 12): a server that is not there is said at once, with its
 * address and what to check, in one line, with its own exit code, and without the retries
 * that used to hide it for 20-40 s. Timing is not asserted (the machine is shared); what makes
 * the failure fast is: no retry happens, which `-v` would print.
 *
 * Real sockets on 127.0.0.1: a closed port, a plain-HTTP server for https, a TLS server for
 * plain HTTP and for an untrusted certificate, and a host name under `.invalid` (RFC 6761:
 * never resolves).
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';
import { createCa, createServerCert } from '../../src/server/x509.js';

let plain: Server;
let tls: Server;
/** Web servers that are not Ferry: one answers every path 404 with a page, one 200 with a page (an app's catch-all). */
let notFound: Server;
let page: Server;
let closedPort: number;

const listen = (s: Server) => new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));

beforeAll(async () => {
  plain = createHttpServer((_req, res) => res.end('{}'));
  const ca = createCa();
  const cert = createServerCert(ca, ['127.0.0.1']);
  tls = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => res.end('{}'));
  // A port that was free a moment ago and is closed now: nothing listens there.
  const probe = createNetServer();
  closedPort = await new Promise<number>((resolve) => probe.listen(0, '127.0.0.1', () => resolve((probe.address() as AddressInfo).port)));
  await new Promise((r) => probe.close(r));
  notFound = createHttpServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'));
  page = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><p>welcome</p>'));
  await Promise.all([listen(plain), listen(tls), listen(notFound), listen(page)]);
});

afterAll(async () => {
  await Promise.all([plain, tls, notFound, page].map((s) => new Promise((r) => s.close(r))));
});

const portOf = (s: Server) => (s.address() as AddressInfo).port;

async function fails(server: string, args: string[] = ['ls', '/']) {
  const r = await runFerry([...args, '-v', '--server', server, '--token', 'x'], { timeoutMs: 60_000 });
  const lines = r.stderr.trim().split('\n');
  return { code: r.code, lines, retried: lines.some((l) => /retry/.test(l)) };
}

describe('a server that is not there fails at once, in one line, with its own exit code', () => {
  it('connection refused: the address and a hint, exit 5, no retry', async () => {
    const url = `http://127.0.0.1:${closedPort}`;
    for (const args of [['ls', '/'], ['put', '-', '/x'], ['get', '/x', '-'], ['stat', '/x']]) {
      const r = await fails(url, args);
      expect({ args, code: r.code, retried: r.retried, lines: r.lines.length }).toEqual({ args, code: 5, retried: false, lines: 1 });
      expect(r.lines[0]).toMatch(new RegExp(`cannot connect to ${url}: connection refused \\(is the server running.*ferry login.*FERRY_ERR_NETWORK`));
    }
  });

  it('an unknown host: exit 9', async () => {
    const r = await fails('http://no-such-host.invalid:7373');
    expect(r).toMatchObject({ code: 9, retried: false });
    expect(r.lines).toEqual([expect.stringMatching(/unknown host no-such-host\.invalid: the name does not resolve .*\(FERRY_ERR_HOST_UNKNOWN\)$/)]);
  });

  it('https against a plain-HTTP server: exit 10, says to use http://', async () => {
    const r = await fails(`https://127.0.0.1:${portOf(plain)}`);
    expect(r).toMatchObject({ code: 10, retried: false });
    expect(r.lines).toEqual([expect.stringMatching(new RegExp(`answered in plain HTTP, not TLS: use http://127\\.0\\.0\\.1:${portOf(plain)}.*\\(FERRY_ERR_TLS_MISMATCH\\)$`))]);
  });

  it('plain HTTP against a TLS server: exit 10, says to use https://', async () => {
    const r = await fails(`http://127.0.0.1:${portOf(tls)}`);
    expect(r).toMatchObject({ code: 10, retried: false });
    expect(r.lines).toEqual([expect.stringMatching(new RegExp(`use https://127\\.0\\.0\\.1:${portOf(tls)}.*\\(FERRY_ERR_TLS_MISMATCH\\)$`))]);
  });

  it('a certificate nobody vouches for: exit 11, says --ca or --fingerprint', async () => {
    const r = await fails(`https://127.0.0.1:${portOf(tls)}`);
    expect(r).toMatchObject({ code: 11, retried: false });
    expect(r.lines).toEqual([expect.stringMatching(/not trusted.*--ca FILE.*--fingerprint.*\(FERRY_ERR_TLS_UNTRUSTED\)$/)]);
  });

  it('--json puts the same error on stderr as JSON', async () => {
    const r = await runFerry(['ls', '/', '--json', '--server', `http://127.0.0.1:${closedPort}`, '--token', 'x']);
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('');
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: 'FERRY_ERR_NETWORK', details: { server: `http://127.0.0.1:${closedPort}` } } });
  });
});

// A wrong server URL is configuration (exit 2), never "not found" (3): a script would take
// that for a missing file.
describe('a web server that is not Ferry (a wrong port or path in the URL) is said to be one, exit 2', () => {
  it('a bare 404 page: login and ls name the URL they tried and ask whether the address is a Ferry server', async () => {
    const url = `http://127.0.0.1:${portOf(notFound)}`;
    const login = await runFerry(['login', url, '--token', 'x', '--name', 'other'], { env: { FERRY_CONFIG: '/nonexistent/ferry-config.json' } });
    expect(login.code).toBe(2);
    expect(login.stderr).toContain(`${url} did not answer as a Ferry server (GET ${url}/api/v1/capabilities: HTTP 404): is Ferry mounted elsewhere, or on another port? (check --server`);
    const ls = await fails(url);
    expect(ls).toMatchObject({ code: 2, retried: false });
    expect(ls.lines).toEqual([expect.stringContaining(`(GET ${url}/api/v1/list/: HTTP 404): is Ferry mounted elsewhere, or on another port? (check --server`)]);
  });

  it('a 200 page where JSON was expected: says what came back (text/html) and asks the same', async () => {
    const url = `http://127.0.0.1:${portOf(page)}/ferry`;
    const r = await fails(url);
    expect(r.code).toBe(2);
    expect(r.lines.join('\n')).toContain(`(GET ${url}/api/v1/list/: the answer is not JSON (text/html)): is Ferry mounted elsewhere, or on another port? (check --server`);
    expect(r.retried).toBe(false);
  });
});

describe('a Ferry server given with a path it is not at (URL/wrongpath)', () => {
  let w: E2EWorld;
  beforeAll(async () => {
    w = await startWorld();
  });
  afterAll(async () => {
    await w?.close();
  });

  it('ls and login say so with the full URL tried and where the API is, exit 2 (the app page is not served to them)', async () => {
    const url = `${w.server.url}/wrongpath`;
    const ls = await w.ferry(['ls', '/', '-v', '--server', url, '--token', w.server.adminToken]);
    expect(ls.code).toBe(2);
    expect(ls.stderr.trim().split('\n')).toEqual([
      expect.stringContaining(`${url} did not answer as a Ferry server (GET ${url}/api/v1/list/: HTTP 404: this server's API is at /api/v1/): is Ferry mounted elsewhere, or on another port?`),
    ]);
    const login = await w.ferry(['login', url, '--token', '-', '--name', 'wrong'], { input: `${w.server.adminToken}\n` });
    expect(login.code).toBe(2);
    expect(login.stderr).toContain(`(GET ${url}/api/v1/capabilities: HTTP 404: this server's API is at /api/v1/)`);
    // The same server at its own address works, and a browser at the wrong path still gets the app's page.
    ok(await w.ferry(['ls', '/', '--server', w.server.url]));
    const page = await fetch(`${url}/api/v1/list/`, { headers: { accept: 'text/html' } });
    expect({ status: page.status, type: page.headers.get('content-type') }).toEqual({ status: 200, type: 'text/html; charset=utf-8' });
  });
});
