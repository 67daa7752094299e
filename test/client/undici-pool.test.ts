/**
 * The SDK's Node transport loads undici's Pool and connector without undici's index (which
 * also loads fetch, WebSocket, cookies, caches, mocks and Node's own undici): a request
 * still works through it, and the index is not among the modules loaded. Run in a child
 * process so that nothing vitest loaded counts.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

const SCRIPT = `
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
const { loadUndici } = await import(${JSON.stringify(join(root, 'dist/src/client/undici-pool.js'))});
const server = createServer((req, res) => res.end('hello ' + req.url));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const { Pool } = await loadUndici();
const pool = new Pool('http://127.0.0.1:' + server.address().port, { connections: 2 });
const res = await pool.request({ method: 'GET', path: '/x' });
const body = await res.body.text();
await pool.close();
server.close();
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((f) => f.includes('/node_modules/undici/'));
console.log(JSON.stringify({ status: res.statusCode, body, loaded }));
`;

describe('undici, loaded in parts', () => {
  it('answers a request through a Pool without loading undici/index.js or its fetch', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { cwd: root, encoding: 'utf8' });
    const r = JSON.parse(out) as { status: number; body: string; loaded: string[] };
    expect(r.status).toBe(200);
    expect(r.body).toBe('hello /x');
    expect(r.loaded.some((f) => f.endsWith('/lib/dispatcher/pool.js'))).toBe(true); // the cache is the one undici's parts went to
    expect(r.loaded.filter((f) => f.endsWith('/node_modules/undici/index.js') || f.includes('/lib/web/fetch/index.js') || f.includes('/lib/web/websocket/'))).toEqual([]);
  });
});
