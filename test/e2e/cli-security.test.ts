/**
 * End to end, as an admin and a user meet it: a real `ferry serve --tls-self-signed`, the
 * real CLI. Trusting the certificate (refused, pinned, CA), users, password login, quotas,
 * TTL uploads, share links (fetched with curl), tokens and the audit log.
 */
import { execFile } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, type CliOptions } from '../helpers/cli.js';
import { ok } from '../helpers/e2e.js';
import { tempDir } from '../helpers/files.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const run = promisify(execFile);
let server: RunningServer;
let dir: string;
let cleanup: () => Promise<void>;
let fingerprint = '';
let caFile = '';

beforeAll(async () => {
  const tmp = await tempDir('ferry-e2e-sec-');
  dir = tmp.path;
  cleanup = tmp.cleanup;
  await mkdir(join(dir, 'data'));
  server = await startServer({ dataDir: join(dir, 'data'), extraArgs: ['--tls-self-signed'] });
  caFile = join(dir, 'data', 'tls', 'ca.crt');
  fingerprint = 'SHA256:' + new X509Certificate(await readFile(join(dir, 'data', 'tls', 'server.crt'))).fingerprint256;
});
afterAll(async () => {
  await server?.stop();
  await cleanup?.();
});

/** The CLI with its own config file `name`, no FERRY_* from the environment beyond `env`. */
function as(name: string, args: string[], options: CliOptions & { env?: Record<string, string | undefined> } = {}) {
  return runFerry(args, { ...options, env: { FERRY_CONFIG: join(dir, `${name}.json`), HOME: dir, ...options.env } });
}
/** The admin, trusting the server by its pinned fingerprint through the environment. */
const admin = (args: string[], options: CliOptions = {}) => as('admin', args, { ...options, env: { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken, FERRY_FINGERPRINT: fingerprint } });

describe('TLS trust from the CLI', () => {
  it('refuses the unknown certificate, and tells the user the fingerprint it saw', async () => {
    expect(server.url).toMatch(/^https:/);
    const r = await as('nobody', ['login', server.url, '--token', server.adminToken]);
    expect(r.code).toBe(11);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/not trusted: no trusted CA vouches for it.*--ca FILE.*--fingerprint/);
    expect(lines[0]).toContain(`The server presents ${fingerprint}`);
    expect(lines[0]).toMatch(/\(FERRY_ERR_TLS_UNTRUSTED\)$/);
  });

  it('logs in with a pinned fingerprint and keeps it in the config', async () => {
    ok(await as('pinned', ['login', server.url, '--token', server.adminToken, '--fingerprint', fingerprint.toLowerCase()]));
    const cfg = JSON.parse(await readFile(join(dir, 'pinned.json'), 'utf8')) as Record<string, string>;
    expect(cfg).toMatchObject({ server: server.url, fingerprint });
    ok(await as('pinned', ['mkdir', '-p', '/pinned-ok']));
    const wrong = await as('pinned', ['ls', '/', '--fingerprint', 'SHA256:' + '00:'.repeat(31) + '00']);
    expect(wrong.code).toBe(11);
    expect(wrong.stderr).toMatch(/not the pinned SHA256:00:00/);
  });

  it('logs in trusting the CA file, and keeps its path in the config', async () => {
    ok(await as('ca', ['login', server.url, '--token', server.adminToken, '--ca', caFile]));
    expect(JSON.parse(await readFile(join(dir, 'ca.json'), 'utf8'))).toMatchObject({ ca: caFile });
    ok(await as('ca', ['ls', '/']));
  });
});

describe('users, password login, quota, TTL, shares, tokens, audit', () => {
  it('the whole round as an admin and a user would do it', async () => {
    // The admin makes a user with a password (from stdin) and a small quota.
    ok(await admin(['user', 'add', 'ana', '--password-stdin', '--quota', '8M'], { input: 'ana-password-1\n' }));
    const users = JSON.parse(ok(await admin(['user', 'ls', '--json'])).stdout) as { name: string; quotaBytes: number }[];
    expect(users.find((u) => u.name === 'ana')?.quotaBytes).toBe(8 * 1024 * 1024);

    // Ana logs in with her password (never on the command line) and the fingerprint.
    const wrongPw = await as('ana', ['login', server.url, '-u', 'ana', '--password-stdin', '--fingerprint', fingerprint], { input: 'nope-nope\n' });
    expect(wrongPw.code).toBe(4);
    ok(await as('ana', ['login', server.url, '-u', 'ana', '--password-stdin', '--fingerprint', fingerprint], { input: 'ana-password-1\n' }));
    const anaCfg = JSON.parse(await readFile(join(dir, 'ana.json'), 'utf8')) as { token: string };
    expect(anaCfg.token).toMatch(/^ferry_[0-9a-f]{16}_/);

    // She uploads with a TTL and downloads chunk by chunk through her own file.
    const data = randomBytes(5 * 1024 * 1024 + 123);
    await writeFile(join(dir, 'big.bin'), data);
    ok(await as('ana', ['put', '--ttl', '1h', join(dir, 'big.bin'), '/big.bin']));
    const st = JSON.parse(ok(await as('ana', ['stat', '--json', '/big.bin'])).stdout) as { expiresAt?: number; size: number };
    expect(st.size).toBe(data.length);
    expect(st.expiresAt).toBeGreaterThan(Date.now() + 3_500_000);
    ok(await as('ana', ['get', '/big.bin', join(dir, 'back.bin')]));
    expect((await readFile(join(dir, 'back.bin'))).equals(data)).toBe(true);

    // Quota: 8 MiB; another 5 MiB does not fit (exit 8), and `ferry quota` says why.
    const over = await as('ana', ['put', join(dir, 'big.bin'), '/again.bin']);
    expect(over.code).toBe(8);
    expect(over.stderr).toMatch(/quota exceeded.*FERRY_ERR_QUOTA_EXCEEDED/);
    const q = JSON.parse(ok(await as('ana', ['quota', '--json'])).stdout) as { usage: { bytes: number; files: number }; limits: { quotaBytes: number } };
    expect(q).toMatchObject({ usage: { bytes: data.length, files: 1 }, limits: { quotaBytes: 8 * 1024 * 1024 } });
    expect(ok(await as('ana', ['quota'])).stdout).toMatch(/bytes: +5\.0\d? MiB of 8\.00 MiB \(62\.\d%\)/);
    expect(JSON.parse(ok(await admin(['quota', 'ana', '--json'])).stdout).usage.files).toBe(1);

    // A share link with one download, fetched by curl trusting the server's CA.
    await writeFile(join(dir, 'note.txt'), 'for your eyes');
    ok(await as('ana', ['put', join(dir, 'note.txt'), '/note.txt']));
    const link = ok(await as('ana', ['share', '/note.txt', '--max-downloads', '1', '--expires', '1d'])).stdout.trim();
    expect(link).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/s\/[A-Za-z0-9_-]{43}$/);
    const first = await run('curl', ['-sS', '--cacert', caFile, '-w', ' %{http_code}', link]);
    expect(first.stdout).toBe('for your eyes 200');
    const second = await run('curl', ['-sS', '--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code}', link]);
    expect(second.stdout).toBe('410');
    const shares = JSON.parse(ok(await as('ana', ['share', 'ls', '--json'])).stdout) as { id: string; uses: number }[];
    expect(shares[0].uses).toBe(1);
    ok(await as('ana', ['share', 'revoke', shares[0].id]));

    // A read-only token of hers reads but cannot write (exit 4); revoked, it cannot even read.
    const ro = ok(await as('ana', ['token', 'create', '--read-only', '--name', 'viewer'])).stdout.trim();
    ok(await as('ro', ['ls', '/'], { env: { FERRY_SERVER: server.url, FERRY_TOKEN: ro, FERRY_FINGERPRINT: fingerprint } }));
    const denied = await as('ro', ['mkdir', '/x'], { env: { FERRY_SERVER: server.url, FERRY_TOKEN: ro, FERRY_FINGERPRINT: fingerprint } });
    expect(denied.code).toBe(4);
    expect(denied.stderr).toMatch(/lacks the 'mkdir' scope.*FERRY_ERR_FORBIDDEN/);
    const tokens = JSON.parse(ok(await as('ana', ['token', 'ls', '--json'])).stdout) as { id: string; name: string }[];
    ok(await as('ana', ['token', 'revoke', tokens.find((x) => x.name === 'viewer')!.id]));
    expect((await as('ro', ['ls', '/'], { env: { FERRY_SERVER: server.url, FERRY_TOKEN: ro, FERRY_FINGERPRINT: fingerprint } })).code).toBe(4);

    // Ana is not an admin.
    expect((await as('ana', ['user', 'ls'])).code).toBe(4);

    // The admin narrows her rights, changes her password, reads the audit log.
    ok(await admin(['user', 'grant', 'ana', '/', 'list,read']));
    expect((await as('ana', ['mkdir', '/y'])).code).toBe(4);
    ok(await admin(['user', 'passwd', 'ana', '--password-stdin'], { input: 'ana-password-2\n' }));
    const audit = ok(await admin(['admin', 'audit', '--since', '1h', '--user', 'ana', '--json']))
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; ok: boolean });
    const events = new Set(audit.map((e) => `${e.event}:${e.ok}`));
    for (const e of ['auth.login:true', 'auth.login:false', 'token.create:true', 'token.revoke:true', 'share.create:true', 'share.use:true', 'share.revoke:true', 'quota.exceeded:false', 'access.denied:false']) {
      expect(events, e).toContain(e);
    }
    expect(ok(await admin(['admin', 'audit', '--since', '1h', '--event', 'user.'])).stdout).toMatch(/user\.create.*\n(.|\n)*user\.grant|user\.grant(.|\n)*user\.create/);

    // Removing her ends her tokens at once.
    ok(await admin(['user', 'rm', 'ana']));
    expect((await as('ana', ['ls', '/'])).code).toBe(4);
  });

  it('changes your own password, with the current one', async () => {
    ok(await admin(['user', 'add', 'bo', '--password-stdin'], { input: 'bo-password-1\n' }));
    ok(await as('bo', ['login', server.url, '-u', 'bo', '--password-stdin', '--fingerprint', fingerprint], { input: 'bo-password-1\n' }));
    const bad = await as('bo', ['user', 'passwd', '--password-stdin'], { input: 'not-it-at-all\nbo-password-2\n' });
    expect(bad.code).toBe(4);
    ok(await as('bo', ['user', 'passwd', '--password-stdin'], { input: 'bo-password-1\nbo-password-2\n' }));
    ok(await as('bo2', ['login', server.url, '-u', 'bo', '--password-stdin', '--fingerprint', fingerprint], { input: 'bo-password-2\n' }));
  });
});
