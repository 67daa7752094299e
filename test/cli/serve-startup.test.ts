/**
 * `ferry serve` start-up as an operator meets it: what it refuses (a weak admin token, a
 * data directory another server holds, an address it cannot listen on), with which exit code
 * and message, and what it leaves behind when it fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetaStore } from '../../src/store/meta-store.js';
import { migrationNames } from '../../src/store/migrations.js';
import { readSchemaScript, SQLITE_SCHEMA_FILE } from '../../src/store/sqlite-schema-script.js';
import { schemaOf } from '../helpers/sqlite-schema.js';
import { cliEnv, FERRY_BIN, runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startServer } from '../helpers/server.js';

const FERRY_ROOT = join(dirname(FERRY_BIN), '..');

let tmp: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir('ferry-serve-');
});
afterAll(async () => {
  await tmp.cleanup();
});

describe('a weak FERRY_ADMIN_TOKEN', () => {
  for (const [what, token] of [
    ['short', 'abc'],
    ['31 characters', 'x9F2kQ7mZ1pL4vB8nR3tY6wC0dH5jG2'],
    ['repeated', 'abcd'.repeat(10)],
    ['uniform', 'a'.repeat(40) + 'b'],
  ] as const) {
    it(`is refused at start (${what}): exit 2, a plain message, nothing created`, async () => {
      const data = `${tmp.path}/weak-${what.replace(/\W/g, '')}`;
      const r = await runFerry(['serve', '--addr', '127.0.0.1:0', '--data', data], { env: { FERRY_ADMIN_TOKEN: token }, timeoutMs: 30_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^ferry: FERRY_ADMIN_TOKEN: too weak to guard the server: .*openssl rand -hex 32.* \(FERRY_ERR_CONFIG\)\n$/);
      expect(r.stderr).not.toContain(token);
      expect(r.stdout).not.toContain('"ready"');
      expect(existsSync(data)).toBe(false);
    });
  }
});

describe('a weak FERRY_METRICS_TOKEN', () => {
  // It opens only /metrics, but is guessed as cheaply as the admin token: the same floor.
  for (const [what, token] of [
    ['24 characters, once accepted', 'metrics-token-0123456789'],
    ['repeated', 'metrics!'.repeat(5)],
  ] as const) {
    it(`is refused at start (${what}): exit 2, a plain message`, async () => {
      const data = `${tmp.path}/weak-metrics-${what.replace(/\W/g, '')}`;
      const r = await runFerry(['serve', '--addr', '127.0.0.1:0', '--data', data], { env: { FERRY_METRICS_TOKEN: token }, timeoutMs: 30_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^ferry: FERRY_METRICS_TOKEN: too weak: .*openssl rand -hex 32.* \(FERRY_ERR_CONFIG\)\n$/);
      expect(r.stderr).not.toContain(token);
      expect(r.stdout).not.toContain('"ready"');
    });
  }
});

describe('one server per data directory', () => {
  const lockOf = (data: string) => JSON.parse(readFileSync(join(data, 'ferry.lock'), 'utf8')) as { pid: number; host: string };

  it('refuses a second ferry serve on a data directory in use, naming the holder', async () => {
    const data = join(tmp.path, 'locked');
    const first = await startServer({ dataDir: data });
    try {
      expect(lockOf(data)).toMatchObject({ pid: first.process.pid, host: hostname() });
      const second = await runFerry(['serve', '--addr', '127.0.0.1:0', '--data', data], { env: { FERRY_ADMIN_TOKEN: first.adminToken }, timeoutMs: 30_000 });
      expect(second.code).toBe(2);
      expect(second.stderr).toContain(`ferry: the data directory ${data} is in use by another ferry serve (pid ${first.process.pid}, since `);
      expect(second.stderr).toMatch(/stop it first or use another --data \(FERRY_ERR_CONFIG\)\n$/);
      expect(second.stdout).not.toContain('"ready"');
      // The first one is untouched and still holds it.
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
      expect(lockOf(data).pid).toBe(first.process.pid);
    } finally {
      await first.stop();
    }
    // A clean stop releases it.
    expect(existsSync(join(data, 'ferry.lock'))).toBe(false);
  });

  it('takes over the lock of a server that died (kill -9) and of a pid that is gone', async () => {
    const data = join(tmp.path, 'stale');
    const first = await startServer({ dataDir: data });
    await first.kill();
    expect(lockOf(data).pid).toBe(first.process.pid); // left behind
    const second = await startServer({ dataDir: data, adminToken: first.adminToken });
    try {
      expect(lockOf(data).pid).toBe(second.process.pid);
    } finally {
      await second.stop();
    }
    // A lock naming a process that no longer exists (and one that is not even JSON).
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    // A live pid that is another process than the one that wrote the lock (a recycled pid:
    // its start time differs) counts as gone too.
    const recycled = JSON.stringify({ pid: process.pid, started: 1, host: hostname(), since: 'last boot' });
    for (const stale of [JSON.stringify({ pid: gone, started: null, host: hostname(), since: 'yesterday' }), recycled, 'garbage']) {
      writeFileSync(join(data, 'ferry.lock'), stale);
      const third = await startServer({ dataDir: data, adminToken: first.adminToken });
      expect(lockOf(data).pid).toBe(third.process.pid);
      await third.stop();
    }
  });

  it('respects a lock held from another host (a shared file system), saying how to clear it', async () => {
    const data = join(tmp.path, 'remote-lock');
    await mkdir(data, { recursive: true });
    writeFileSync(join(data, 'ferry.lock'), JSON.stringify({ pid: 4242, started: 1, host: 'other-host.example', since: '2026-01-01T00:00:00.000Z' }));
    const r = await runFerry(['serve', '--addr', '127.0.0.1:0', '--data', data], { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('in use by another ferry serve (pid 4242 on other-host.example, since 2026-01-01T00:00:00.000Z)');
    expect(r.stderr).toContain(`if that server is gone, remove ${join(data, 'ferry.lock')}`);
  });
});

describe('configuration mistakes: exit 2 with a plain message, not 70 "unexpected error"', () => {
  it('a port in use, and the data directory is free again afterwards', async () => {
    const busy = createNetServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    const data = join(tmp.path, 'busy');
    try {
      const r = await runFerry(['serve', '--addr', `127.0.0.1:${port}`, '--data', data], { timeoutMs: 30_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`ferry: cannot listen on 127.0.0.1:${port}: the port is in use (another server listens there): pick another --addr, or stop that server (FERRY_ERR_CONFIG)\n`);
      expect(existsSync(join(data, 'ferry.lock'))).toBe(false); // the failed start let go of it
    } finally {
      busy.close();
    }
    const next = await startServer({ dataDir: data });
    await next.stop();
  });

  it('a port in use names where the address was set: FERRY_ADDR, or the config file and its line', async () => {
    const busy = createNetServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    const inUse = (where: string) => `ferry: cannot listen on 127.0.0.1:${port}: the port is in use (another server listens there): pick another ${where}, or stop that server (FERRY_ERR_CONFIG)\n`;
    try {
      const fromEnv = await runFerry(['serve', '--data', join(tmp.path, 'busy-env')], { env: { FERRY_ADDR: `127.0.0.1:${port}` }, timeoutMs: 30_000 });
      expect(fromEnv.code).toBe(2);
      expect(fromEnv.stderr).toBe(inUse('FERRY_ADDR'));

      const file = join(tmp.path, 'busy.yaml');
      writeFileSync(file, `# a server on a port some other program took\ndata: ${join(tmp.path, 'busy-file')}\naddr: 127.0.0.1:${port}\n`);
      const fromFile = await runFerry(['serve', '--config', file], { timeoutMs: 30_000 });
      expect(fromFile.code).toBe(2);
      expect(fromFile.stderr).toBe(inUse(`addr in ${file}:3`));

      // A flag overrides both, and is what the message names then.
      const fromFlag = await runFerry(['serve', '--config', file, '--addr', `127.0.0.1:${port}`], { env: { FERRY_ADDR: '127.0.0.1:1' }, timeoutMs: 30_000 });
      expect(fromFlag.code).toBe(2);
      expect(fromFlag.stderr).toBe(inUse('--addr'));
    } finally {
      busy.close();
    }
  });

  it('a FERRY_HEAP_GROWING_PERCENT that is not a whole number from 0 to 1000 is refused before anything starts; a valid one serves', async () => {
    for (const bad of ['abc', '-5', '2000', '1.5']) {
      const data = join(tmp.path, `heap-${bad.replace(/\W/g, '_')}`);
      const r = await runFerry(['serve', '--addr', '127.0.0.1:0', '--data', data], { env: { FERRY_HEAP_GROWING_PERCENT: bad }, timeoutMs: 30_000 });
      expect(r.code, bad).toBe(2);
      expect(r.stderr, bad).toContain(`FERRY_HEAP_GROWING_PERCENT must be a whole number from 0 (V8's own factor) to 1000, not "${bad}"`);
      expect(existsSync(data), bad).toBe(false);
    }
    for (const good of ['0', '300']) {
      const server = await startServer({ dataDir: join(tmp.path, `heap-ok-${good}`), env: { FERRY_HEAP_GROWING_PERCENT: good } });
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      await server.stop();
    }
  });

  it('an unknown host or an address not of this machine in --addr', async () => {
    const unknown = await runFerry(['serve', '--addr', 'no-such-host.invalid:0', '--data', join(tmp.path, 'unknown-host')], { timeoutMs: 30_000 });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^ferry: cannot listen on no-such-host\.invalid:0: the host no-such-host\.invalid (is unknown here|could not be resolved)/);
    const foreign = await runFerry(['serve', '--addr', '192.0.2.55:0', '--data', join(tmp.path, 'foreign')], { timeoutMs: 30_000 });
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toContain('192.0.2.55 is not an address of this machine');
  });

  it('sync --max-delete -3 and bisync --max-delete 200', async () => {
    const sync = await runFerry(['sync', '--max-delete', '-3', tmp.path, 'memory:x']);
    expect(sync.code).toBe(2);
    expect(sync.stderr).toMatch(/--max-delete must be a whole number >= 0/);
    expect(sync.stderr).not.toMatch(/unexpected/);
    const bisync = await runFerry(['bisync', '--max-delete', '200', tmp.path, 'memory:x']);
    expect(bisync.code).toBe(2);
    expect(bisync.stderr).toMatch(/--max-delete is a percentage from 0 to 100/);
  });
});

describe('the initial admin token', () => {
  const loginLine = (out: string): string => /Log in with: {2}(ferry login .*)\n/.exec(out)?.[1] ?? '';
  /** The server's stderr once its start-up notes are out (they follow the ready line on stdout). */
  const notes = async (server: { output: () => string }): Promise<string> => {
    for (let i = 0; i < 500 && !/Log in with: .*\n/.test(server.output()); i++) await new Promise((r) => setTimeout(r, 10));
    return server.output();
  };

  it('is written only once the server listens; shown with a login line that reads it from stdin', async () => {
    const data = join(tmp.path, 'first-start');
    const file = join(data, 'initial-admin-token');
    const busy = createNetServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    try {
      const failed = await runFerry(['serve', '--addr', `127.0.0.1:${port}`, '--data', data], { timeoutMs: 30_000 });
      expect(failed.code).toBe(2);
      expect(failed.stderr).not.toMatch(/admin token/i);
      expect(existsSync(file)).toBe(false);
    } finally {
      busy.close();
    }
    const first = await startServer({ dataDir: data, env: { FERRY_ADMIN_TOKEN: undefined } });
    let token: string;
    try {
      token = readFileSync(file, 'utf8').trim();
      expect(token).toMatch(/^ferry_[0-9a-f]{16}_/);
      const out = await notes(first);
      // Its stderr is a pipe, as under systemd or Docker, where it would stay in the journal: not printed.
      expect(out).toContain(`Ferry made an admin token and saved it with mode 0600 in ${file} (not printed: stderr is not a terminal, and a log would keep it).\n`);
      expect(out).not.toContain(token);
      const line = loginLine(out);
      expect(line).toBe(`ferry login ${first.url} --token - < ${file}`);
      expect(line).not.toContain(token);
      // The line works as printed: the token through stdin.
      const home = join(tmp.path, 'first-home');
      const login = await runFerry(['login', first.url, '--token', '-'], { stdinFile: file, env: { FERRY_CONFIG_DIR: home, FERRY_CONFIG: join(home, 'config.json') } });
      expect(login.code, login.stderr).toBe(0);
      expect(login.stderr).toMatch(/logged in to .* as admin/);
      // The web app's sign-in wants a password, which the admin has not: the notes say how to make a user with one.
      expect(out).toContain(`Web app:      ${first.url}/ signs in users with a password; make one with: ferry user add NAME --admin --password\n`);
      const cfg = { FERRY_CONFIG_DIR: home, FERRY_CONFIG: join(home, 'config.json') };
      const add = await runFerry(['user', 'add', 'me', '--admin', '--password'], { input: 'first-start-pw-1\n', env: cfg });
      expect(add.code, add.stderr).toBe(0);
      const session = await fetch(`${first.url}/api/v1/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'me', password: 'first-start-pw-1' }) });
      expect(session.status).toBe(201);
    } finally {
      await first.stop();
    }
    // Later starts show no token, and say where it is while the file exists.
    const again = await startServer({ dataDir: data, env: { FERRY_ADMIN_TOKEN: undefined } });
    try {
      const out = await notes(again);
      expect(out).not.toContain(token);
      expect(out).toContain(`The admin token made at the first start is in ${file}`);
      expect(loginLine(out)).toBe(`ferry login ${again.url} --token - < ${file}`);
    } finally {
      await again.stop();
    }
    // Once the file is gone (kept elsewhere, as the notes ask, or a restore, which never holds
    // it), the notes say so and what to do: not "the admin token you set", which nobody did.
    rmSync(file);
    const kept = await startServer({ dataDir: data, env: { FERRY_ADMIN_TOKEN: undefined } });
    try {
      const out = await notes(kept);
      expect(out).not.toContain('you set');
      expect(out).toContain(
        'The admin token made at the first start is no longer in the data directory (initial-admin-token was removed, or this is a restore, which never holds it): ' +
          'use the copy you kept, or start with FERRY_ADMIN_TOKEN set to a new one (openssl rand -hex 32).\n',
      );
      expect(loginLine(out)).toBe(`ferry login ${kept.url} --token -   (that token on stdin)`);
      const home = join(tmp.path, 'kept-home');
      const login = await runFerry(['login', kept.url, '--token', '-'], { input: token + '\n', env: { FERRY_CONFIG_DIR: home, FERRY_CONFIG: join(home, 'config.json'), FERRY_TOKEN: undefined } });
      expect(login.code, login.stderr).toBe(0);
    } finally {
      await kept.stop();
    }
  });

  it('is shown once to a person at a terminal (stderr a TTY, through script(1))', async () => {
    const data = join(tmp.path, 'tty-start');
    const file = join(data, 'initial-admin-token');
    const command = [process.execPath, FERRY_BIN, 'serve', '--addr', '127.0.0.1:0', '--data', data].map((a) => `'${a}'`).join(' ');
    const tty = spawn('script', ['-qec', command, '/dev/null'], { env: cliEnv({ FERRY_ADMIN_TOKEN: undefined }), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    tty.stdout.on('data', (d: Buffer) => (out += d.toString().replace(/\r\n/g, '\n'))); // a terminal's line ends
    const closed = new Promise((resolve) => tty.on('close', resolve));
    try {
      for (let i = 0; i < 3000 && !/Log in with: .*\n/.test(out); i++) await new Promise((r) => setTimeout(r, 10));
      const token = readFileSync(file, 'utf8').trim();
      expect(out).toContain(`Ferry admin token (shown once, also saved with mode 0600 in ${file}):\n\n  ${token}\n`);
    } finally {
      // The server is script's child: its pid is in the lock of its data directory.
      const pid = Number(/"pid":(\d+)/.exec(readFileSync(join(data, 'ferry.lock'), 'utf8'))?.[1]);
      if (pid > 0) process.kill(pid, 'SIGTERM');
      tty.stdin.end();
      await closed;
    }
  });

  it('given in FERRY_ADMIN_TOKEN: the notes say how it logs in (on stdin), never the token, and the line works', async () => {
    const data = join(tmp.path, 'env-token-start');
    const token = `ferry_env_${'k3Y9'.repeat(10)}`;
    const server = await startServer({ dataDir: data, env: { FERRY_ADMIN_TOKEN: token } });
    try {
      const out = await notes(server);
      expect(out).not.toContain(token);
      expect(out).toContain(`Log in with:  ferry login ${server.url} --token -   (the admin token you set, FERRY_ADMIN_TOKEN or adminToken, on stdin)\n`);
      expect(out).toContain(`Web app:      ${server.url}/ signs in users with a password`);
      const home = join(tmp.path, 'env-token-home');
      const login = await runFerry(['login', server.url, '--token', '-'], { input: token + '\n', env: { FERRY_CONFIG_DIR: home, FERRY_CONFIG: join(home, 'config.json'), FERRY_TOKEN: undefined } });
      expect(login.code, login.stderr).toBe(0);
    } finally {
      await server.stop();
    }
  });

  it('under --tls-self-signed the login line pins the certificate, and works', async () => {
    const data = join(tmp.path, 'tls-start');
    const server = await startServer({ dataDir: data, env: { FERRY_ADMIN_TOKEN: undefined }, extraArgs: ['--tls-self-signed'] });
    try {
      const out = await notes(server);
      const fp = /Certificate fingerprint: (SHA256:[0-9A-F:]+)/.exec(out)?.[1];
      expect(fp).toMatch(/^SHA256:([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      const file = join(data, 'initial-admin-token');
      const line = loginLine(out);
      expect(line).toBe(`ferry login ${server.url} --token - < ${file} --fingerprint ${fp}`);
      const home = join(tmp.path, 'tls-home');
      const login = await runFerry(['login', server.url, '--token', '-', '--fingerprint', fp!], { stdinFile: file, env: { FERRY_CONFIG_DIR: home, FERRY_CONFIG: join(home, 'config.json') } });
      expect(login.code, login.stderr).toBe(0);
    } finally {
      await server.stop();
    }
  });
});

describe('the defender and loopback', () => {
  it('an admin on the machine cannot lock themselves out with bad tokens (loopback is never banned)', async () => {
    const server = await startServer({ dataDir: join(tmp.path, 'lockout'), extraArgs: ['--defender-threshold', '4'] });
    try {
      const bad = (n: number) => `ferry_${n.toString(16).padStart(16, '0')}_${'A'.repeat(43)}`;
      // Two unknown tokens score 4: enough to ban any other address.
      for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${bad(i)}` } })).status).toBe(401);
      const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken, FERRY_CONFIG: join(tmp.path, 'lockout-config.json') };
      const bans = await runFerry(['admin', 'bans', '--json'], { env });
      expect(bans.code, bans.stderr).toBe(0);
      expect(JSON.parse(bans.stdout)).toEqual([]);
      expect((await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${server.adminToken}` } })).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe("libuv's thread pool", () => {
  // bin/ferry.js sets UV_THREADPOOL_SIZE=16 unless the environment sets it; the pool is sized
  // when first used, and an ES module entry would have started it (with 4) before its first
  // line. The pool's threads are all started together, so the two servers differ by 12.
  const threads = (pid: number) => readdirSync(`/proc/${pid}/task`).length;
  it('a started server has the 16 threads bin/ferry.js asks for, not libuv\'s default 4', async () => {
    const sized = await startServer({ dataDir: join(tmp.path, 'pool-16'), env: { UV_THREADPOOL_SIZE: undefined } });
    const small = await startServer({ dataDir: join(tmp.path, 'pool-4'), env: { UV_THREADPOOL_SIZE: '4' } });
    try {
      expect(threads(sized.process.pid!) - threads(small.process.pid!)).toBe(12);
    } finally {
      await Promise.all([sized.stop(), small.stop()]);
    }
  });
});

describe('the listening address', () => {
  // 127.0.0.2 is this machine too, but not the address a loopback server is bound to.
  const reachable = (port: number, host: string) =>
    fetch(`http://${host}:${port}/healthz`).then(
      (res) => res.status,
      () => 'refused',
    );

  it('a server on 127.0.0.1 is not reached at another address and prints no warning', async () => {
    const server = await startServer({ dataDir: join(tmp.path, 'bind-loopback') });
    try {
      expect(await reachable(server.port, '127.0.0.1')).toBe(200);
      expect(await reachable(server.port, '127.0.0.2')).toBe('refused');
      expect(server.output()).not.toContain('WARNING');
    } finally {
      await server.stop();
    }
  });

  it('--addr 0.0.0.0 listens on every address, warning that plain HTTP travels unencrypted', async () => {
    const server = await startServer({ dataDir: join(tmp.path, 'bind-all'), addr: '0.0.0.0:0' });
    try {
      expect(await reachable(server.port, '127.0.0.2')).toBe(200);
      await expect.poll(() => server.output(), { timeout: 10_000 }).toContain('WARNING: plain HTTP on 0.0.0.0: passwords, tokens and files travel unencrypted.\nUse --tls-cert/--tls-key or --tls-self-signed.');
    } finally {
      await server.stop();
    }
  });
});

describe("a first start's metadata database", () => {
  /** The database the migrator makes from these sources, and its schema as the build writes it. */
  async function migrated(name: string): Promise<{ file: string; script: unknown }> {
    const file = join(tmp.path, `${name}.db`);
    await (await MetaStore.openSqlite(file)).close();
    const db = new SqliteDatabase(file, { readonly: true });
    try {
      return { file, script: readSchemaScript(db) };
    } finally {
      db.close();
    }
  }

  it("is made from the build's script of these migrations, and is the database the migrator makes", async () => {
    const { file, script } = await migrated('migrated');
    // The build's script is current: made from exactly these migrations' schema (the bundle's copy too).
    for (const built of ['dist/src/store', 'dist/bundle']) expect(JSON.parse(readFileSync(join(FERRY_ROOT, built, SQLITE_SCHEMA_FILE), 'utf8'))).toEqual(script);
    const data = join(tmp.path, 'first-schema');
    const server = await startServer({ dataDir: data });
    await server.stop();
    expect(server.output()).toContain(`(${migrationNames('sqlite').length} migrations run)`);
    expect(schemaOf(join(data, 'meta.db'), { rows: false })).toEqual(schemaOf(file, { rows: false }));
  });

  it('a start killed (kill -9) while it makes the data directory leaves one the next start accepts', async () => {
    const { file } = await migrated('migrated-2');
    const data = join(tmp.path, 'killed-first');
    const child = spawn(process.execPath, [FERRY_BIN, 'serve', '--addr', '127.0.0.1:0', '--data', data], { env: cliEnv({ FERRY_ADMIN_TOKEN: `admin-${randomBytes(16).toString('hex')}` }), stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Killed once the database file exists: wherever the start then was (the schema's
    // transaction, the stores, the listen), the next start must take it from there.
    while (!existsSync(join(data, 'meta.db')) && child.exitCode === null) await new Promise((r) => setTimeout(r, 2));
    child.kill('SIGKILL');
    await exited;
    const server = await startServer({ dataDir: data });
    await server.stop();
    expect(schemaOf(join(data, 'meta.db'), { rows: false })).toEqual(schemaOf(file, { rows: false }));
  });
});
