/**
 * `ferry serve` on a terminal logs short lines for a person, not pino's JSON (which a pipe, a
 * file, journald and docker logs keep: test/cli/serve-startup.test.ts and every test that
 * reads the log through a pipe). Run under script(1), a real pseudo-terminal: stdout and
 * stderr both go to it, as when someone types `ferry serve`. The ready line stays JSON.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv, FERRY_BIN } from '../helpers/cli.js';
import { startServer } from '../helpers/server.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ADMIN = randomBytes(32).toString('hex');
/** A secret sent in a query string and a header: neither may reach the log. */
const QUERY_SECRET = `q${randomBytes(16).toString('hex')}`;
const HEADER_SECRET = `h${randomBytes(16).toString('hex')}`;

interface TtyRun {
  /** Everything the terminal showed (stdout and stderr), with `\r\n` as `\n`. */
  out: string;
  ready: { url: string };
  code: number | null;
}

/**
 * `ferry serve ARGS` under script(1) with `env`: waits for the ready line, makes a few
 * requests (an upload, one with secrets in its query and headers, one for a name holding an
 * escape sequence), waits for their access lines, then stops it with Ctrl-C on the terminal.
 */
async function serveOnTty(args: string[], env: Record<string, string | undefined>, accessLines: (out: string) => boolean): Promise<TtyRun> {
  const data = mkdtempSync(join(tmpdir(), 'ferry-tty-log-'));
  dirs.push(data);
  // exec: the shell script(1) starts ($SHELL, /bin/sh where unset: dash on Debian) gives way to
  // ferry. A dash left waiting would die of the Ctrl-C itself, and script would report 130.
  const command = `exec ${[process.execPath, FERRY_BIN, 'serve', '--addr', '127.0.0.1:0', '--data', data, ...args].map((a) => `'${a}'`).join(' ')}`;
  const tty = spawn('script', ['-qfec', command, '/dev/null'], { env: cliEnv({ FERRY_ADMIN_TOKEN: ADMIN, COLUMNS: '200', LINES: '50', TERM: 'xterm', SHELL: '/bin/sh', ...env }), stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const changed: (() => void)[] = [];
  tty.stdout.on('data', (d: Buffer) => {
    out += d.toString().replace(/\r\n/g, '\n');
    for (const f of changed.splice(0)) f();
  });
  const closed = new Promise<number | null>((r) => tty.on('close', r));
  const until = async (ok: () => boolean, what: string): Promise<void> => {
    const deadline = setTimeout(() => tty.kill('SIGKILL'), 60_000);
    try {
      while (!ok()) {
        if (tty.exitCode !== null) throw new Error(`ferry serve ended before ${what}:\n${out}`);
        await Promise.race([new Promise<void>((r) => changed.push(r)), closed]);
      }
    } finally {
      clearTimeout(deadline);
    }
  };
  try {
    await until(() => /\{"event":"ready".*\}\n/.test(out), 'its ready line');
    const ready = JSON.parse(/(\{"event":"ready".*\})\n/.exec(out)![1]) as { url: string };
    const bearer = { authorization: `Bearer ${ADMIN}` };
    const put = await fetch(`${ready.url}/api/v1/files/a.txt`, { method: 'PUT', headers: bearer, body: 'x'.repeat(3000) });
    await put.arrayBuffer();
    const secret = await fetch(`${ready.url}/api/v1/files/nothing.txt?token=${QUERY_SECRET}&access_token=${QUERY_SECRET}`, { headers: { ...bearer, 'x-ferry-token': HEADER_SECRET, cookie: `ferry_session=${HEADER_SECRET}` } });
    await secret.arrayBuffer();
    const escape = await fetch(`${ready.url}/api/v1/files/%1B%5B2Jred`, { headers: bearer });
    await escape.arrayBuffer();
    expect([put.status, secret.status, escape.status]).toEqual([201, 404, 400]); // a name with a control character is refused, and logged
    await until(() => accessLines(out), 'logging the three requests');
    tty.stdin.write('\x03'); // Ctrl-C on the terminal: SIGINT, the server drains and stops
    const code = await closed;
    return { out, ready, code };
  } finally {
    if (tty.exitCode === null) tty.kill('SIGKILL');
  }
}

/** Lines of the log proper: not the ready line, not the start notes (the server's own text on stderr). */
const jsonLogLines = (out: string) => out.split('\n').filter((l) => /^\{"level":\d+/.test(l));

describe('ferry serve on a terminal', () => {
  it('logs short lines (no JSON besides the ready line), coloured, with no secret', async () => {
    const pretty = /\d\d:\d\d:\d\d\S* \S*INFO \S* GET \/api\/v1\/files\/\\u001b\[2Jred \S*400/;
    const { out, ready, code } = await serveOnTty([], { NO_COLOR: undefined }, (o) => pretty.test(o));
    expect(code, out).toBe(0); // drained and stopped
    expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(jsonLogLines(out), out).toEqual([]);
    // The ready line is exactly as on a pipe: one JSON object on its own line.
    expect(out.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { event: string }).event)).toEqual(['ready']);
    const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/^\d\d:\d\d:\d\d INFO  PUT \/api\/v1\/files\/a\.txt 201 2\.93 KiB [\d.]+ ms admin$/m);
    expect(plain).toMatch(/^\d\d:\d\d:\d\d INFO  GET \/api\/v1\/files\/nothing\.txt 404 \d+ B [\d.]+ ms admin$/m);
    expect(plain).toMatch(/^\d\d:\d\d:\d\d INFO  metadata database schema brought up to date/m);
    expect(plain).toMatch(/^\d\d:\d\d:\d\d INFO  audit file\.upload \/a\.txt admin size=3000 hash=[0-9a-f]{64}$/m);
    expect(plain).toMatch(/\d\d:\d\d:\d\d INFO  draining, then shutting down signal=SIGINT$/m); // after the terminal's ^C
    // Colours: the level and the status.
    expect(out).toMatch(/\x1b\[32mINFO \x1b\[0m/);
    expect(out).toMatch(/\x1b\[33m404\x1b\[0m/);
    // The file name's escape sequence is shown, not played.
    expect(out).not.toContain('\x1b[2J');
    for (const secret of [ADMIN, QUERY_SECRET, HEADER_SECRET]) expect(out).not.toContain(secret);
  });

  it('NO_COLOR: the same lines without escape codes', async () => {
    const { out, code } = await serveOnTty([], { NO_COLOR: '1' }, (o) => /GET \/api\/v1\/files\/\\u001b\[2Jred 400/.test(o));
    expect(code, out).toBe(0); // drained and stopped
    expect(out).not.toContain('\x1b');
    expect(out).toMatch(/^\d\d:\d\d:\d\d INFO  PUT \/api\/v1\/files\/a\.txt 201 /m);
    expect(jsonLogLines(out)).toEqual([]);
  });

  it('--log-format json keeps pino JSON lines on a terminal, secrets left out as ever', async () => {
    const { out, code } = await serveOnTty(['--log-format', 'json'], {}, (o) => jsonLogLines(o).filter((l) => l.includes('"msg":"request"')).length >= 3);
    expect(code, out).toBe(0); // drained and stopped
    const requests = jsonLogLines(out)
      .map((l) => JSON.parse(l) as { msg: string; method?: string; status?: number; path?: string })
      .filter((l) => l.msg === 'request');
    expect(requests.map((r) => [r.method, r.status])).toEqual([['PUT', 201], ['GET', 404], ['GET', 400]]);
    expect(requests[2].path).toContain('\x1b[2Jred');
    for (const secret of [ADMIN, QUERY_SECRET, HEADER_SECRET]) expect(out).not.toContain(secret);
  });
});

describe('ferry serve on a pipe', () => {
  it('--log-format pretty: short lines without colours; FERRY_LOG_FORMAT=bogus is refused', async () => {
    const data = mkdtempSync(join(tmpdir(), 'ferry-pipe-log-'));
    dirs.push(data);
    const server = await startServer({ dataDir: data, extraArgs: ['--log-format', 'pretty'] });
    let out = '';
    server.process.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const res = await fetch(`${server.url}/api/v1/files/none?token=${QUERY_SECRET}`, { headers: { authorization: `Bearer ${server.adminToken}` } });
      expect(res.status).toBe(404);
      await res.arrayBuffer();
      for (let i = 0; i < 600 && !/ 404 /.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await server.stop();
    }
    expect(out).toMatch(/^\d\d:\d\d:\d\d INFO  GET \/api\/v1\/files\/none 404 \d+ B [\d.]+ ms admin$/m);
    expect(out).not.toContain('\x1b');
    expect(out).not.toContain(QUERY_SECRET);

    const bad = spawn(process.execPath, [FERRY_BIN, 'serve', '--addr', '127.0.0.1:0', '--data', data], { env: cliEnv({ FERRY_LOG_FORMAT: 'bogus' }), stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    bad.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => bad.on('close', r));
    expect(code).toBe(2);
    expect(err).toContain('FERRY_LOG_FORMAT');
    expect(err).toContain('must be one of auto, json, pretty, not "bogus"');
  });

  it('writes out direction controls that anyone can send: a sign-in\'s user name and a path (fifteenth round)', async () => {
    const data = mkdtempSync(join(tmpdir(), 'ferry-pipe-bidi-'));
    dirs.push(data);
    const server = await startServer({ dataDir: data, extraArgs: ['--log-format', 'pretty'] });
    let out = '';
    server.process.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      // On a terminal that lays out bidirectional text, U+202E turned the rest of the line
      // around: `failed ip=…` read backwards, and the name's tail read as the line's end.
      const login = await fetch(`${server.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'mallory\u202edetaerc resu nimda', password: 'wrong-password' }) });
      expect(login.status).toBe(401);
      await login.arrayBuffer();
      const path = await fetch(`${server.url}/api/v1/files/a%E2%80%AEtxt.exe%E2%81%A6`);
      expect(path.status).toBe(401);
      await path.arrayBuffer();
      for (let i = 0; i < 600 && !(/auth\.login/.test(out) && / 401 .*\n[^]*files/.test(out)); i++) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await server.stop();
    }
    expect(out).toContain('audit auth.login "mallory\\u202edetaerc resu nimda" failed ip=127.0.0.1');
    expect(out).toContain('GET /api/v1/files/a\\u202etxt.exe\\u2066 401');
    expect(out).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
  });
});
