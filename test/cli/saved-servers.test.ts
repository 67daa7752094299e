/**
 * Saved servers and where their tokens go (issue 12), against two real servers A and B:
 * a token saved for A is never sent to B (ferry://B, --server B, a ferry remote of B,
 * FERRY_SERVER=A's FERRY_TOKEN), B needs its own login (`--name work`, then `work:/`);
 * login reads the token from stdin; whoami/logout --name; --login NAME for the commands
 * without a location (quota, token, share ls, user, ...); config show masks secrets.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { readMetricSeries, startServer, type RunningServer } from '../helpers/server.js';

let dir: { path: string; cleanup: () => Promise<void> };
let a: RunningServer;
let b: RunningServer;
let env: Record<string, string>;

function ok(r: CliResult): CliResult {
  if (r.code !== 0) throw new Error(`ferry exited ${r.code}:\n${r.stderr}`);
  return r;
}
const ferry = (args: string[], extra: { input?: string; env?: Record<string, string | undefined> } = {}) => runFerry(args, { input: extra.input, env: { ...env, ...extra.env } });

/** Requests B answered, but for the metrics scrapes themselves. */
async function requestsTo(s: RunningServer): Promise<number> {
  return (await readMetricSeries(s, 'ferry_http_requests_total')).filter((x) => !String(x.labels.route).includes('metrics')).reduce((n, x) => n + x.value, 0);
}

beforeAll(async () => {
  dir = await tempDir('ferry-saved-');
  [a, b] = await Promise.all([startServer({ dataDir: join(dir.path, 'a') }), startServer({ dataDir: join(dir.path, 'b') })]);
  env = { FERRY_CONFIG: join(dir.path, 'cfg', 'config.json'), FERRY_CONFIG_DIR: join(dir.path, 'cfg'), HOME: dir.path };
  await writeFile(join(dir.path, 'f.txt'), 'hello');
  ok(await runFerry(['put', join(dir.path, 'f.txt'), '/on-a.txt'], { env: { FERRY_SERVER: a.url, FERRY_TOKEN: a.adminToken } }));
  ok(await runFerry(['put', join(dir.path, 'f.txt'), '/on-b.txt'], { env: { FERRY_SERVER: b.url, FERRY_TOKEN: b.adminToken } }));
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await dir?.cleanup();
});

describe('saved servers', () => {
  it('login reads the token from stdin (not on the command line) and saves the default server', async () => {
    const r = ok(await ferry(['login', a.url, '--json'], { input: a.adminToken + '\n' }));
    expect(JSON.parse(r.stdout)).toMatchObject({ server: a.url, name: 'ferry', user: 'admin' });
    expect(ok(await ferry(['ls', 'ferry:/'])).stdout).toContain('on-a.txt');
  });

  it("A's saved token is never sent to B: ferry://B, --server B, a ferry remote of B, FERRY_SERVER=A's FERRY_TOKEN", async () => {
    const before = await requestsTo(b);
    const hostB = new URL(b.url).host;
    ok(await ferry(['remote', 'add', 'bee', 'ferry', `server=${b.url}`]));
    const tries: Array<[string[], Record<string, string | undefined>]> = [
      [['ls', `ferry://${hostB}/`], {}],
      [['ls', '/', '--server', b.url], {}],
      [['ls', 'bee:/'], {}],
      [['cat', `ferry://${hostB}/on-b.txt`], { FERRY_SERVER: a.url, FERRY_TOKEN: a.adminToken }],
    ];
    for (const [args, extra] of tries) {
      const r = await ferry(args, { env: extra });
      expect(r.code, args.join(' ')).toBe(4);
      expect(r.stderr, args.join(' ')).toContain(`no token for ${b.url}`);
      expect(r.stderr).toMatch(/is only ever sent there/);
    }
    expect(await requestsTo(b)).toBe(before); // B saw no request at all, so never A's token
    // The same locations with B's own token (--token) work.
    expect(ok(await ferry(['ls', `ferry://${hostB}/`, '--token', b.adminToken])).stdout).toContain('on-b.txt');
    ok(await ferry(['remote', 'rm', 'bee']));
  });

  it('login --name work saves B beside A; work:/ is B, ferry:/ still A; whoami --name', async () => {
    ok(await ferry(['login', b.url, '--name', 'work', '-q'], { input: b.adminToken + '\n' }));
    expect(ok(await ferry(['ls', 'work:/'])).stdout).toContain('on-b.txt');
    expect(ok(await ferry(['ls', 'ferry:/'])).stdout).not.toContain('on-b.txt');
    ok(await ferry(['put', join(dir.path, 'f.txt'), 'work:/put-by-name.txt']));
    expect(ok(await runFerry(['ls', '/'], { env: { FERRY_SERVER: b.url, FERRY_TOKEN: b.adminToken } })).stdout).toContain('put-by-name.txt');
    // ferry://B now finds the token saved for exactly B's URL.
    expect(ok(await ferry(['ls', `ferry://${new URL(b.url).host}/`])).stdout).toContain('put-by-name.txt');
    expect(JSON.parse(ok(await ferry(['whoami', '--name', 'work', '--json'])).stdout)).toMatchObject({ server: b.url, user: 'admin' });
    expect(JSON.parse(ok(await ferry(['whoami', '--json'])).stdout)).toMatchObject({ server: a.url });
    const unknown = await ferry(['whoami', '--name', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('saved: ferry, work');
  });

  it('--login NAME: the commands without a location act as that login, also a second one of the same server', async () => {
    // A second login of B's URL, as another user: --server B would take work's (the first saved for the URL).
    ok(await ferry(['user', 'add', 'bo', '--login', 'work', '--json']));
    const made = JSON.parse(ok(await ferry(['token', 'create', '--user', 'bo', '--name', 'bo-cli', '--login', 'work', '--json'])).stdout) as { token: string; id: string };
    ok(await ferry(['login', b.url, '--name', 'bo', '-q'], { input: made.token + '\n' }));
    expect(JSON.parse(ok(await ferry(['quota', '--login', 'bo', '--json'])).stdout)).toMatchObject({ user: 'bo' });
    expect(JSON.parse(ok(await ferry(['quota', '--json'])).stdout)).toMatchObject({ user: 'admin' });
    const tokens = JSON.parse(ok(await ferry(['token', 'ls', '--login', 'bo', '--json'])).stdout) as Array<{ id: string }>;
    expect(tokens.map((t) => t.id)).toEqual([made.id]);
    expect(JSON.parse(ok(await ferry(['share', 'ls', '--login', 'bo', '--json'])).stdout)).toEqual([]);
    // bo is no admin: `user ls` as bo is refused by B, as work it is B's list.
    expect((await ferry(['user', 'ls', '--login', 'bo'])).code).toBe(4);
    expect(ok(await ferry(['user', 'ls', '--login', 'work'])).stdout).toContain('bo');
    const unknown = await ferry(['quota', '--login', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('saved: ferry, work, bo');
    const both = await ferry(['token', 'ls', '--login', 'bo', '--server', b.url]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--login and --server both name a server');
    expect(ok(await ferry(['quota', '--help'])).stdout).toContain('--login <name>');
    ok(await ferry(['logout', '--name', 'bo', '--forget']));
  });

  it('a server name may not be a backend type or a remote, and a remote not a saved server', async () => {
    const type = await ferry(['login', b.url, '--name', 's3'], { input: b.adminToken + '\n' });
    expect(type.code).toBe(2);
    expect(type.stderr).toContain('is a backend type');
    ok(await ferry(['remote', 'add', 'disk', 'local', `root=${dir.path}`]));
    const remote = await ferry(['login', b.url, '--name', 'disk'], { input: b.adminToken + '\n' });
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain('already names a remote');
    const clash = await ferry(['remote', 'add', 'work', 'local', `root=${dir.path}`]);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain('names a server saved by ferry login --name');
  });

  it('config show lists servers, remotes and environment with every secret masked', async () => {
    ok(await ferry(['remote', 'add', 'bucket', 's3', 'bucket=x', 'accessKeyId=AKIDEXAMPLE', 'secretAccessKey=very-secret-key']));
    const r = ok(await ferry(['config', 'show'], { env: { FERRY_TOKEN: 'env-secret-token' } }));
    for (const secret of [a.adminToken, b.adminToken, 'AKIDEXAMPLE', 'very-secret-key', 'env-secret-token']) expect(r.stdout).not.toContain(secret);
    expect(r.stdout).toMatch(new RegExp(`ferry: \\(default\\) ${a.url} \\(token \\*\\*\\*\\)`));
    expect(r.stdout).toContain(`work: ${b.url} (token ***)`);
    expect(r.stdout).toContain('bucket: s3 bucket=x accessKeyId=*** secretAccessKey=***');
    expect(r.stdout).toContain('FERRY_TOKEN=***');
    const j = JSON.parse(ok(await ferry(['config', 'show', '--json'])).stdout) as { servers: Array<Record<string, unknown>>; remotes: Record<string, unknown> };
    expect(j.servers).toEqual([
      { name: 'ferry', server: a.url, token: '***', ca: null, fingerprint: null, default: true },
      { name: 'work', server: b.url, token: '***', ca: null, fingerprint: null, default: false },
    ]);
    expect(j.remotes.bucket).toEqual({ type: 's3', options: { bucket: 'x', accessKeyId: '***', secretAccessKey: '***' } });
  });

  it('logout --name work forgets only that token; --forget the server; the default stays', async () => {
    // --keep-token: work holds B's admin token, which the tests below still use.
    expect(ok(await ferry(['logout', '--name', 'work', '--keep-token'])).stderr).toContain('the token is no longer in');
    const noToken = await ferry(['ls', 'work:/']);
    expect(noToken.code).toBe(4);
    expect(ok(await ferry(['ls', 'ferry:/'])).stdout).toContain('on-a.txt');
    ok(await ferry(['logout', '--name', 'work', '--forget']));
    const gone = await ferry(['ls', 'work:/']);
    expect(gone.code).toBe(2); // no longer a name at all: FERRY_ERR_CONFIG
    expect(JSON.parse(ok(await ferry(['config', 'show', '--json'])).stdout).servers).toHaveLength(1);
  });

  it('on a terminal, login asks for a user, and (left empty) for the token without echoing it', async () => {
    // A real pseudo-terminal through util-linux's script(1); input is typed when the prompts show.
    const { spawn } = await import('node:child_process');
    const { FERRY_BIN, cliEnv } = await import('../helpers/cli.js');
    const cmd = [process.execPath, FERRY_BIN, 'login', b.url, '--name', 'typed'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: cliEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let seen = '';
    const typed = { user: false, token: false };
    child.stdout.on('data', (d: Buffer) => {
      seen += d.toString();
      if (!typed.user && seen.includes('User (leave empty to paste a token instead):')) (typed.user = true), child.stdin.write('\r');
      if (!typed.token && seen.includes('Token:')) (typed.token = true), child.stdin.write(b.adminToken + '\r');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, seen).toBe(0);
    expect(seen).toContain(`logged in to ${b.url} as admin`);
    expect(seen).not.toContain(b.adminToken); // never echoed
    expect(JSON.parse(ok(await ferry(['whoami', '--name', 'typed', '--json'])).stdout)).toMatchObject({ server: b.url });
    ok(await ferry(['logout', '--name', 'typed', '--forget', '--keep-token']));
  });

  it("two logins to one server (the admin's default, a user's --name mine): mine:/ and whoami --name mine act as the user", async () => {
    const admin = { FERRY_SERVER: a.url, FERRY_TOKEN: a.adminToken };
    ok(await runFerry(['user', 'add', 'ana', '--password-stdin'], { env: admin, input: 'ana-secret-pw-1\n' }));
    ok(await ferry(['login', a.url, '-u', 'ana', '--name', 'mine', '-q'], { input: 'ana-secret-pw-1\n' }));
    // Found by name, not by URL: the default login has the same URL and comes first.
    expect(JSON.parse(ok(await ferry(['whoami', '--name', 'mine', '--json'])).stdout)).toMatchObject({ server: a.url, user: 'ana' });
    expect(JSON.parse(ok(await ferry(['whoami', '--json'])).stdout)).toMatchObject({ server: a.url, user: 'admin' });
    expect(ok(await ferry(['ls', 'mine:/'])).stdout).not.toContain('on-a.txt'); // the admin's root, not ana's home
    ok(await ferry(['put', join(dir.path, 'f.txt'), 'mine:/by-ana.txt']));
    expect(ok(await ferry(['ls', 'ferry:/users/ana/'])).stdout).toContain('by-ana.txt');
    expect((await ferry(['stat', 'ferry:/by-ana.txt'])).code).toBe(3);
    // share takes a location too: the link is ana's, on her file (it was a path named "/mine:/by-ana.txt").
    const link = JSON.parse(ok(await ferry(['share', 'mine:/by-ana.txt', '--json'])).stdout) as { userName: string; url: string };
    expect(link.userName).toBe('ana');
    expect(await (await fetch(`${link.url}?download=1`)).text()).toBe('hello');
    const elsewhere = await ferry(['share', 's3:bucket/x']);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain('share links are kept by a Ferry server');
    expect((await ferry(['share', 'nope:/x'])).code).toBe(2);
    // Its token ended (a password change ends the tokens ferry login made): the refusal names
    // this login and how to renew it; it said "(--token) ... check --token", never given.
    ok(await runFerry(['user', 'passwd', 'ana', '--password-stdin'], { env: admin, input: 'ana-secret-pw-2\n' }));
    // sync, copy and check open it through the stores: the same words (they said "(--token)", sync only "the token was revoked").
    const tree = [['sync', dir.path, 'mine:/mirror'], ['copy', 'mine:/', join(dir.path, 'copied')], ['check', dir.path, 'mine:/']];
    for (const args of [['ls', 'mine:/'], ['share', 'mine:/by-ana.txt'], ['versions', 'mine:/by-ana.txt'], ...tree]) {
      const r = await ferry(args);
      expect(r.code, args.join(' ')).toBe(4);
      expect(r.stderr, args.join(' ')).toContain(`the server refused the token (the login saved as mine:): the token was revoked; run \`ferry login ${a.url} --name mine\` again`);
      expect(r.stderr).not.toContain('--token');
    }
    // A named remote's token= is named as that.
    ok(await ferry(['remote', 'add', 'stale', 'ferry', `server=${a.url}`, 'token=ferry_0000000000000000_not-a-token']));
    const stale = await ferry(['ls', 'stale:/']);
    expect(stale.code).toBe(4);
    expect(stale.stderr).toContain('the server refused the token (the token of the remote stale): the token is not valid; give the remote stale a valid token');
    ok(await ferry(['remote', 'rm', 'stale']));
    // Logged out (the server kept): mine:/ and whoami --name mine stop, naming the login; they
    // acted as the default login of the same URL, the admin, with its token
    ok(await ferry(['logout', '--name', 'mine']));
    const loggedOut = `the login saved as mine: holds no token (ferry logout removed it): run ferry login ${a.url} --name mine again, or ferry logout --name mine --forget to drop it (FERRY_ERR_AUTH_REQUIRED)`;
    for (const args of [['whoami', '--name', 'mine'], ['ls', 'mine:/'], ['stat', 'mine:/by-ana.txt'], ['copy', 'mine:/', join(dir.path, 'copied-out')], ['check', dir.path, 'mine:/']]) {
      const r = await ferry(args);
      expect(r.code, args.join(' ')).toBe(4);
      expect(r.stderr, args.join(' ')).toContain(loggedOut);
      expect(r.stdout, args.join(' ')).not.toContain('on-a.txt');
    }
    ok(await ferry(['logout', '--name', 'mine', '--forget']));
  });

  it('login without --token or -u refuses an empty stdin line', async () => {
    const r = await ferry(['login', b.url, '--name', 'other'], { input: '\n' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not a token');
  });
});
