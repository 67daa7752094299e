/**
 * `ferry serve` (the bundle bin/ferry.js runs) leaves its rarely used parts unloaded at
 * start-up: the OpenAPI document's generator (@fastify/swagger, yaml), the WebDAV handlers
 * and their XML parser, zip archives (yazl), multipart forms (busboy), Fastify's default
 * schema compilers (@fastify/ajv-compiler, fast-json-stringify) and ajv itself, the PostgreSQL
 * driver, the AWS SDK, the SFTP front (ssh2), the `bindings` package (better-sqlite3's
 * addon is opened by its path: src/store/meta-store.ts, sqliteAddon), and without TLS Node's TLS, HTTPS and HTTP/2
 * modules. Then each lazily loaded door answers correctly on its first use, also when
 * its first requests arrive together, and its modules are then loaded; a TLS server loads
 * and serves HTTP/2 and HTTP/1.1. Once ready, the server sizes V8's heap for idling, and
 * V8 grows it again for uploads. Loaded modules are
 * recorded by a preload hook (ES modules and CommonJS); bundle files are mapped back to the
 * modules they hold by dist/bundle/chunks.json (written by scripts/bundle.mjs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRouteSchemaTable } from '../../src/server/api-schemas.js';
import { hits, modulesOf } from '../helpers/bundle-modules.js';
import { startTestServer } from '../helpers/in-process-server.js';
import { tail, within, type Watched } from '../helpers/served-state.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const startFlags = createRequire(import.meta.url)('../../bin/serve-start.js') as { SERVE_BUILTINS: string[] };
const TOKEN = 'start-test-Qz7kLm2pR9vW4tY6uB1nC3eD5fG8hJ0x';

/** What each lazy door loads: a module path fragment (bundle input or node_modules file). */
const LAZY: Record<string, string[]> = {
  openapi: ['node_modules/@fastify/swagger/', 'node_modules/yaml/', 'dist/src/server/openapi-document.js'],
  webdav: ['dist/src/server/dav/handlers.js', 'dist/src/server/dav/propfind.js', 'node_modules/fast-xml-parser/'],
  zip: ['node_modules/yazl/'],
  forms: ['node_modules/busboy/'],
};
/** Not loaded at start-up: ajv is loaded by the first request that has a schema to check. */
const NOT_AT_START = ['node_modules/ajv/'];
/** Never loaded by a default start, nor by the requests below. */
/** Node's TLS stack: required by Fastify and prom-client at their top, loaded by a TLS server only (scripts/bundle.mjs). */
const TLS_BUILTINS = ['builtin:tls', 'builtin:_tls_wrap', 'builtin:https', 'builtin:http2'];
/** The route schemas are read from the JSON the build wrote (src/server/route-schemas.ts), not built with TypeBox. */
const NEVER = ['node_modules/@sinclair/typebox/', 'dist/src/server/api-schemas.js', 'node_modules/bindings/', 'node_modules/@fastify/ajv-compiler/', 'node_modules/fast-json-stringify/index.js', 'node_modules/@fastify/fast-json-stringify-compiler/', 'node_modules/pg/', 'node_modules/ssh2/', '@aws-sdk/', 'dist/src/server/sftp/ssh-server.js', 'dist/src/server/sftp/sftp-session.js'];


interface Started {
  child: ChildProcess;
  url: string;
  /** Every line of stdout so far, the ready line included. */
  lines: string[];
  /** The first line of stdout (JSON logs) that contains `text`, once printed (`ms` at most: then a failure naming `phase`). */
  line(text: string, phase?: string, ms?: number): Promise<string>;
  /** SIGTERM, and its exit awaited (`ms` at most: then a failure naming `phase`, and SIGKILL). */
  stop(phase?: string, ms?: number): Promise<string[]>;
  /** `work` within `ms`, or a failure naming `phase`, the server's state and its output's tail (./helpers/served-state.ts). */
  within<T>(phase: string, ms: number, work: () => Promise<T>): Promise<T>;
}

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  // A test that failed half-way leaves no server behind.
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Each wait on a started server (its ready line, a log line, its exit) fails after this, well within a test's timeout. */
const WAIT_MS = 20_000;

/** `ferry serve` on a new data directory with `args` (and `node.args` for node); stop() returns what the process loaded (record-loads.mjs, unless `node.recordLoads` is false). */
async function start(args: string[] = [], preload?: { file: string; env: NodeJS.ProcessEnv }, node: { args?: string[]; recordLoads?: boolean } = {}): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-start-'));
  dirs.push(dir);
  const record = join(dir, 'loaded.txt');
  const env: NodeJS.ProcessEnv = { ...process.env, FERRY_ADMIN_TOKEN: TOKEN, RECORD_LOADS_TO: record, ...preload?.env };
  for (const k of Object.keys(env)) if (k.startsWith('FERRY_') && k !== 'FERRY_ADMIN_TOKEN') delete env[k];
  const recordLoads = node.recordLoads ?? true;
  const preloads = [...(recordLoads ? ['--import', join(root, 'test/helpers/record-loads.mjs')] : []), ...(preload ? ['--import', preload.file] : [])];
  const child = spawn(process.execPath, [...(node.args ?? []), ...preloads, join(root, 'bin/ferry.js'), 'serve', '--addr', '127.0.0.1:0', '--data', join(dir, 'data'), ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const errors = tail();
  child.stderr!.on('data', (d: Buffer) => errors.add(d.toString()));
  const lines: string[] = [];
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (l) => lines.push(l));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const watched: Watched = { child, output: () => `stdout: ${lines.slice(-15).join('\n')}\nstderr: ${errors.text()}` };
  const line = (text: string, phase = `waiting for a line with ${text}`, ms = WAIT_MS): Promise<string> =>
    within(watched, phase, ms, async () => {
      const found = lines.find((l) => l.includes(text));
      if (found !== undefined) return found;
      let onLine = (_l: string): void => {};
      const printed = new Promise<string>((resolve) => {
        onLine = (l) => {
          if (l.includes(text)) resolve(l);
        };
        rl.on('line', onLine);
      });
      const ended = exited.then(() => Promise.reject(new Error(`ferry serve ended before printing ${text}`)));
      return Promise.race([printed, ended]).finally(() => rl.off('line', onLine));
    });
  // With V8's traces on, a trace line V8 had half written through C's stdio (buffered apart
  // from Node's writes to the same descriptor) can come before the ready line on its line.
  const readyLine = await line('{"event":"ready"', 'start (waiting for the ready line)');
  watched.url = (JSON.parse(readyLine.slice(readyLine.indexOf('{"event":"ready"'))) as { url: string }).url;
  return {
    child,
    url: watched.url,
    lines,
    line,
    within: (phase, ms, work) => within(watched, phase, ms, work),
    stop: async (phase = 'stop (SIGTERM, waiting for the exit)', ms = WAIT_MS) => {
      child.kill('SIGTERM');
      try {
        await within(watched, phase, ms, exited);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      return recordLoads ? readFileSync(record, 'utf8').split('\n').filter(Boolean) : [];
    },
  };
}

const auth = { authorization: `Bearer ${TOKEN}` };

describe('the route schemas built as JSON (scripts/route-schemas.mjs)', () => {
  it('are the TypeBox schemas of the sources, the optional bodies listed', () => {
    const built = JSON.parse(readFileSync(join(root, 'dist/bundle/route-schemas.json'), 'utf8')) as unknown;
    const sources = buildRouteSchemaTable();
    expect(built).toEqual(sources);
    expect(sources.optionalBodies).toContain('POST /api/v1/admin/gc');
    expect(sources.optionalBodies).not.toContain('POST /api/v1/uploads');
    expect(Object.keys(sources.schemas).length).toBeGreaterThan(60);
  });
});

describe('ferry serve start-up (bundle)', () => {
  it('loads no lazy door at start-up, and none but the server it needs', async () => {
    const s = await start();
    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(200);
    const loaded = await s.stop();
    const modules = modulesOf(loaded);
    expect(modules).toContain('dist/src/server/app.js'); // the recorder and the chunk map work
    expect(modules.some((m) => m.includes('node_modules/fastify/'))).toBe(true);
    expect(hits(modules, [...Object.values(LAZY).flat(), ...NOT_AT_START, ...NEVER])).toEqual([]);
    expect(loaded).toContain('builtin:http'); // built-ins are recorded
    expect(loaded.filter((m) => TLS_BUILTINS.includes(m))).toEqual([]);
    expect(loaded).not.toContain('builtin:readline'); // the CLI's prompts load it when they ask (src/cli/prompt.ts)
  });

  it('loads, before it turns V8\'s compilers off, every public built-in module it loads until ready (bin/serve-start.js)', async () => {
    const s = await start(['--log-level', 'debug']);
    await s.line('heap settled after start');
    const loaded = await s.stop();
    const publicBuiltins = loaded.filter((m) => m.startsWith('builtin:') && !m.includes('internal/') && !m.startsWith('builtin:_')).map((m) => m.slice('builtin:'.length));
    // What Node loads by itself before bin/ferry.js runs (the recorder's own imports included).
    const bare = join(mkdtempSync(join(tmpdir(), 'ferry-bare-')), 'loaded.txt');
    dirs.push(dirname(bare));
    await new Promise((resolve) => spawn(process.execPath, ['--import', join(root, 'test/helpers/record-loads.mjs'), '-e', ''], { env: { ...process.env, RECORD_LOADS_TO: bare }, stdio: 'ignore' }).once('exit', resolve));
    const byNode = new Set(readFileSync(bare, 'utf8').split('\n').filter((m) => m.startsWith('builtin:')).map((m) => m.slice('builtin:'.length)));
    // node:inspector is loaded by the collection after the ready line (settleHeapAfterStart).
    const afterReady = ['inspector'];
    const listed = startFlags.SERVE_BUILTINS;
    expect(publicBuiltins.filter((m) => !byNode.has(m) && !afterReady.includes(m) && !listed.includes(m))).toEqual([]);
    // Nothing listed that a start would not load anyway: the list costs no memory.
    expect(listed.filter((m) => !publicBuiltins.includes(m))).toEqual([]);
  });

  it("starts with TurboFan and Sparkplug off, turns them on once ready, and leaves them alone when node's command line chose", async () => {
    const compiled = (lines: string[], target: string) => lines.filter((l) => l.startsWith('[completed') && l.includes(`(target ${target})`)).length;
    const beforeReady = (s: Started) => s.lines.slice(0, s.lines.findIndex((l) => l.includes('"event":"ready"')));
    const trace = ['--trace-opt', '--trace-baseline'];
    // Without the recorder: its hooks make Node's loader run hot code before bin/ferry.js runs.
    const s = await start([], undefined, { args: trace, recordLoads: false });
    const atStart = beforeReady(s);
    expect(compiled(atStart, 'TURBOFAN')).toBe(0);
    // Traffic makes functions hot: both compilers are back on (polled: V8 decides when).
    // Each round has its own deadline, and all of them one (a server that stops answering, or
    // one so slow that the test would time out, fails here, named).
    const trafficUntil = Date.now() + 90_000;
    for (let round = 0; round < 50 && (compiled(s.lines, 'TURBOFAN') === 0 || compiled(s.lines.slice(atStart.length), 'BASELINE') === 0); round++) {
      await s.within(`traffic, round ${round + 1} of at most 50 (20 GET /api/v1/capabilities; 90 s for all rounds)`, Math.max(0, Math.min(20_000, trafficUntil - Date.now())), () =>
        Promise.all(Array.from({ length: 20 }, async () => (await fetch(`${s.url}/api/v1/capabilities`, { headers: auth, signal: AbortSignal.timeout(15_000) })).arrayBuffer())),
      );
    }
    expect(compiled(s.lines, 'TURBOFAN')).toBeGreaterThan(0);
    expect(compiled(s.lines.slice(atStart.length), 'BASELINE')).toBeGreaterThan(0);
    await s.stop('stop of the first server (SIGTERM, waiting for the exit)');
    // Node started with the compilers named: the start leaves them on (and would leave --jitless alone).
    const chosen = await start([], undefined, { args: [...trace, '--opt', '--sparkplug'], recordLoads: false });
    const chosenAtStart = beforeReady(chosen);
    await chosen.stop('stop of the second server, with --opt --sparkplug (SIGTERM, waiting for the exit)');
    expect(compiled(chosenAtStart, 'TURBOFAN')).toBeGreaterThan(0);
    // Sparkplug off: what compiles before the ready line is Node's own bootstrap, before bin/ferry.js.
    expect(compiled(atStart, 'BASELINE') * 5).toBeLessThan(compiled(chosenAtStart, 'BASELINE'));
  }, 180_000); // two traced servers and up to 1,000 requests: 60 s ran out at a load of 15

  it('a TLS server loads the TLS stack and answers HTTP/2 and HTTP/1.1 on their first requests', async () => {
    const s = await start(['--tls-self-signed']);
    expect(s.url.startsWith('https://')).toBe(true);
    const { hostname, port } = new URL(s.url);
    // Node's https client offers no ALPN: the server falls back to HTTP/1.1.
    const h1 = await new Promise<{ status: number; version: string }>((resolve, reject) => {
      const req = httpsRequest({ host: hostname, port: Number(port), path: '/healthz', rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, version: res.httpVersion });
      });
      req.on('error', reject).end();
    });
    expect(h1).toEqual({ status: 200, version: '1.1' });
    const session = http2Connect(s.url, { rejectUnauthorized: false });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':path': '/healthz' });
        stream.on('response', (headers) => resolve(Number(headers[':status']))).on('error', reject).resume();
      });
      expect(status).toBe(200);
      expect(session.alpnProtocol).toBe('h2');
    } finally {
      session.close();
    }
    const loaded = await s.stop();
    // Ferry's HTTPS is Fastify's HTTP/2 server with HTTP/1.1 allowed: node:https is not needed.
    expect(loaded.filter((m) => TLS_BUILTINS.includes(m)).sort()).toEqual(['builtin:_tls_wrap', 'builtin:http2', 'builtin:tls']);
  });

  it('sizes its heap for idling once ready (the young generation back to its initial size), and grows it again for uploads', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ferry-heap-spaces-')), 'spaces.txt');
    dirs.push(dirname(file));
    const s = await start(['--log-level', 'debug'], { file: join(root, 'test/helpers/heap-spaces.mjs'), env: { HEAP_SPACES_TO: file } });
    const sizes = async (): Promise<{ atStart: number; now: number }> => {
      const before = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
      s.child.kill('SIGUSR2');
      return s.within('the heap spaces after SIGUSR2 (test/helpers/heap-spaces.mjs)', WAIT_MS, async () => {
        for (const until = Date.now() + WAIT_MS; Date.now() < until; ) {
          const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
          if (lines.length > before) return JSON.parse(lines.at(-1)!) as { atStart: number; now: number };
          await new Promise((r) => setTimeout(r, 20));
        }
        throw new Error('no new line');
      });
    };
    const settled = JSON.parse(await s.line('heap settled after start')) as { err?: unknown; rssBefore: number; rssAfter: number };
    expect(settled.err).toBeUndefined();
    expect(settled.rssAfter).toBeLessThan(settled.rssBefore);
    // V8's initial young generation (1 MB semi-spaces); it had grown to 8 MB ones by the ready line.
    const idle = await sizes();
    expect(idle.atStart).toBeGreaterThan(0);
    expect(idle.now).toBeLessThanOrEqual(idle.atStart);
    const body = Buffer.alloc(50 << 20, 7);
    for (const name of ['a', 'b']) {
      const put = await fetch(`${s.url}/api/v1/files/young/${name}.bin`, { method: 'PUT', headers: auth, body });
      expect(put.status).toBe(201);
    }
    // Nothing is pinned: V8 grew it again for the uploads.
    expect((await sizes()).now).toBeGreaterThan(idle.now);
    await s.stop();
  });

  it('serves each lazy door right on its first use, concurrent first requests included', async () => {
    const s = await start();
    // A folder with a file, through the native API (not a lazy door).
    const put = await fetch(`${s.url}/api/v1/files/docs/a.txt`, { method: 'PUT', headers: auth, body: 'hello zip' });
    expect(put.status).toBe(201);
    const [doc1, doc2] = await Promise.all([fetch(`${s.url}/api/v1/openapi.json`), fetch(`${s.url}/api/v1/openapi.json`)]);
    const [text1, text2] = [await doc1.text(), await doc2.text()];
    expect([doc1.status, doc2.status]).toEqual([200, 200]);
    expect(text1).toBe(text2);
    const doc = JSON.parse(text1) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/api/v1/files/{path}');
    // Made from the built JSON (dist/bundle/route-schemas.json), byte for byte the document a
    // server running from the sources makes from the TypeBox schemas (src/server/api-schemas.ts).
    const fromSources = await startTestServer();
    try {
      const res = await fromSources.api('/api/v1/openapi.json', { token: null });
      expect(res.status).toBe(200);
      expect(text1).toBe(await res.text());
    } finally {
      await fromSources.close();
    }
    // A body marked optional travels beside the JSON: POST /admin/gc without one is accepted,
    // a wrong one still refused by the schema.
    const gc = await fetch(`${s.url}/api/v1/admin/gc`, { method: 'POST', headers: auth });
    expect(gc.status).toBe(200);
    const badGc = await fetch(`${s.url}/api/v1/admin/gc`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"graceSeconds":"soon"}' });
    expect(badGc.status).toBe(400);
    expect(((await badGc.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_VALIDATION');
    // Two PROPFINDs at once, each the first WebDAV request of this process.
    const propfind = () => fetch(`${s.url}/dav/docs/`, { method: 'PROPFIND', headers: { ...auth, depth: '1' } });
    const [p1, p2] = await Promise.all([propfind(), propfind()]);
    expect([p1.status, p2.status]).toEqual([207, 207]);
    for (const body of [await p1.text(), await p2.text()]) expect(body).toContain('/dav/docs/a.txt');
    const zip = await fetch(`${s.url}/api/v1/zip/docs`, { headers: auth });
    expect(zip.status).toBe(200);
    const bytes = Buffer.from(await zip.arrayBuffer());
    expect(bytes.subarray(0, 4).toString('hex')).toBe('504b0304'); // a zip's first local header
    expect(bytes.includes(Buffer.from('hello zip'))).toBe(true); // stored, not deflated
    const form = new FormData();
    form.append('file', new Blob(['from a form']), 'b.txt');
    const posted = await fetch(`${s.url}/api/v1/files/docs`, { method: 'POST', headers: auth, body: form });
    expect(posted.status).toBe(201);
    const back = await fetch(`${s.url}/api/v1/files/docs/b.txt`, { headers: auth });
    expect(await back.text()).toBe('from a form');
    // Node's default metrics join the registry on the first scrape (not at start-up).
    const scrape = await fetch(`${s.url}/metrics`, { headers: auth });
    expect(scrape.status).toBe(200);
    const metrics = await scrape.text();
    for (const name of ['ferry_process_cpu_user_seconds_total', 'ferry_nodejs_eventloop_lag_seconds', 'ferry_http_requests_total']) expect(metrics).toContain(`# HELP ${name} `);
    const modules = modulesOf(await s.stop());
    for (const [door, fragments] of Object.entries(LAZY)) expect({ door, loaded: hits(modules, fragments).length > 0 }).toEqual({ door, loaded: true });
    expect(hits(modules, NEVER)).toEqual([]);
  });
});
