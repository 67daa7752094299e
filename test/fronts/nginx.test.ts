/**
 * Ferry behind a real nginx (Debian's 1.22), with the configuration docs/deploy.md gives,
 * read from that file: only the certificate files, the listen address and Ferry's address are
 * replaced. TLS with a test CA; the client connects from 127.0.0.2, nginx to Ferry from
 * 127.0.0.1, and Ferry runs with `--trust-proxy 127.0.0.1` and no `--public-url`. What passes
 * through is checked where nginx's defaults could refuse it (a tus HEAD's headers).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createServerCert } from '../../src/server/x509.js';
import { runFerry } from '../helpers/cli.js';
import { startNginx } from '../helpers/nginx-balancer.js';
import { startServer, type RunningServer } from '../helpers/server.js';

let dir: string;
let ferry: RunningServer;
let nginx: { port: number; stop(): Promise<void> };
let client: Agent;
let url: string;
const caFile = () => join(dir, 'ca.pem');

/** The ```nginx block of docs/deploy.md. */
function documentedConfig(): string {
  const doc = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');
  const block = /```nginx\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/deploy.md has no nginx block');
  return block;
}

/** Parts of the tus final upload below: 5.6 KB of Upload-Concat. */
const PARTS = 150;
const BAD = { authorization: `Bearer ferry_${'0'.repeat(16)}_${'A'.repeat(43)}` };
const lastAuditIp = async () => {
  const res = await fetch(`${ferry.url}/api/v1/admin/audit?event=auth.failure&limit=1`, { headers: { authorization: `Bearer ${ferry.adminToken}` } });
  return ((await res.json()) as { entries: { ip: string }[] }).entries[0]?.ip;
};
const cli = (args: string[], input?: Buffer) => runFerry([...args, '--server', url, '--token', ferry.adminToken, '--ca', caFile()], { input, env: { FERRY_CONFIG: join(dir, 'cfg.json') } });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-nginx-'));
  ferry = await startServer({ dataDir: join(dir, 'data'), extraArgs: ['--trust-proxy', '127.0.0.1'] });
  const ca = createCa();
  const cert = createServerCert(ca, ['127.0.0.1']);
  writeFileSync(caFile(), ca.certPem);
  writeFileSync(join(dir, 'cert.pem'), cert.certPem);
  writeFileSync(join(dir, 'key.pem'), cert.keyPem, { mode: 0o600 });
  const documented = documentedConfig();
  for (const line of ['listen 443 ssl http2;', 'proxy_pass http://127.0.0.1:7373;', 'ssl_certificate     /', 'ssl_certificate_key /']) expect(documented).toContain(line);
  nginx = await startNginx(join(dir, 'nginx'), (port) =>
    documented
      .replace('listen 443 ssl http2;', `listen 127.0.0.1:${port} ssl http2;`)
      .replace(/ssl_certificate +\S+;/, `ssl_certificate ${join(dir, 'cert.pem')};`)
      .replace(/ssl_certificate_key +\S+;/, `ssl_certificate_key ${join(dir, 'key.pem')};`)
      .replace('http://127.0.0.1:7373', ferry.url),
  );
  url = `https://127.0.0.1:${nginx.port}`;
  client = new Agent({ localAddress: '127.0.0.2', connect: { ca: ca.certPem } });
});
afterAll(async () => {
  await client?.close();
  await nginx?.stop();
  await ferry?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("behind nginx with docs/deploy.md's configuration", () => {
  it('ferry put and get of 12 MiB through it over TLS arrive byte for byte', async () => {
    const data = randomBytes(12 * 1024 * 1024 + 3);
    const put = await cli(['put', '-', '/big.bin'], data);
    expect(put.code, put.stderr).toBe(0);
    const got = await cli(['get', '/big.bin', '-']);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdoutBytes.equals(data)).toBe(true);
  });

  it('share links name the https address nginx serves, and open through it', async () => {
    const put = await cli(['put', '-', '/shared.txt'], Buffer.from('shared through nginx'));
    expect(put.code, put.stderr).toBe(0);
    const share = await cli(['share', '/shared.txt', '--json']);
    expect(share.code, share.stderr).toBe(0);
    const link = (JSON.parse(share.stdout) as { url: string }).url;
    expect(link.startsWith(`${url}/s/`)).toBe(true);
    const res = await request(`${link}?download=1`, { dispatcher: client });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('shared through nginx');
  });

  it('a tus final upload of 150 parts answers its HEAD through it (its Upload-Concat list would pass the 4 KiB nginx keeps for an answer\'s headers: 502)', async () => {
    const admin = { authorization: `Bearer ${ferry.adminToken}`, 'content-type': 'application/json' };
    const made = await fetch(`${ferry.url}/api/v1/users`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'tuss', maxSessions: 200 }) });
    expect(made.status).toBe(201);
    const tok = await fetch(`${ferry.url}/api/v1/tokens`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'tus', user: 'tuss' }) });
    const tus = { 'tus-resumable': '1.0.0', authorization: `Bearer ${((await tok.json()) as { token: string }).token}` };
    const parts: string[] = [];
    for (let i = 0; i < PARTS; i++) {
      const part = await request(`${url}/api/v1/tus/`, { method: 'POST', dispatcher: client, headers: { ...tus, 'upload-concat': 'partial', 'upload-length': '1', 'content-type': 'application/offset+octet-stream' }, body: String(i % 10) });
      const said = await part.body.text();
      expect(part.statusCode, said).toBe(201);
      parts.push(new URL(String(part.headers.location), url).pathname);
    }
    const name = Buffer.from('joined.txt').toString('base64');
    // The request's header (5.6 KB) passes: nginx takes 8 KiB for a request's header line.
    const final = await request(`${url}/api/v1/tus/`, { method: 'POST', dispatcher: client, headers: { ...tus, 'upload-concat': `final;${parts.join(' ')}`, 'upload-metadata': `filename ${name}` } });
    const said = await final.body.text();
    expect(final.statusCode, said).toBe(201);
    const head = await request(new URL(String(final.headers.location), url), { method: 'HEAD', dispatcher: client, headers: tus });
    await head.body.text();
    expect(head.statusCode).toBe(200);
    expect(head.headers['upload-offset']).toBe(String(PARTS));
    expect(head.headers['upload-concat']).toBe('final');
    const got = await fetch(`${ferry.url}/api/v1/files/users/tuss/joined.txt`, { headers: { authorization: `Bearer ${ferry.adminToken}` } });
    expect(await got.text()).toBe('0123456789'.repeat(PARTS / 10));
  });

  it("the audit log records the client's address (127.0.0.2), also when it sends its own X-Forwarded-For", async () => {
    for (const headers of [BAD, { ...BAD, 'x-forwarded-for': '198.51.100.23' }]) {
      const res = await request(`${url}/api/v1/me`, { headers, dispatcher: client });
      await res.body.text();
      expect(res.statusCode).toBe(401);
      expect(await lastAuditIp()).toBe('127.0.0.2');
    }
  });
});
