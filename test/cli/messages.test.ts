/**
 * What the CLI prints, read as a user or a script would: `--json` stdout is valid JSON or
 * nothing, counts agree with their nouns ("1 file", "1 use"), a refusal that is about no
 * file is not reported as a failed file, and `stat` shows when a file expires.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';
import { seededBytes } from '../helpers/files.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

describe('--json', () => {
  it('empty listings say so on stderr, each with how to make the first, not a bare table header: share ls, user key ls, admin bans, webhook ls and log, remote ls, audit', async () => {
    ok(await w.ferry(['user', 'add', 'keyless']));
    // With --json: [] for a list (remote ls too), nothing for the one-object-a-line commands (webhook log, audit).
    const cases: Array<[string[], string, string]> = [
      [['share', 'ls', '--all'], 'no share links (ferry share PATH makes one)\n', '[]\n'],
      [['user', 'key', 'ls', 'keyless'], 'keyless has no SSH keys (ferry user key add keyless ~/.ssh/id_ed25519.pub adds one)\n', '[]\n'],
      [['admin', 'bans'], 'no address is banned\n', '[]\n'],
      [['admin', 'webhook', 'ls'], 'no webhooks (ferry admin webhook add URL --events upload,… adds one)\n', '[]\n'],
      [['remote', 'ls'], 'no named remotes (ferry remote add NAME TYPE key=value…, or ferry remote import)\n', '[]\n'],
      [['admin', 'webhook', 'log'], 'no deliveries yet\n', ''],
      [['admin', 'audit', '--user', 'nobody-at-all'], 'no audit entries match\n', ''],
    ];
    // First in this file: nothing of any kind has been made in this world yet.
    for (const [args, said, json] of cases) {
      const r = ok(await w.ferry(args));
      expect([r.stdout, r.stderr], args.join(' ')).toEqual(['', said]);
      const j = ok(await w.ferry([...args, '--json']));
      expect([j.stdout, j.stderr], args.join(' ')).toEqual([json, '']);
    }
    ok(await w.ferry(['user', 'rm', 'keyless']));
  });

  it('ls --json of a missing path: nothing on stdout, the error as JSON on stderr, exit 3', async () => {
    const r = await w.ferry(['ls', '--json', '/missing']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: 'FERRY_ERR_NOT_FOUND' } });
  });

  it('a usage mistake under --json: the error as JSON on stderr too, nothing on stdout, exit 2', async () => {
    for (const args of [['ls', '--json', '--bogus'], ['put', '--json'], ['ls', '--json', '/a', '/b'], ['share', '--json', '/x', '--expires', '0'], ['bogus', '--json']]) {
      const r = await w.ferry(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      const body = JSON.parse(r.stderr) as { error: { code: string; message: string } };
      expect(body.error.code, args.join(' ')).toBe('FERRY_ERR_USAGE');
      expect(body.error.message, args.join(' ')).toMatch(/\(run with --help for usage\)$/);
    }
    // Without --json, commander's own two lines, as before.
    expect((await w.ferry(['ls', '--bogus'])).stderr).toBe("error: unknown option '--bogus'\n(run with --help for usage)\n");
  });

  it('ls --json of an empty directory and of a full one is valid JSON', async () => {
    ok(await w.ferry(['mkdir', '/empty']));
    const empty = ok(await w.ferry(['ls', '--json', '/empty']));
    expect(JSON.parse(empty.stdout)).toEqual([]);
    const src = join(w.dir, 'two');
    await mkdir(src);
    await writeFile(join(src, 'a'), 'a');
    await writeFile(join(src, 'b'), 'b');
    ok(await w.ferry(['put', '-q', '-r', src, '/two']));
    const full = ok(await w.ferry(['ls', '--json', '/two']));
    expect((JSON.parse(full.stdout) as Array<{ name: string }>).map((e) => e.name)).toEqual(['a', 'b']);
  });
});

describe('counts and nouns', () => {
  it('"transferred 1 file", and a --max-delete refusal is not "1 files failed"', async () => {
    const src = join(w.dir, 'one');
    await mkdir(src);
    await writeFile(join(src, 'only.txt'), 'only');
    const up = ok(await w.ferry(['sync', src, 'ferry:/one']));
    expect(up.stderr).toMatch(/^ferry sync: transferred 1 file \(4 B\)/);
    ok(await w.ferry(['put', '-q', join(src, 'only.txt'), '/one/extra.txt']));
    const refused = await w.ferry(['sync', '--max-delete', '0', src, 'ferry:/one']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('not deleting 1 file: more than --max-delete 0');
    // Said once, not again in a "skipped deletes" line and the exit line.
    expect(refused.stderr.split('not deleting').length - 1).toBe(1);
    expect(refused.stderr).not.toMatch(/files? failed/);
    expect(refused.stderr).not.toMatch(/\b1 files\b/);
  });

  it('put says how much went on the wire when compression saved some, and --json has it as wireBytes', async () => {
    const logs = Array.from({ length: 40_000 }, (_, i) => `{"i":${i},"level":"info","msg":"request ${i % 89} handled"}`).join('\n');
    await writeFile(join(w.dir, 'logs.json'), logs);
    const text = ok(await w.ferry(['put', join(w.dir, 'logs.json'), '/logs.json']));
    expect(text.stderr).toMatch(/; [\d.]+ (?:KiB|MiB) transferred \([\d.]+ KiB on the wire\)/);
    const json = ok(await w.ferry(['put', '--json', join(w.dir, 'logs.json'), '/logs-2.json']));
    expect(JSON.parse(json.stdout)).toMatchObject({ bytesTransferred: 0, wireBytes: 0 });
    await writeFile(join(w.dir, 'noise.bin'), seededBytes('noise', 300_000));
    const noise = ok(await w.ferry(['put', '--json', join(w.dir, 'noise.bin'), '/noise.bin']));
    const r = JSON.parse(noise.stdout) as { bytesTransferred: number; wireBytes: number };
    expect(r.bytesTransferred).toBe(300_000);
    // Incompressible: its bytes as they are, and the 36-byte frame of a chunk sent in a pack
    // (a chunk under the pack threshold, as the file's last one may be).
    expect(r.wireBytes - r.bytesTransferred).toBeGreaterThanOrEqual(0);
    expect(r.wireBytes - r.bytesTransferred).toBeLessThanOrEqual(2 * 36);
    const plain = ok(await w.ferry(['put', join(w.dir, 'noise.bin'), '/noise-2.bin']));
    expect(plain.stderr).not.toContain('on the wire');
  });

  it('a share link with one use says "1 use"', async () => {
    ok(await w.ferry(['put', '-q', join(w.dir, 'one', 'only.txt'), '/shared.txt']));
    const made = ok(await w.ferry(['share', '/shared.txt', '--max-downloads', '1']));
    expect(made.stderr).toMatch(/: download link, no expiry, 1 use\n$/);
    const two = ok(await w.ferry(['share', '/shared.txt', '--max-downloads', '2']));
    expect(two.stderr).toMatch(/, 2 uses\n$/);
  });

  it('share --expires: a link cut short by its token says so; past a year the flag is named, not the API field', async () => {
    ok(await w.ferry(['put', '-q', join(w.dir, 'one', 'only.txt'), '/cut.txt']));
    const made = JSON.parse(ok(await w.ferry(['token', 'create', '--expires', '2h', '--name', 'short', '--json'])).stdout) as { token: string };
    const short = { env: { FERRY_TOKEN: made.token } };
    const note = '(when the token that made it expires: a link never outlives it; ferry whoami shows it)';
    // --expires 7d gave a link of 2 hours, and nothing said why.
    expect(ok(await w.ferry(['share', '/cut.txt', '--expires', '7d'], short)).stderr).toContain(note);
    expect(ok(await w.ferry(['share', '/cut.txt'], short)).stderr).toContain(note);
    // As asked: no note.
    expect(ok(await w.ferry(['share', '/cut.txt', '--expires', '1h'], short)).stderr).not.toContain(note);
    expect(ok(await w.ferry(['share', '/cut.txt', '--expires', '7d'])).stderr).not.toContain(note);
    const year = await w.ferry(['share', '/cut.txt', '--expires', '400d']);
    expect(year.code).toBe(2);
    expect(year.stderr).toContain('--expires may be at most 365d (a link lives a year at most)');
    expect(year.stderr).not.toContain('expiresInSeconds');
  });

  it('login --expires past a year (its --help: "at most 1y") names the flag, before the password is read', async () => {
    ok(await w.ferry(['user', 'add', 'expiring', '--password-stdin'], { input: 'a long enough password 42\n' }));
    const env = { FERRY_SERVER: undefined, FERRY_TOKEN: undefined, FERRY_CONFIG: join(w.dir, 'expiring-config.json') };
    const args = (expires: string) => ['login', w.server.url, '-u', 'expiring', '--password-stdin', '--expires', expires, '-q'];
    // It came after the password, as the server's "expiresInSeconds may be at most 31536000" (exit 2).
    const tooLong = await w.ferry(args('2y'), { input: 'a long enough password 42\n', env });
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain("--expires may be at most 365d (a login's token lives a year at most)");
    expect(tooLong.stderr).not.toContain('expiresInSeconds');
    // Checked before stdin is read: no password given, and still the flag is what is refused.
    const noPassword = await w.ferry(args('400d'), { input: '', env });
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toContain('--expires may be at most 365d');
    expect((await w.ferry(args('0s'), { input: '', env })).stderr).toContain('--expires must be at least 1s');
    // A year is taken.
    ok(await w.ferry(args('1y'), { input: 'a long enough password 42\n', env }));
    const who = JSON.parse(ok(await w.ferry(['whoami', '--json'], { env })).stdout) as { user: string; expiresAt: number };
    expect(who.user).toBe('expiring');
    expect(who.expiresAt - Date.now()).toBeGreaterThan(364 * 86_400_000);
  });

  it('token revoke and share revoke with --json say what was revoked on stdout', async () => {
    const token = JSON.parse(ok(await w.ferry(['token', 'create', '--json'])).stdout) as { id: string };
    const revoked = ok(await w.ferry(['token', 'revoke', token.id, '--json']));
    expect(JSON.parse(revoked.stdout)).toEqual({ revoked: token.id, sharesRevoked: 0 });
    expect(revoked.stderr).toBe('');
    const link = JSON.parse(ok(await w.ferry(['share', '/shared.txt', '--json'])).stdout) as { id: string };
    expect(JSON.parse(ok(await w.ferry(['share', 'revoke', link.id, '--json'])).stdout)).toEqual({ revoked: link.id });
    const again = await w.ferry(['token', 'revoke', 'nope', '--json']);
    expect(again.code).toBe(3);
    expect(again.stdout).toBe('');
    expect(JSON.parse(again.stderr)).toMatchObject({ error: { code: 'FERRY_ERR_NOT_FOUND' } });
  });

  it('user key add with the private key file, or a file that is not there: refused here, in words, before any request', async () => {
    const key = join(w.dir, 'slip_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'slip@laptop', '-f', key]);
    // No server listens on port 2: a refusal that needed one would be a connection error, not this.
    const nowhere = { env: { FERRY_SERVER: 'http://127.0.0.1:2', FERRY_TOKEN: 'ferry_0000000000000000_x' } };
    const priv = await w.ferry(['user', 'key', 'add', 'me', key], nowhere);
    expect([priv.code, priv.stderr]).toEqual([2, `ferry: ${key} is a private key, which stays on this machine (nothing was sent): give the public one, ${key}.pub (FERRY_ERR_USAGE)\n`]);
    const piped = await w.ferry(['user', 'key', 'add', 'me', '-'], { ...nowhere, input: await readFile(key, 'utf8') });
    expect([piped.code, piped.stderr]).toEqual([2, 'ferry: stdin holds a private key, which stays on this machine (nothing was sent): give the public one (FERRY_ERR_USAGE)\n']);
    // It was 'unexpected error: ENOENT: no such file or directory, stat ...' (exit 70).
    const missing = await w.ferry(['user', 'key', 'add', 'me', join(w.dir, 'no_such.pub')], nowhere);
    expect([missing.code, missing.stderr]).toEqual([3, `ferry: ${join(w.dir, 'no_such.pub')}: no such file (a public key file, such as ~/.ssh/id_ed25519.pub; ssh-keygen -t ed25519 makes one) (FERRY_ERR_NOT_FOUND)\n`]);
    const dir = await w.ferry(['user', 'key', 'add', 'me', w.dir], nowhere);
    expect([dir.code, dir.stderr]).toEqual([2, `ferry: ${w.dir} is not a file: give a public key file, such as ~/.ssh/id_ed25519.pub (FERRY_ERR_USAGE)\n`]);
  });

  it('rm-like commands with --json say what was removed on stdout, and only there: user, key, webhook, remote, unban, logout', async () => {
    const quiet = (r: { stdout: string; stderr: string }) => {
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout) as unknown;
    };
    ok(await w.ferry(['user', 'add', 'gone']));
    const key = join(w.dir, 'gone_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'gone@laptop', '-f', key]);
    const [added] = JSON.parse(ok(await w.ferry(['user', 'key', 'add', 'gone', key + '.pub', '--json'])).stdout) as { id: string }[];
    expect(quiet(ok(await w.ferry(['user', 'key', 'rm', 'gone', added.id, '--json'])))).toEqual({ user: 'gone', removed: added.id });
    expect(quiet(ok(await w.ferry(['user', 'rm', 'gone', '--json'])))).toEqual({ removed: 'gone' });
    const hook = JSON.parse(ok(await w.ferry(['admin', 'webhook', 'add', 'http://127.0.0.1:2/hook', '--events', 'delete', '--json'])).stdout) as { id: string };
    expect(quiet(ok(await w.ferry(['admin', 'webhook', 'rm', hook.id, '--json'])))).toEqual({ removed: hook.id });
    const remote = quiet(ok(await w.ferry(['remote', 'add', 'pics', 's3', 'bucket=pics', 'secret_access_key=SK', 'provider=Minio', '--json'])));
    expect(remote).toMatchObject({ name: 'pics', type: 's3', options: { bucket: 'pics', secretAccessKey: '***' }, notSaved: ['provider'] });
    expect(JSON.stringify(remote)).not.toContain('SK"');
    expect(quiet(ok(await w.ferry(['remote', 'rm', 'pics', '--json'])))).toEqual({ removed: 'pics' });
    // A failure is the error as JSON on stderr and nothing on stdout, as everywhere.
    for (const args of [['admin', 'unban', '10.9.9.9', '--json'], ['user', 'rm', 'gone', '--json'], ['admin', 'webhook', 'rm', hook.id, '--json']]) {
      const r = await w.ferry(args);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stdout).toBe('');
      expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: 'FERRY_ERR_NOT_FOUND' } });
    }
    const saved = { FERRY_SERVER: undefined, FERRY_TOKEN: undefined };
    ok(await w.ferry(['login', w.server.url, '--token', '-', '-q'], { input: w.server.adminToken + '\n', env: saved }));
    const out = quiet(ok(await w.ferry(['logout', '--keep-token', '--json'], { env: saved }))) as { file: string };
    expect(out).toMatchObject({ name: 'ferry', loggedOut: true, revoked: false, revoke: 'kept', forgotten: false });
    expect(JSON.parse(await readFile(out.file, 'utf8'))).not.toHaveProperty('token');
    expect(quiet(ok(await w.ferry(['logout', '--json'], { env: saved })))).toMatchObject({ loggedOut: false });
  });

  it('versions and trash ls with nothing to list (versions and trash off) say so on stderr, not a bare table header', async () => {
    await writeFile(join(w.dir, 'twice.txt'), 'one');
    ok(await w.ferry(['put', join(w.dir, 'twice.txt'), '/twice.txt']));
    await writeFile(join(w.dir, 'twice.txt'), 'two');
    ok(await w.ferry(['put', join(w.dir, 'twice.txt'), '/twice.txt']));
    const none = ok(await w.ferry(['versions', '/twice.txt']));
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe('versioning is off for /twice.txt: the server keeps no old versions of it (its versions setting, keep or days, is 0 for this path: an admin sets it in the server\'s config file, README "Versions and trash")\n');
    expect(JSON.parse(ok(await w.ferry(['versions', '/twice.txt', '--json'])).stdout)).toEqual([]);
    expect((await w.ferry(['versions', '/never-there.txt'])).code).toBe(3);
    ok(await w.ferry(['rm', '/twice.txt']));
    const trash = ok(await w.ferry(['trash', 'ls', '/']));
    expect(trash.stdout).toBe('');
    // trashDays 0 (this server): said as such, not as "none were deleted, or the server keeps none".
    expect(trash.stderr).toBe('no deleted files in /: deletes are final on this server (its trashDays setting is 0, the default; an admin sets trashDays: 30 in the server\'s config file, README "Versions and trash")\n');
  });

  it('share --expires below a second is refused by the flag, in its own words, and makes no link', async () => {
    const before = JSON.parse(ok(await w.ferry(['share', 'ls', '--json'])).stdout) as unknown[];
    for (const d of ['0', '0s', '400ms']) {
      const r = await w.ferry(['share', '/shared.txt', '--expires', d]);
      expect(r.code, d).toBe(2);
      expect(r.stderr, d).toContain('--expires must be at least 1s');
      expect(r.stderr, d).not.toContain('expiresInSeconds');
    }
    expect(JSON.parse(ok(await w.ferry(['share', 'ls', '--json'])).stdout)).toHaveLength(before.length);
  });
});

describe('stat', () => {
  it('shows when a file with a TTL expires (and --json carries expiresAt)', async () => {
    const before = Date.now();
    ok(await w.ferry(['put', '-q', '--ttl', '7d', join(w.dir, 'one', 'only.txt'), '/ttl.txt']));
    const text = ok(await w.ferry(['stat', '/ttl.txt'])).stdout;
    const line = text.split('\n').find((l) => l.startsWith('expires:'));
    expect(line).toMatch(/^expires: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((\d+); deleted then, --ttl\)$/);
    const at = Number(/\((\d+);/.exec(line!)![1]);
    expect(at).toBeGreaterThanOrEqual(before + 7 * 86_400_000);
    expect(at).toBeLessThan(Date.now() + 7 * 86_400_000 + 1000);
    const json = JSON.parse(ok(await w.ferry(['stat', '--json', '/ttl.txt'])).stdout) as { expiresAt: number };
    expect(json.expiresAt).toBe(at);
    expect(ok(await w.ferry(['stat', '/one/only.txt'])).stdout).not.toContain('expires:');
  });
});
