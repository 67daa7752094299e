/**
 * docs/protocol.md read as a client author reads it: every route it names is one the server
 * serves, every route the server serves is named there (WebDAV's methods in its table), its
 * error table gives each code the status the server answers it with, and every
 * FERRY_ERR_ code README.md or docs/ name exists. Parsed from the documents themselves, so a
 * route added, removed or renamed on either side fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, type FerryErrorCode } from '../../src/core/errors.js';
import { statusOf } from '../../src/server/http-errors.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const root = join(import.meta.dirname, '..', '..');
const protocol = readFileSync(join(root, 'docs', 'protocol.md'), 'utf8');

let t: TestServer;
let served: Set<string>;
beforeAll(async () => {
  t = await startTestServer();
  served = new Set(t.server.ctx.endpoints.map((e) => normalize(e, false)));
});
afterAll(async () => {
  await t?.close();
});

const METHODS = 'GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|PROPFIND';
/** Paths the document names without the `/api/v1` base (`GET /chunks/:hash`). */
const UNPREFIXED = /^\/(api\/|s\/|dav\b|assets\/|\*$|healthz$|readyz$|metrics$|$)/;

/**
 * `GET /api/v1/files/*` and the document's `GET /api/v1/files/*path?x=1`, `/s/<key>/<path>`,
 * `/api/v1/tus/` the same way: named parameters as `:name`, a wildcard as `*`, no query,
 * no trailing slash; the web app's `/assets/*` is its route `GET /*`.
 */
function normalize(endpoint: string, fromDoc = true): string {
  const [method, raw] = endpoint.split(' ');
  let path = raw
    .replace(/[?[].*$/, '')
    .replace(/…$/, '')
    .replace(/<([a-z]+)>/g, ':$1')
    .replace(/\*[a-z]*$/, '*')
    .replace(/^\/s\/:key\/:[a-z]+$/, '/s/:key/*');
  if (fromDoc && !UNPREFIXED.test(path)) path = '/api/v1' + path;
  if (fromDoc) path = path.replace(/^\/assets\/\*$/, '/*');
  if (path.length > 1) path = path.replace(/\/$/, '');
  return `${method} ${path}`;
}

/**
 * The routes the document names: each code span `METHOD[|METHOD] /path`, a bare path span
 * right after one in the same list (`OPTIONS /api/v1/tus`, `/api/v1/tus/`), and a route's
 * root form (`` (`/api/v1/list` for the root) ``).
 */
function documentedRoutes(text: string): Set<string> {
  const routes = new Set<string>();
  for (const line of text.split('\n')) {
    let methods: string[] = [];
    let end = 0;
    for (const m of line.matchAll(/`([^`]+)`/g)) {
      const span = m[1];
      const between = line.slice(end, m.index);
      end = m.index + m[0].length;
      const route = new RegExp(`^((?:${METHODS})(?:\\|(?:${METHODS}))*) (/\\S*)`).exec(span);
      if (route) {
        methods = route[1].split('|');
        for (const method of methods) routes.add(normalize(`${method} ${route[2]}`));
      } else if (/^\/\S*$/.test(span) && methods.length > 0 && /^(, |\s*\(or |\s*\()$/.test(between)) {
        for (const method of methods) routes.add(normalize(`${method} ${span}`));
      } else {
        methods = [];
      }
    }
  }
  return routes;
}

/** The WebDAV section's table: its method column, for `/dav` and `/dav/*`. */
function davRoutes(text: string): Set<string> {
  const start = text.indexOf('\n## WebDAV');
  const section = text.slice(start, text.indexOf('\n## ', start + 1));
  const routes = new Set<string>();
  for (const row of section.split('\n').filter((l) => /^\| [A-Z]/.test(l) && !l.startsWith('| method'))) {
    for (const method of row.split('|')[1].split(',').map((w) => w.trim()))
      for (const path of ['/dav', '/dav/*']) routes.add(`${method} ${path}`);
  }
  return routes;
}

describe('docs/protocol.md and the server name the same routes', () => {
  it('the parser reads the document as written (so the comparisons below can fail)', () => {
    const routes = documentedRoutes(protocol);
    expect(routes.size).toBeGreaterThan(80);
    expect(routes).toContain('GET /api/v1/files/*');
    expect(routes).toContain('HEAD /s/:key/*');
    expect(routes).toContain('GET /api/v1/chunks/:hash');
    expect(routes).toContain('OPTIONS /api/v1/tus/:id');
    expect(routes).toContain('GET /api/v1/list');
    expect(documentedRoutes('- `PATCH /api/v1/nowhere/:id` → `204`')).toEqual(new Set(['PATCH /api/v1/nowhere/:id']));
    expect(davRoutes(protocol)).toContain('PROPFIND /dav/*');
  });

  it('every route the document names is served', () => {
    const documented = [...documentedRoutes(protocol), ...davRoutes(protocol)];
    expect(documented.filter((r) => !served.has(r))).toEqual([]);
  });

  it('every route the server serves is in the document', () => {
    const documented = new Set([...documentedRoutes(protocol), ...davRoutes(protocol)]);
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
  });
});

describe('the error table of docs/protocol.md', () => {
  /** Each row's codes (`FERRY_ERR_A, _B (note)`) with its statuses. */
  const rows = protocol
    .split('\n')
    .filter((l) => l.startsWith('| FERRY_ERR_'))
    .map((l) => {
      const [codes, status] = l.split('|').slice(1, 3);
      const names = [...codes.replace(/\([^)]*\)/g, '').matchAll(/(FERRY_ERR)?(_[A-Z0-9_]+)/g)].map((m) => `FERRY_ERR${m[2]}`);
      return { line: l, names, statuses: [...status.matchAll(/\b([1-5]\d\d)\b/g)].map((m) => Number(m[1])) };
    });

  it('lists codes that exist, each once', () => {
    const names = rows.flatMap((r) => r.names);
    expect(names.length).toBeGreaterThan(40);
    expect(names.filter((n) => !(n in ERROR_CODES))).toEqual([]);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it("gives each code the status the server answers it with", () => {
    const wrong = rows.flatMap((r) => r.names.filter((n) => !r.statuses.includes(statusOf(n as FerryErrorCode))).map((n) => `${n}: ${r.line}`));
    expect(wrong).toEqual([]);
  });
});

const documents = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

it('every FERRY_ERR_ code README.md and docs/ name is one Ferry has', () => {
  const unknown: string[] = [];
  for (const file of documents) {
    const text = readFileSync(join(root, file), 'utf8');
    // `FERRY_ERR_CRYPTO_*` names a family; a whole code ends at a character that is not part of one.
    for (const m of text.matchAll(/FERRY_ERR_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])/g)) if (!(m[0] in ERROR_CODES)) unknown.push(`${file}: ${m[0]}`);
  }
  expect(unknown).toEqual([]);
});

it('every "STATUS FERRY_ERR_CODE" README.md and docs/ write gives the code the status the server answers it with', () => {
  // The two a connection's own refusals answer, whatever the code's usual status (docs/protocol.md says so).
  const exceptions = new Set(['408 FERRY_ERR_TIMEOUT', '431 FERRY_ERR_PAYLOAD_TOO_LARGE']);
  const wrong: string[] = [];
  let pairs = 0;
  for (const file of documents) {
    const text = readFileSync(join(root, file), 'utf8').replace(/\s+/g, ' ');
    for (const m of text.matchAll(/\b([1-5]\d\d)`? `?\(?`?(FERRY_ERR_[A-Z0-9_]+)/g)) {
      pairs++;
      if (!exceptions.has(`${m[1]} ${m[2]}`) && statusOf(m[2] as FerryErrorCode) !== Number(m[1])) wrong.push(`${file}: ${m[0]} (the server: ${statusOf(m[2] as FerryErrorCode)})`);
    }
  }
  expect(wrong).toEqual([]);
  expect(pairs).toBeGreaterThan(100); // 123 when written
  expect(statusOf('FERRY_ERR_NOT_FOUND')).toBe(404); // the check can fail: "403 FERRY_ERR_NOT_FOUND" would be caught
});

it('every FERRY_ERR_ code the OpenAPI document names is one Ferry has', async () => {
  const text = await (await t.api('/api/v1/openapi.json', { token: null })).text();
  const named = [...new Set([...text.matchAll(/FERRY_ERR_[A-Z0-9_]+/g)].map((m) => m[0]))];
  expect(named.length).toBeGreaterThan(0);
  expect(named.filter((c) => !(c in ERROR_CODES))).toEqual([]);
});

it('every metric README.md and docs/ name is one /metrics serves, and every feature is in the capabilities', async () => {
  // By its `# TYPE` line: a counter with labels has no sample before it first counts.
  const served = new Set([...(await (await t.api('/metrics')).text()).matchAll(/^(?:# TYPE )?(ferry_[a-z0-9_]+)/gm)].map((m) => m[1]));
  expect(served.size).toBeGreaterThan(30);
  const unknown: string[] = [];
  for (const file of documents) {
    const text = readFileSync(join(root, file), 'utf8');
    // `ferry_storage_*` and `ferry_process_*` name families: a prefix some metric has.
    for (const m of text.matchAll(/\bferry_[a-z][a-z0-9_]*(\*)?/g)) {
      const name = m[0].replace(/\*$/, '');
      const known = name.endsWith('_') ? [...served].some((s) => s.startsWith(name)) : served.has(name) || served.has(`${name}_total`);
      if (!known) unknown.push(`${file}: ${m[0]}`);
    }
  }
  // Not metrics: the share-unlock cookie and the refresh token's prefix.
  expect(unknown.filter((u) => !/: ferry_(share|refresh)$/.test(u))).toEqual([]);

  const capabilities = (await (await t.api('/api/v1/capabilities', { token: null })).json()) as { features: string[] };
  const bullet = protocol.slice(protocol.indexOf('- `GET /api/v1/capabilities`'), protocol.indexOf('- `GET /metrics`'));
  const named = [...bullet.matchAll(/`([a-z][a-z0-9-]+)`/g)].map((m) => m[1]).filter((w) => w.includes('-') || w === 'zstd');
  expect(named.length).toBeGreaterThan(6);
  expect(named.filter((f) => !capabilities.features.includes(f))).toEqual([]);
});
