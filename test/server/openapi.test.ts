/**
 * The API description: an OpenAPI 3.1 document generated from the schemas that validate
 * requests, covering every registered route; schema violations answered with 400
 * FERRY_ERR_VALIDATION in Ferry's error format; the reference page in real Chromium under
 * its Content-Security-Policy.
 */
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
    expect(all.length - endpoints.length).toBe(24); // 12 methods on /dav and on /dav/*
    for (const e of all.filter((x) => !endpoints.includes(x))) expect(doc.paths[openapiKey(e)[0]], e).toBeUndefined();
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
    await expectValidation(await t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url: 'http://127.0.0.1:9/', events: ['explode'] } }), 'body/events/0');
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
