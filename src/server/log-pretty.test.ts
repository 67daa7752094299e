import { PassThrough } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { logSinkFor, prettyLines } from './log-pretty.js';

const at = new Date(2026, 11, 7, 12, 3, 4).getTime();
const line = (o: object) => JSON.stringify({ level: 30, time: at, pid: 1, hostname: 'h', ...o }) + '\n';

/** A destination that says it is a terminal (or not), and what was written to it. */
function destination(isTTY: boolean): { dest: NodeJS.WritableStream; written: () => string } {
  const dest = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  dest.on('data', (d: Buffer) => (text += d.toString()));
  return { dest, written: () => text };
}

describe('prettyLines', () => {
  it('an access-log line: method, route with its path, status, size, time, user', () => {
    const access = { reqId: 'r1', front: 'api', user: 'alice', path: '/a.txt', tokenId: 't1', ip: '127.0.0.1', method: 'PUT', route: '/api/v1/files/*', status: 201, bytesIn: 3_355_443, bytesOut: 40, ms: 41, msg: 'request' };
    expect(prettyLines(line(access), false)).toBe('12:03:04 INFO  PUT /api/v1/files/a.txt 201 3.20 MiB 41 ms alice\n');
    // No path, nobody signed in, nothing sent, cut short by the client.
    expect(prettyLines(line({ method: 'GET', route: '/healthz', status: 499, bytesIn: 0, bytesOut: 0, ms: 2.5, cut: true, msg: 'request' }), false)).toBe('12:03:04 INFO  GET /healthz 499 2.5 ms cut short\n');
    // A path beside a route without `*` (an operation with its path in the body).
    expect(prettyLines(line({ method: 'POST', route: '/api/v1/move', path: '/b', status: 200, ms: 3, msg: 'request' }), false)).toBe('12:03:04 INFO  POST /api/v1/move /b 200 3 ms\n');
  });

  it('other lines: level, message, then key=value', () => {
    const warn = { level: 40, host: '0.0.0.0', msg: 'serving plain HTTP on a non-loopback address: tokens and data travel unencrypted' };
    expect(prettyLines(line(warn), false)).toBe('12:03:04 WARN  serving plain HTTP on a non-loopback address: tokens and data travel unencrypted host=0.0.0.0\n');
    expect(prettyLines(line({ migrations: ['001-init', '002-x'], n: 2, note: 'two words', msg: 'done' }), false)).toBe('12:03:04 INFO  done migrations=["001-init","002-x"] n=2 note="two words"\n');
    expect(prettyLines(line({ level: 20, msg: 'quiet' }), false)).toBe('12:03:04 DEBUG quiet\n');
    // A long list: its ends and how many between (a first start runs every migration).
    const migrations = Array.from({ length: 22 }, (_, i) => `${String(i + 1).padStart(4, '0')}-m`);
    expect(prettyLines(line({ migrations, msg: 'schema up to date' }), false)).toBe('12:03:04 INFO  schema up to date migrations=["0001-m","… 20 more …","0022-m"]\n');
  });

  it('an audit entry: target, user, failure and address, details; no ids', () => {
    const base = { at: 1, userId: 'u-1', tokenId: 't-1', path: '/a.txt', front: 'api', ip: '10.0.0.1' };
    const upload = { ...base, event: 'file.upload', ok: true, userName: 'alice', target: '/a b.txt', details: { size: 3000 } };
    expect(prettyLines(line({ reqId: 'r1', audit: upload, msg: 'audit file.upload' }), false)).toBe('12:03:04 INFO  audit file.upload "/a b.txt" alice size=3000\n');
    const login = { ...base, event: 'auth.login', ok: false, userName: 'bob', target: null, details: null };
    expect(prettyLines(line({ audit: login, msg: 'audit auth.login' }), false)).toBe('12:03:04 INFO  audit auth.login bob failed ip=10.0.0.1\n');
  });

  it('an error: its type and message; its stack below at error level only', () => {
    const err = { type: 'Error', message: 'disk gone', stack: 'Error: disk gone\n    at f (a.js:1:1)\n    at g (b.js:2:2)', code: 'EIO' };
    expect(prettyLines(line({ level: 50, err, msg: 'commit failed' }), false)).toBe('12:03:04 ERROR commit failed err="Error: disk gone" code=EIO\n    at f (a.js:1:1)\n    at g (b.js:2:2)\n');
    expect(prettyLines(line({ level: 20, err, msg: 'refused' }), false)).toBe('12:03:04 DEBUG refused err="Error: disk gone" code=EIO\n');
  });

  it('escapes control characters: a file name cannot drive the terminal', () => {
    const out = prettyLines(line({ method: 'GET', route: '/api/v1/files/*', path: '/\x1b[2Jx\ny\x7f\x9b', status: 404, ms: 1, msg: 'request' }), false);
    expect(out).toBe('12:03:04 INFO  GET /api/v1/files/\\u001b[2Jx\\ny\\u007f\\u009b 404 1 ms\n');
    expect(prettyLines(line({ msg: 'a\x1bb', k: 'v\x1b' }), false)).toBe('12:03:04 INFO  a\\u001bb k="v\\u001b"\n');
  });

  it('escapes direction controls: a name cannot turn the rest of its line around', () => {
    const login = { at: 1, event: 'auth.login', ok: false, userName: 'mallory\u202edetaerc', target: null, details: null, ip: '10.0.0.1' };
    expect(prettyLines(line({ audit: login, msg: 'audit auth.login' }), false)).toBe('12:03:04 INFO  audit auth.login "mallory\\u202edetaerc" failed ip=10.0.0.1\n');
    const access = prettyLines(line({ method: 'GET', route: '/api/v1/files/*', path: '/\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069', status: 401, ms: 1, msg: 'request' }), false);
    expect(access).toBe('12:03:04 INFO  GET /api/v1/files/\\u202a\\u202b\\u202c\\u202d\\u2066\\u2067\\u2068\\u2069 401 1 ms\n');
    // Joiners, which scripts and emoji need, stay as they are.
    expect(prettyLines(line({ msg: 'x', name: 'a\u200db' }), false)).toBe('12:03:04 INFO  x name=a\u200db\n');
  });

  it('escapes the line and paragraph separators: a name cannot start a line of its own', () => {
    const login = { at: 1, event: 'auth.login', ok: false, userName: 'x\u202812:03:05 INFO  audit auth.login admin\u2029', target: null, details: null, ip: '10.0.0.1' };
    expect(prettyLines(line({ audit: login, msg: 'audit auth.login' }), false)).toBe('12:03:04 INFO  audit auth.login "x\\u202812:03:05 INFO  audit auth.login admin\\u2029" failed ip=10.0.0.1\n');
    expect(prettyLines(line({ method: 'GET', route: '/api/v1/files/*', path: '/a\u2028b\x85c', status: 404, ms: 1, msg: 'request' }), false)).toBe('12:03:04 INFO  GET /api/v1/files/a\\u2028b\\u0085c 404 1 ms\n');
  });

  it('keeps a line that is not JSON as it came, and splits several lines', () => {
    expect(prettyLines('not json\n' + line({ msg: 'x' }), false)).toBe('not json\n12:03:04 INFO  x\n');
  });

  it('colours the level and status when asked', () => {
    const out = prettyLines(line({ method: 'GET', route: '/x', status: 500, ms: 1, msg: 'request' }), true);
    expect(out).toContain('\x1b[31m500\x1b[0m');
    expect(out).toContain('\x1b[32mINFO \x1b[0m');
  });
});

describe('logSinkFor', () => {
  const write = (format: 'auto' | 'json' | 'pretty', isTTY: boolean, env: NodeJS.ProcessEnv = {}) => {
    const { dest, written } = destination(isTTY);
    pino({ level: 'info' }, logSinkFor(dest, format, env)).warn({ k: 1 }, 'hello');
    return written();
  };

  it('auto: JSON unless the destination is a terminal', () => {
    expect(JSON.parse(write('auto', false))).toMatchObject({ level: 40, msg: 'hello', k: 1 });
    expect(write('auto', true)).toMatch(/^\x1b\[2m\d\d:\d\d:\d\d\x1b\[0m \x1b\[33mWARN \x1b\[0m hello \x1b\[2mk=\x1b\[0m1\n$/);
  });

  it('JSON lines hold no raw NEL, U+2028 or U+2029: one line to every reader, the same JSON', () => {
    const { dest, written } = destination(false);
    const user = 'mallory\u2028{"level":50,"msg":"forged"}\x85\u2029';
    pino({ level: 'info' }, logSinkFor(dest, 'json', {})).info({ user }, 'sign-in refused');
    const text = written();
    expect(text).not.toMatch(/[\u0085\u2028\u2029]/);
    expect(text.endsWith('\n')).toBe(true);
    // What Python's splitlines() and a browser break lines at.
    expect(text.slice(0, -1).split(/[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/)).toHaveLength(1);
    expect(JSON.parse(text)).toMatchObject({ user, msg: 'sign-in refused' });
  });

  it('json and pretty whatever the destination; colours only on a terminal without NO_COLOR', () => {
    expect(JSON.parse(write('json', true))).toMatchObject({ msg: 'hello' });
    expect(write('pretty', false)).toMatch(/^\d\d:\d\d:\d\d WARN  hello k=1\n$/);
    expect(write('pretty', true, { NO_COLOR: '1' })).toMatch(/^\d\d:\d\d:\d\d WARN  hello k=1\n$/);
    // An empty NO_COLOR does not count (no-color.org).
    expect(write('pretty', true, { NO_COLOR: '' })).toContain('\x1b[');
  });
});
