/**
 * What a new user trips on, from a fresh clone, following the README (newuser3): every
 * error says what to do next, a refused token is named the same way by every command, and
 * `--json` says the same thing on stdout as on stderr, in the same shape for put and get.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
  ok(await w.ferry(['user', 'add', 'bob', '--password-stdin'], { input: 'bob-password-1234\n' }));
}, 60_000);
afterAll(async () => {
  await w?.close();
});

/** A token of bob's, made by the admin. */
async function bobToken(): Promise<string> {
  const res = await fetch(`${w.server.url}/api/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${w.server.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bob test', user: 'bob' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

describe('a question with no terminal to ask it on says what to do', () => {
  it('share --password with stdin at its end: run it at a terminal, or give the answer as a line', async () => {
    ok(await w.ferry(['put', '-q', '-', '/shared.txt'], { input: 'shared\n' }));
    const r = await w.ferry(['share', '/shared.txt', '--password']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "ferry: no link password on stdin: stdin is not a terminal, so each answer is read from a line of it; run this at a terminal, or give the answers as lines (printf '%s\\n' \"$ANSWER\" | ferry …) (FERRY_ERR_USAGE)\n",
    );
    // ... and the line it asks for works
    const given = await w.ferry(['share', '/shared.txt', '--password', '--json'], { input: 'link-password\n' });
    expect(given.code, given.stderr).toBe(0);
    expect(JSON.parse(given.stdout)).toMatchObject({ hasPassword: true });
  });

  it('login URL without -u, stdin at its end: it names the token on stdin and -u for a password login', async () => {
    const r = await w.ferry(['login', w.server.url], { env: { FERRY_TOKEN: undefined, FERRY_SERVER: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no token on stdin: without -u, and with stdin not a terminal, login reads a token from it \(ferry login URL --token - < FILE\); give -u NAME for a password login/);
  });

  it('no server configured: the hint names the password login too', async () => {
    const r = await w.ferry(['ls'], { env: { FERRY_TOKEN: undefined, FERRY_SERVER: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no server configured: run `ferry login URL -u NAME` \(or `--token T`\)/);
  });
});

describe('a flag given a value it does not take', () => {
  it('the error names the flag, for durations and sizes as for --bwlimit (exit 2)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['put', '--ttl', '7x', '-', '/t.txt'], /^error: option '--ttl <duration>' argument '7x' is invalid\. not a duration: "7x"/],
      [['share', '/x', '--expires', '1yr'], /^error: option '--expires <duration>' argument '1yr' is invalid\. not a duration/],
      [['token', 'create', '--expires', 'soon'], /^error: option '--expires <duration>' argument 'soon' is invalid\. not a duration/],
      [['trash', 'empty', '--older-than', '3q'], /^error: option '--older-than <duration>' argument '3q' is invalid\. not a duration/],
      [['user', 'add', 'qq', '--quota', '5X'], /^ferry: --quota: not a size: "5X"/],
      [['user', 'set', 'bob', '--max-file-size', '5X'], /^ferry: --max-file-size: not a size: "5X"/],
    ];
    for (const [args, want] of cases) {
      const r = await w.ferry(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(want);
    }
  });
});

describe('mkdir of a folder that is there', () => {
  it('says which flag makes it no error, as rm says -r; with -p it is none', async () => {
    ok(await w.ferry(['mkdir', '/made']));
    const again = await w.ferry(['mkdir', '/made']);
    expect(again.code).toBe(6);
    expect(again.stderr).toBe('ferry: /made: already exists (-p: no error if it is a folder) (FERRY_ERR_ALREADY_EXISTS)\n');
    ok(await w.ferry(['mkdir', '-p', '/made']));
  });
});

describe('a refused token is explained by every command, not only the file commands', () => {
  it('whoami, token ls, share ls, user ls and quota name the token that was refused and what to fix (exit 4)', async () => {
    const bad = w.server.adminToken.replace(/.{6}$/, 'AAAAAA');
    for (const args of [['whoami'], ['token', 'ls'], ['share', 'ls'], ['user', 'ls'], ['quota'], ['ls', '/']]) {
      const r = await w.ferry(args, { env: { FERRY_TOKEN: bad } });
      expect(r.code, args.join(' ')).toBe(4);
      expect(r.stderr, args.join(' ')).toBe('ferry: the server refused the token (FERRY_TOKEN): the token is not valid; check FERRY_TOKEN (FERRY_ERR_AUTH_INVALID)\n');
    }
  });

  it('user passwd with a wrong current password says so, not that the token was refused', async () => {
    const token = await bobToken();
    const r = await w.ferry(['user', 'passwd', '--password-stdin'], { env: { FERRY_TOKEN: token }, input: 'not-the-password\nnew-password-5678\n' });
    expect(r.code).toBe(4);
    expect(r.stderr).toBe('ferry: the current password is not right; nothing was changed (FERRY_ERR_AUTH_INVALID)\n');
    const right = await w.ferry(['user', 'passwd', '--password-stdin'], { env: { FERRY_TOKEN: token }, input: 'bob-password-1234\nnew-password-5678\n' });
    expect(right.code, right.stderr).toBe(0);
  });
});

describe('--json after a failure', () => {
  it('get --no-clobber: stdout says what stderr says, in the CLI terms, with the counts put gives', async () => {
    ok(await w.ferry(['put', '-q', '-', '/nc.txt'], { input: 'server copy\n' }));
    const local = join(w.dir, 'nc.txt');
    await writeFile(local, 'local copy\n');
    const get = await w.ferry(['get', '--json', '--no-clobber', '/nc.txt', local]);
    expect(get.code).toBe(6);
    const out = JSON.parse(get.stdout) as { ok: boolean; error: { code: string; message: string } };
    const err = JSON.parse(get.stderr) as { error: { code: string; message: string } };
    expect(out.error).toEqual(err.error);
    expect(out.error.message).toBe(`${local} exists (--no-clobber)`);
    const put = await w.ferry(['put', '--json', '--no-clobber', local, '/nc.txt']);
    expect(put.code).toBe(6);
    expect(Object.keys(out).sort()).toEqual(Object.keys(JSON.parse(put.stdout) as object).sort());
  });

  it('copy and put -r carrying on past a file that failed: stderr holds JSON lines too, each with the path', async () => {
    const src = join(w.dir, 'tree');
    await mkdir(src);
    await writeFile(join(src, 'a'), 'a\n');
    await writeFile(join(src, 'b'), 'b\n');
    ok(await w.ferry(['mkdir', '-p', '/dst/a/inner'])); // a folder where the file a goes
    for (const args of [['copy', '--json', src, 'ferry:/dst'], ['put', '-r', '--json', src, '/dst']]) {
      const r = await w.ferry(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      JSON.parse(r.stdout);
      const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { error: { code: string; message: string; details: { path: string } } });
      expect(lines[0].error, args.join(' ')).toMatchObject({ code: 'FERRY_ERR_IS_A_DIRECTORY', message: '/dst/a: a directory exists there' });
      expect(lines[0].error.details.path, args.join(' ')).toMatch(/(^|\/)a$/);
    }
    // Without --json, the line a person reads.
    const plain = await w.ferry(['copy', src, 'ferry:/dst']);
    expect(plain.stderr).toMatch(/^ferry: a: \/dst\/a: a directory exists there$/m);
  });
});
