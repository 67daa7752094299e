/**
 * Ferry behind a real Caddy (Debian's caddy 2.6, the configuration of docs/deploy.md):
 * automatic HTTPS (`tls internal` here), HTTP/2 and HTTP/3. The client connects to Caddy
 * from 127.0.0.2; Caddy connects to Ferry from 127.0.0.1.
 *
 * - With `--trust-proxy 127.0.0.1` Ferry records the client (127.0.0.2, from Caddy's
 *   X-Forwarded-For) in its audit log and access log; a client that writes its own
 *   X-Forwarded-For through Caddy or straight to Ferry fools nobody; share links name the
 *   public https URL (X-Forwarded-Proto and -Host).
 * - Without it, Ferry records Caddy's address.
 * - WebDAV and tus uploads and downloads work through Caddy (HTTP/2 and HTTP/1.1), and over
 *   HTTP/3 from Chromium (curl here has no HTTP/3).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import * as tus from 'tus-js-client';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../benchmarks/peers/net.js';
import { startCaddy, type RunningCaddy } from '../helpers/caddy.js';
import { basic } from '../helpers/dav.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { startServer, type RunningServer } from '../helpers/server.js';

/** Kept across the server's restarts (a chosen admin token must look random: see secret-strength.ts). */
const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;

let dir: string;
let ferry: RunningServer;
let ferryPort = 0;
let caddy: RunningCaddy;
let client: Agent;
const ALICE = basic('alice', 'alice-password-1');
const BAD = { authorization: `Bearer ferry_${'0'.repeat(16)}_${'A'.repeat(43)}` };

/** Ferry on its fixed port (Caddy's upstream), trusting 127.0.0.1 by flag, by FERRY_TRUST_PROXY, or not at all. */
async function startFerry(trust: 'flag' | 'env' | 'no'): Promise<void> {
  ferry = await startServer({
    dataDir: join(dir, 'data'),
    adminToken: ADMIN_TOKEN,
    addr: `127.0.0.1:${ferryPort}`,
    extraArgs: trust === 'flag' ? ['--trust-proxy', '127.0.0.1'] : [],
    env: { FERRY_TRUST_PROXY: trust === 'env' ? '127.0.0.1/32,::1' : undefined },
  });
}

const admin = (path: string, init: RequestInit = {}) => fetch(`${ferry.url}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
const lastAudit = async (event: string) => ((await (await admin(`/api/v1/admin/audit?event=${event}&limit=1`)).json()) as { entries: { ip: string }[] }).entries[0];

/** A request through Caddy, from 127.0.0.2. */
async function viaCaddy(method: string, path: string, init: { headers?: Record<string, string>; body?: Buffer | string } = {}) {
  const res = await request(`${caddy.url}${path}`, { method: method as 'GET', headers: init.headers, body: init.body, dispatcher: client });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

beforeAll(async () => {
  expect(ensureCommand('caddy'), 'caddy (Debian package) is needed').toBe(true);
  expect(ensureCommand('chromium'), 'chromium (Debian package) is needed').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'ferry-caddy-'));
  ferryPort = await freePort();
  await startFerry('flag');
  expect((await admin('/api/v1/users', { method: 'POST', body: JSON.stringify({ name: 'alice', password: 'alice-password-1' }) })).status).toBe(201);
  caddy = await startCaddy(dir, `127.0.0.1:${ferryPort}`);
  client = new Agent({ localAddress: '127.0.0.2', connect: { ca: caddy.ca }, allowH2: true });
});
afterAll(async () => {
  await client?.close();
  await caddy?.stop();
  await ferry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('behind Caddy with --trust-proxy', () => {
  it('records the client’s address, not Caddy’s; a forged X-Forwarded-For fools nobody', async () => {
    expect((await viaCaddy('GET', '/api/v1/me', { headers: BAD })).status).toBe(401);
    expect((await lastAudit('auth.failure')).ip).toBe('127.0.0.2');
    expect((await viaCaddy('GET', '/api/v1/me', { headers: { ...BAD, 'x-forwarded-for': '198.51.100.23' } })).status).toBe(401);
    expect((await lastAudit('auth.failure')).ip).toBe('127.0.0.2');
    // Straight to Ferry from 127.0.0.2 (not a trusted proxy): the header is ignored.
    const directAgent = new Agent({ localAddress: '127.0.0.2' });
    const direct = await request(`${ferry.url}/api/v1/me`, { headers: { ...BAD, 'x-forwarded-for': '198.51.100.23' }, dispatcher: directAgent });
    await direct.body.text();
    await directAgent.close();
    expect((await lastAudit('auth.failure')).ip).toBe('127.0.0.2');
    // The access log line of a request through Caddy names the client too.
    const lines = ferry
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"request"') && l.includes('"route":"/api/v1/me"'));
    expect(lines.length).toBe(3);
    for (const l of lines) expect((JSON.parse(l) as { ip: string }).ip).toBe('127.0.0.2');
  });

  it('share links name the public https address Caddy serves', async () => {
    expect((await viaCaddy('PUT', '/dav/shared.txt', { headers: { authorization: ALICE }, body: 'shared' })).status).toBe(201);
    const token = ((await (await fetch(`${ferry.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-password-1' }) })).json()) as { token: string }).token;
    const made = await viaCaddy('POST', '/api/v1/shares', { headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ path: '/shared.txt' }) });
    const url = (JSON.parse(made.body.toString()) as { url: string }).url;
    expect(url.startsWith(`${caddy.url}/s/`)).toBe(true);
    const got = await viaCaddy('GET', new URL(url).pathname);
    expect(got.body.toString()).toBe('shared');
  });

  it('WebDAV and tus uploads and downloads work through it', async () => {
    const data = randomBytes(12 * 1024 * 1024 + 5);
    expect((await viaCaddy('PUT', '/dav/big.bin', { headers: { authorization: ALICE }, body: data })).status).toBe(201);
    const got = await viaCaddy('GET', '/dav/big.bin', { headers: { authorization: ALICE } });
    expect(got.status).toBe(200);
    expect(got.body.equals(data)).toBe(true);
    const part = await viaCaddy('GET', '/dav/big.bin', { headers: { authorization: ALICE, range: 'bytes=5000000-5000099' } });
    expect(part.status).toBe(206);
    expect(part.body.equals(data.subarray(5_000_000, 5_000_100))).toBe(true);

    const token = ((await (await fetch(`${ferry.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-password-1' }) })).json()) as { token: string }).token;
    const tusData = randomBytes(7 * 1024 * 1024 + 9);
    await new Promise<void>((resolve, reject) => {
      new tus.Upload(tusData, {
        endpoint: `${caddy.url}/api/v1/tus/`,
        headers: { authorization: `Bearer ${token}` },
        metadata: { filename: 'via-caddy.bin' },
        chunkSize: 2 * 1024 * 1024,
        retryDelays: null,
        httpStack: new tus.DefaultHttpStack({ ca: caddy.ca, localAddress: '127.0.0.2' }),
        onError: reject,
        onSuccess: () => resolve(),
      }).start();
    });
    const back = await viaCaddy('GET', '/dav/via-caddy.bin', { headers: { authorization: ALICE } });
    expect(createHash('sha256').update(back.body).digest('hex')).toBe(createHash('sha256').update(tusData).digest('hex'));
  });

  it('HTTP/3: Chromium reaches Ferry through Caddy over QUIC, uploads and downloads', async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-quic', `--origin-to-force-quic-on=127.0.0.1:${caddy.port}`, `--ignore-certificate-errors-spki-list=${caddy.spki}`],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${caddy.url}/healthz`);
      // (Browser code: the page's Performance API, not Node's types.)
      expect(await page.evaluate(() => (performance.getEntriesByType('navigation' as never)[0] as unknown as { nextHopProtocol: string }).nextHopProtocol)).toBe('h3');
      const result = await page.evaluate(async (auth) => {
        const data = new Uint8Array(3 * 1024 * 1024 + 1).map((_, i) => (i * 7) & 255);
        const put = await fetch('/dav/over-h3.bin', { method: 'PUT', headers: { authorization: auth }, body: data });
        const get = await fetch('/dav/over-h3.bin', { headers: { authorization: auth } });
        const back = new Uint8Array(await get.arrayBuffer());
        const protocols = performance.getEntriesByType('resource').map((e) => (e as unknown as { nextHopProtocol: string }).nextHopProtocol);
        return { put: put.status, get: get.status, same: back.length === data.length && back.every((b, i) => b === data[i]), protocols };
      }, ALICE);
      expect(result).toMatchObject({ put: 201, get: 200, same: true });
      expect(result.protocols).toContain('h3');
    } finally {
      await browser.close();
    }
  });
});

describe('behind Caddy without --trust-proxy, and with FERRY_TRUST_PROXY', () => {
  it('without it, Ferry records Caddy’s address: X-Forwarded-For is not believed', async () => {
    await ferry.stop();
    await startFerry('no');
    expect((await viaCaddy('GET', '/api/v1/me', { headers: BAD })).status).toBe(401);
    expect((await lastAudit('auth.failure')).ip).toBe('127.0.0.1');
  });

  it('FERRY_TRUST_PROXY does what --trust-proxy does', async () => {
    await ferry.stop();
    await startFerry('env');
    expect((await viaCaddy('GET', '/api/v1/me', { headers: BAD })).status).toBe(401);
    expect((await lastAudit('auth.failure')).ip).toBe('127.0.0.2');
  });
});
