/**
 * The API description: an OpenAPI 3.1 document generated from the schemas that validate
 * requests, covering every registered route; schema violations answered with 400
 * FERRY_ERR_VALIDATION in Ferry's error format; the reference page in real Chromium under
 * its Content-Security-Policy.
 */
import { createHash } from 'node:crypto';
import { Validator } from '@seriousme/openapi-schema-validator';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describedElsewhere, ROUTE_SPECS } from '../../src/server/api-schemas.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

let t: TestServer;
interface Doc {
  openapi: string;
  paths: Record<string, Record<string, { summary?: string; security?: unknown[]; parameters?: { name: string; in: string }[]; requestBody?: unknown; tags?: string[] }>>;
}
let doc: Doc;

beforeAll(async () => {
  t = await startTestServer();
  const res = await t.api('/api/v1/openapi.json', { token: null });
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
});
afterAll(async () => {
  await t?.close();
});

/** `GET /api/v1/files/*` -> ['/api/v1/files/{path}', 'get']. */
const openapiKey = (endpoint: string): [string, string] => {
  const [method, url] = endpoint.split(' ');
  return [url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace('*', '{path}'), method.toLowerCase()];
};

describe('GET /api/v1/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc as unknown as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('the validator catches a broken document (the check can fail)', async () => {
    const broken = structuredClone(doc) as unknown as { paths: Record<string, Record<string, { responses?: unknown }>> };
    broken.paths['/api/v1/move'].post.responses = 'none';
    expect((await new Validator().validate(broken as unknown as Parameters<Validator["validate"]>[0])).valid).toBe(false);
  });

  it('describes every registered route, each with the schema that validates it', () => {
    // WebDAV's methods have no place in OpenAPI: RFC 4918 and docs/protocol.md describe it.
    const all = t.server.ctx.endpoints;
    const endpoints = all.filter((e) => !describedElsewhere(...(e.split(' ') as [string, string])));
    expect(all.length - endpoints.length).toBe(26); // 12 methods on /dav and on /dav/*, and OPTIONS / and PROPFIND / (clients given the server's address ask them first)
    for (const e of all.filter((x) => !endpoints.includes(x))) {
      const [path, method] = openapiKey(e);
      expect(doc.paths[path]?.[method], e).toBeUndefined();
    }
    expect(endpoints.length).toBeGreaterThan(60);
    const missing = endpoints.filter((e) => {
      const [path, method] = openapiKey(e);
      return !doc.paths[path]?.[method];
    });
    expect(missing).toEqual([]);
    const undescribed = endpoints.filter((e) => !ROUTE_SPECS[e]);
    expect(undescribed).toEqual([]);
    // And nothing described that the server does not serve (a stale entry).
    expect(Object.keys(ROUTE_SPECS).filter((k) => !endpoints.includes(k))).toEqual([]);
    // Wildcard paths are named parameters; public routes say so; the rest need the bearer token.
    expect(doc.paths['/api/v1/files/{path}'].get.parameters).toContainEqual(expect.objectContaining({ name: 'path', in: 'path' }));
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.paths['/api/v1/move'].post.security).toBeUndefined();
    expect(doc.paths['/api/v1/move'].post.requestBody).toBeDefined();
    // Bodies whose handlers refuse unknown fields say so, and list every field they take.
    for (const [path, method] of [['/api/v1/tokens', 'post'], ['/api/v1/shares', 'post'], ['/api/v1/users', 'post'], ['/api/v1/users/{name}', 'patch']] as const) {
      expect(JSON.stringify(doc.paths[path][method].requestBody), `${method} ${path}`).toContain('other fields are refused');
    }
    expect(JSON.stringify(doc.paths['/api/v1/users/{name}'].patch.requestBody)).toMatch(/"role".*"home".*"grants"/);
  });
});

describe('the statuses the document lists are the ones the server answers', () => {
  /** Whether `status` is documented for `method path` (exactly, or as its class: `4XX`). */
  const documents = (path: string, method: string, status: number): boolean => {
    const responses = (doc.paths[path]?.[method] as { responses?: Record<string, unknown> } | undefined)?.responses ?? {};
    return String(status) in responses || `${String(status)[0]}XX` in responses;
  };
  const json = (body: unknown): RequestInit & { json: unknown } => ({ method: 'POST', json: body });

  it('for successes and errors of every kind of route, 204s and 201s included', async () => {
    const hi = new TextEncoder().encode('hi\n');
    // [documented path, method, the request]: successes first, then error paths.
    const calls: [string, string, () => Promise<Response>][] = [
      ['/api/v1/files/{path}', 'put', () => t.api('/api/v1/files/s/hi.txt', { method: 'PUT', body: hi })],
      ['/api/v1/files/{path}', 'get', () => t.api('/api/v1/files/s/hi.txt')],
      ['/api/v1/files/{path}', 'get', () => t.api('/api/v1/files/s/hi.txt', { headers: { range: 'bytes=0-0' } })],
      ['/api/v1/files/{path}', 'get', () => t.api('/api/v1/files/s/hi.txt', { headers: { range: 'bytes=10-20' } })],
      ['/api/v1/files/{path}', 'get', () => t.api('/api/v1/files/s/nope')],
      ['/api/v1/files/{path}', 'head', () => t.api('/api/v1/files/s/hi.txt', { method: 'HEAD' })],
      ['/api/v1/files/{path}', 'post', () => { const f = new FormData(); f.append('file', new Blob([hi]), 'form.txt'); return t.api('/api/v1/files/s', { method: 'POST', body: f }); }],
      ['/api/v1/mkdir/{path}', 'post', () => t.api('/api/v1/mkdir/s/d', { method: 'POST' })],
      ['/api/v1/mkdir/{path}', 'post', () => t.api('/api/v1/mkdir/nope/d', { method: 'POST' })],
      ['/api/v1/copy', 'post', () => t.api('/api/v1/copy', json({ from: '/s/hi.txt', to: '/s/hi2.txt' }))],
      ['/api/v1/move', 'post', () => t.api('/api/v1/move', json({ from: '/s/nope', to: '/s/x' }))],
      ['/api/v1/move', 'post', () => t.api('/api/v1/move', json({ to: '/s/x' }))],
      ['/api/v1/files/{path}', 'delete', () => t.api('/api/v1/files/s/hi2.txt', { method: 'DELETE' })],
      ['/api/v1/files/{path}', 'delete', () => t.api('/api/v1/files/s/hi2.txt', { method: 'DELETE' })],
      ['/api/v1/files/{path}', 'delete', () => t.api('/api/v1/files/s', { method: 'DELETE' })],
      ['/api/v1/stat/{path}', 'get', () => t.api('/api/v1/stat/s/nope')],
      ['/api/v1/list/{path}', 'get', () => t.api('/api/v1/list/s', { token: 'ferry_0000000000000000_wrong' })],
      ['/api/v1/chunks/{hash}', 'get', () => t.api(`/api/v1/chunks/${'0'.repeat(64)}`)],
      ['/api/v1/chunks/{hash}', 'get', () => t.api('/api/v1/chunks/xyz')],
      ['/api/v1/zip/{path}', 'get', () => t.api('/api/v1/zip/s')],
      ['/api/v1/uploads', 'post', () => t.api('/api/v1/uploads', json({ path: '/s/u.txt', size: 3 }))],
      ['/api/v1/uploads/{id}/chunks/{hash}', 'put', async () => {
        const hash = createHash('sha256').update('hello').digest('hex');
        const { id } = (await (await t.api('/api/v1/uploads', json({ path: '/s/h.txt', size: 5, chunks: [{ hash, size: 5 }] }))).json()) as { id: string };
        return t.api(`/api/v1/uploads/${id}/chunks/${hash}`, { method: 'PUT', body: 'hellx', headers: { 'content-type': 'application/octet-stream' } });
      }],
      ['/api/v1/users', 'post', () => t.api('/api/v1/users', json({ name: 'zed' }))],
      ['/api/v1/users', 'post', () => t.api('/api/v1/users', json({ name: 'zed' }))],
      ['/api/v1/users/{name}/password', 'put', () => t.api('/api/v1/users/zed/password', { method: 'PUT', json: { password: 'long enough password' } })],
      ['/api/v1/users/{name}', 'delete', () => t.api('/api/v1/users/zed', { method: 'DELETE' })],
      ['/api/v1/users/{name}', 'delete', () => t.api('/api/v1/users/zed', { method: 'DELETE' })],
      ['/api/v1/tokens/{id}', 'delete', () => t.api('/api/v1/tokens/0000000000000000', { method: 'DELETE' })],
      ['/api/v1/shares/{id}', 'delete', () => t.api('/api/v1/shares/sh_0000000000000000', { method: 'DELETE' })],
      ['/api/v1/admin/bans/{ip}', 'delete', () => t.api('/api/v1/admin/bans/192.0.2.1', { method: 'DELETE' })],
      ['/api/v1/admin/webhooks/{id}', 'delete', () => t.api('/api/v1/admin/webhooks/wh_0', { method: 'DELETE' })],
      ['/api/v1/admin/uploads/{id}', 'delete', () => t.api('/api/v1/admin/uploads/nope', { method: 'DELETE' })],
      ['/api/v1/trash/restore', 'post', () => t.api('/api/v1/trash/restore', json({ id: 9999 }))],
      ['/api/v1/tus', 'options', () => t.api('/api/v1/tus', { method: 'OPTIONS', token: null })],
      ['/api/v1/tus', 'post', () => t.api('/api/v1/tus', { method: 'POST', headers: { 'tus-resumable': '1.0.0', 'upload-length': '3', 'upload-metadata': `filename ${btoa('tus.txt')}` } })],
      ['/api/v1/tus/{id}', 'delete', () => t.api('/api/v1/tus/nope', { method: 'DELETE', headers: { 'tus-resumable': '1.0.0' } })],
      ['/api/v1/auth/login', 'post', () => t.api('/api/v1/auth/login', { ...json({ user: 'admin', password: 'not the password' }), token: null })],
      ['/metrics', 'get', () => t.api('/metrics', { token: null })],
    ];
    const undocumented: string[] = [];
    const seen = new Set<number>();
    for (const [path, method, call] of calls) {
      const res = await call();
      await res.arrayBuffer();
      seen.add(res.status);
      if (!documents(path, method, res.status)) undocumented.push(`${method.toUpperCase()} ${path}: ${res.status}`);
    }
    expect(undocumented).toEqual([]);
    // The table reached every kind of answer it is there to check.
    expect([...seen].sort()).toEqual(expect.arrayContaining([200, 201, 204, 206, 400, 401, 404, 409, 416]));
  });

  it('a status no route answers is not documented (the check can fail)', () => {
    expect(documents('/api/v1/files/{path}', 'delete', 204)).toBe(true);
    expect(documents('/api/v1/files/{path}', 'delete', 200)).toBe(false);
    expect(documents('/healthz', 'get', 404)).toBe(false);
  });

  it("documents the versions list's policy (versioning off vs no versions yet), as the server answers it", async () => {
    type Schema = { properties?: Record<string, Schema>; type?: string };
    const op = doc.paths['/api/v1/versions/{path}'].get as { responses?: Record<string, { content?: Record<string, { schema?: Schema }> }> };
    const schema = op.responses?.['200']?.content?.['application/json']?.schema;
    expect(Object.keys(schema?.properties ?? {})).toEqual(['path', 'versions', 'policy', 'next']);
    expect(Object.keys(schema?.properties?.policy?.properties ?? {})).toEqual(['enabled', 'keep', 'days']);
    expect(schema?.properties?.policy?.properties?.enabled?.type).toBe('boolean');
    expect((await t.api('/api/v1/files/openapi-versions.txt', { method: 'PUT', body: 'x' })).status).toBeLessThan(300);
    const answer = (await (await t.api('/api/v1/versions/openapi-versions.txt')).json()) as Record<string, unknown>;
    expect(Object.keys(answer)).toEqual(['path', 'versions', 'policy']);
    expect(answer.policy).toEqual({ enabled: false, keep: 0, days: 0 });
  });

  it('every operation documents a success, and every API route the error format', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const codes = Object.keys((op as { responses?: Record<string, unknown> }).responses ?? {});
        expect(codes.some((c) => c.startsWith('2')), `${method} ${path}`).toBe(true);
        if (path.startsWith('/api/') || path === '/metrics') expect(codes, `${method} ${path}`).toEqual(expect.arrayContaining(['4XX', '5XX']));
      }
    }
  });
});

describe('requests that violate their schema', () => {
  const expectValidation = async (res: Response, mentions: string) => {
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('FERRY_ERR_VALIDATION');
    expect(body.error.message).toContain(mentions);
  };

  it('get 400 with FERRY_ERR_VALIDATION in the error format', async () => {
    await expectValidation(await t.api('/api/v1/move', { method: 'POST', json: { from: 5, to: '/x' } }), 'body/from must be string');
    await expectValidation(await t.api('/api/v1/move', { method: 'POST', json: { to: '/x' } }), "must have required property 'from'");
    await expectValidation(await t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url: 'http://127.0.0.1:2/', events: ['explode'] } }), 'body/events/0');
    await expectValidation(await t.api('/api/v1/list/?limit=many'), 'querystring/limit must match pattern');
    await expectValidation(await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/a', size: -1 } }), 'body/size');
    await expectValidation(await t.api('/api/v1/auth/login', { method: 'POST', json: { user: 'x', password: 1 }, token: null }), 'body/password must be string');
    await expectValidation(await t.api('/api/v1/docs/evil.js', { token: null }), 'params/asset');
  });

  it('a valid request passes the schema (optional bodies may be absent)', async () => {
    expect((await t.api('/api/v1/admin/gc', { method: 'POST' })).status).toBe(200);
    expect((await t.api('/api/v1/mkdir/dir', { method: 'POST' })).status).toBe(201);
    expect((await t.api('/api/v1/move', { method: 'POST', json: { from: '/dir', to: '/dir2' } })).status).toBe(200);
  });
});

describe('the reference page', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('renders every operation in Chromium, self-hosted, with no CSP violation', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    const res = await page.goto(`${t.url}/api/v1/docs`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.waitForSelector('body[data-ready]');
    const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    expect(await page.getAttribute('body', 'data-ready')).toBe(String(operations));
    expect(await page.locator('summary', { hasText: '/api/v1/uploads/{id}/commit' }).count()).toBe(1);
    await page.fill('#filter', 'webhook');
    expect(await page.locator('details:not([hidden])').count()).toBe(Object.keys(ROUTE_SPECS).filter((k) => k.includes('webhook')).length);
    expect(problems).toEqual([]);
    // Nothing from another origin.
    expect(requests.every((u) => u.startsWith(t.url))).toBe(true);
    await page.close();
  });
});
