/**
 * `ferry serve` (the bundle bin/ferry.js runs) leaves its rarely used parts unloaded at
 * start-up: the OpenAPI document's generator (@fastify/swagger, yaml), the WebDAV handlers
 * and their XML parser, zip archives (yazl), multipart forms (busboy), Fastify's default
 * schema compilers (@fastify/ajv-compiler, fast-json-stringify) and ajv itself, the PostgreSQL
 * driver, the AWS SDK, the SFTP front (ssh2). Then each lazily loaded door answers correctly on its first use, also when
 * its first requests arrive together, and its modules are then loaded. Loaded modules are
 * recorded by a preload hook (ES modules and CommonJS); bundle files are mapped back to the
 * modules they hold by dist/bundle/chunks.json (written by scripts/bundle.mjs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { hits, modulesOf } from '../helpers/bundle-modules.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
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
const NEVER = ['node_modules/@fastify/ajv-compiler/', 'node_modules/fast-json-stringify/index.js', 'node_modules/@fastify/fast-json-stringify-compiler/', 'node_modules/pg/', 'node_modules/ssh2/', '@aws-sdk/', 'dist/src/server/sftp/ssh-server.js', 'dist/src/server/sftp/sftp-session.js'];


interface Started {
  child: ChildProcess;
  url: string;
  stop(): Promise<string[]>;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-start-'));
  dirs.push(dir);
  const record = join(dir, 'loaded.txt');
  const env: NodeJS.ProcessEnv = { ...process.env, FERRY_ADMIN_TOKEN: TOKEN, RECORD_LOADS_TO: record };
  for (const k of Object.keys(env)) if (k.startsWith('FERRY_') && k !== 'FERRY_ADMIN_TOKEN') delete env[k];
  const child = spawn(process.execPath, ['--import', join(root, 'test/helpers/record-loads.mjs'), join(root, 'bin/ferry.js'), 'serve', '--addr', '127.0.0.1:0', '--data', join(dir, 'data')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let errors = '';
  child.stderr!.on('data', (d: Buffer) => (errors += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      if (line.includes('"event":"ready"')) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`ferry serve exited (${code}) before it was ready: ${errors}`)));
  });
  child.stdout!.resume();
  return {
    child,
    url,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      return readFileSync(record, 'utf8').split('\n').filter(Boolean);
    },
  };
}

const auth = { authorization: `Bearer ${TOKEN}` };

describe('ferry serve start-up (bundle)', () => {
  it('loads no lazy door at start-up, and none but the server it needs', async () => {
    const s = await start();
    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(200);
    const modules = modulesOf(await s.stop());
    expect(modules).toContain('dist/src/server/app.js'); // the recorder and the chunk map work
    expect(modules.some((m) => m.includes('node_modules/fastify/'))).toBe(true);
    expect(hits(modules, [...Object.values(LAZY).flat(), ...NOT_AT_START, ...NEVER])).toEqual([]);
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
