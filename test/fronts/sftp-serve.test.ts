/**
 * `ferry serve --sftp-addr` as a user starts it (the built CLI): host keys made once in
 * DATA/ssh with mode 0600 and their fingerprints printed at start (what ssh-keygen prints
 * for them), the same keys after a restart, FERRY_SFTP_ADDR; and `ferry user key add|ls|rm`
 * end to end, including who may manage whose keys.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddr } from '../../src/cli/commands/serve.js';
import { DEFAULT_SFTP_PORT } from '../../src/server/config.js';
import { runFerry } from '../helpers/cli.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { run, sshOptions, type SftpServer } from '../helpers/sftp.js';

let dir: string;
let server: RunningServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-sftp-serve-'));
});
afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

interface HostKeyLine {
  type: string;
  fingerprint: string;
}

function sshdFingerprint(pubFile: string): string {
  return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubFile]).toString().split(/\s+/)[1];
}

describe('ferry serve --sftp-addr', () => {
  it('makes host keys once (0600), prints their fingerprints, keeps them across restarts', async () => {
    const data = join(dir, 'data');
    server = await startServer({ dataDir: data, env: { FERRY_SFTP_ADDR: '127.0.0.1:0' } });
    const keys = server.ready.sftpHostKeys as HostKeyLine[];
    expect(server.ready.sftp).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(keys.map((k) => k.type)).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256']);
    for (const [file, k] of [['ssh_host_ed25519_key', keys[0]], ['ssh_host_ecdsa_key', keys[1]]] as const) {
      const st = await stat(join(data, 'ssh', file));
      expect(st.mode & 0o777).toBe(0o600);
      expect(sshdFingerprint(join(data, 'ssh', file + '.pub'))).toBe(k.fingerprint);
      expect(server.output()).toContain(`${k.fingerprint} (${k.type})`);
    }
    expect((await stat(join(data, 'ssh'))).mode & 0o777).toBe(0o700);
    await server.stop();
    server = await startServer({ dataDir: data, extraArgs: ['--sftp-addr', '127.0.0.1:0'] });
    expect(server.ready.sftpHostKeys).toEqual(keys);
  });

  it('manages keys with ferry user key add|ls|rm, and the key logs in with sftp', async () => {
    const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken, FERRY_CONFIG: join(dir, 'config.json') };
    expect((await runFerry(['user', 'add', 'kai'], { env })).code).toBe(0);
    const key = join(dir, 'kai_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kai@laptop', '-f', key]);
    const add = await runFerry(['user', 'key', 'add', 'kai', key + '.pub'], { env });
    expect(add.code, add.stderr).toBe(0);
    const fingerprint = sshdFingerprint(key + '.pub');
    expect(add.stderr).toContain(fingerprint);
    // the same key again: refused, nothing changes
    const again = await runFerry(['user', 'key', 'add', 'kai', '-'], { env, input: await readFile(key + '.pub') });
    expect(again.code).toBe(6);
    expect(again.stderr).toMatch(/already registered/);
    // a 1024-bit RSA key and a line with options: refused with the reason
    const weak = join(dir, 'weak');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '1024', '-N', '', '-f', weak]);
    const refused = await runFerry(['user', 'key', 'add', 'kai', weak + '.pub'], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/at least 2048 bits/);
    await writeFile(join(dir, 'opts.pub'), `from="10.0.0.1" ${(await readFile(key + '.pub', 'utf8')).trim()}\n`);
    const withOptions = await runFerry(['user', 'key', 'add', 'kai', join(dir, 'opts.pub')], { env });
    expect(withOptions.code).toBe(2);
    expect(withOptions.stderr).toMatch(/options/);

    const ls = await runFerry(['user', 'key', 'ls', 'kai', '--json'], { env });
    const listed = JSON.parse(ls.stdout) as { id: string; fingerprint: string; comment: string; type: string }[];
    expect(listed).toEqual([expect.objectContaining({ fingerprint, comment: 'kai@laptop', type: 'ssh-ed25519' })]);

    const knownHosts = join(dir, 'known_hosts');
    const port = Number(String(server.ready.sftp).split(':')[1]);
    const pubs = await Promise.all(['ssh_host_ed25519_key.pub', 'ssh_host_ecdsa_key.pub'].map((f) => readFile(join(server.dataDir, 'ssh', f), 'utf8')));
    await writeFile(knownHosts, pubs.map((p) => `[127.0.0.1]:${port} ${p.trim().split(' ').slice(0, 2).join(' ')}\n`).join(''));
    const target = { port, knownHosts } as unknown as SftpServer;
    const sftp = () => run('sftp', [...sshOptions(target, key), '-P', String(port), '-b', '-', 'kai@127.0.0.1'], { input: 'pwd\n' });
    const ok = await sftp();
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Remote working directory: /');

    const rmKey = await runFerry(['user', 'key', 'rm', 'kai', fingerprint], { env });
    expect(rmKey.code, rmKey.stderr).toBe(0);
    expect(JSON.parse((await runFerry(['user', 'key', 'ls', 'kai', '--json'], { env })).stdout)).toEqual([]);
    const denied = await sftp();
    expect(denied.code).toBe(255);
    expect(denied.stderr).toMatch(/Permission denied \(publickey\)/);
  });

  it('lets users manage their own keys with a full token only', async () => {
    const admin = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken, FERRY_CONFIG: join(dir, 'config.json') };
    expect((await runFerry(['user', 'add', 'liv'], { env: admin })).code).toBe(0);
    const full = JSON.parse((await runFerry(['token', 'create', '--user', 'liv', '--json'], { env: admin })).stdout) as { token: string };
    const readOnly = JSON.parse((await runFerry(['token', 'create', '--user', 'liv', '--read-only', '--json'], { env: admin })).stdout) as { token: string };
    const key = join(dir, 'liv_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', key]);
    const asLiv = (token: string) => ({ ...admin, FERRY_TOKEN: token });
    const narrow = await runFerry(['user', 'key', 'add', 'liv', key + '.pub'], { env: asLiv(readOnly.token) });
    expect(narrow.code).toBe(4);
    expect(narrow.stderr).toMatch(/all of your permissions/);
    expect((await runFerry(['user', 'key', 'ls', 'liv'], { env: asLiv(readOnly.token) })).code).toBe(0);
    const own = await runFerry(['user', 'key', 'add', 'liv', key + '.pub'], { env: asLiv(full.token) });
    expect(own.code, own.stderr).toBe(0);
    const others = await runFerry(['user', 'key', 'ls', 'kai'], { env: asLiv(full.token) });
    expect(others.code).toBe(4);
  });

  it("gives clients known_hosts lines with the README's command: OpenSSH's sftp and rclone both check the host against them", async () => {
    const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken, FERRY_CONFIG: join(dir, 'config.json') };
    expect((await runFerry(['user', 'add', 'kit'], { env })).code).toBe(0);
    const key = join(dir, 'kit_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    expect((await runFerry(['user', 'key', 'add', 'kit', key + '.pub'], { env })).code).toBe(0);
    const port = Number(String(server.ready.sftp).split(':')[1]);
    // the command as the README prints it, for this server's data directory and address
    const readme = await readFile(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const shown = /To give clients `known_hosts` lines[^`]*`([^`]+)`/.exec(readme)?.[1];
    expect(shown).toMatch(/^for k in ed25519 ecdsa; do echo /);
    const command = shown!.replaceAll('files.example.com', '127.0.0.1').replaceAll(':2022', `:${port}`).replaceAll('DATA/', `${server.dataDir}/`);
    const knownHosts = join(dir, 'readme_known_hosts');
    await writeFile(knownHosts, execFileSync('bash', ['-c', command]));
    expect((await readFile(knownHosts, 'utf8')).trim().split('\n')).toHaveLength(2);

    const target = { port, knownHosts } as unknown as SftpServer;
    const sftp = await run('sftp', [...sshOptions(target, key), '-P', String(port), '-b', '-', 'kit@127.0.0.1'], { input: 'mkdir in\n' });
    expect(sftp.code, sftp.stderr).toBe(0);
    // rclone (Go's SSH) asks for the ecdsa key: with the ed25519 line alone it failed, "knownhosts: key mismatch"
    const conf = join(dir, 'rclone-kit.conf');
    await writeFile(conf, ['[ferry-sftp]', 'type = sftp', 'host = 127.0.0.1', `port = ${port}`, 'user = kit', `key_file = ${key}`, `known_hosts_file = ${knownHosts}`, 'shell_type = none', ''].join('\n'));
    const lsd = await run('rclone', ['--config', conf, 'lsd', 'ferry-sftp:']);
    expect(lsd.code, lsd.stderr).toBe(0);
    expect(lsd.stdout).toMatch(/ in\n/);
  });

  it('listens on loopback unless told otherwise, on port 2022 unless told otherwise', async () => {
    expect(parseAddr(':2022', DEFAULT_SFTP_PORT, '--sftp-addr')).toEqual({ host: '127.0.0.1', port: 2022 });
    expect(parseAddr('0.0.0.0', DEFAULT_SFTP_PORT, '--sftp-addr')).toEqual({ host: '0.0.0.0', port: 2022 });
    expect(() => parseAddr('::1:99999', DEFAULT_SFTP_PORT, '--sftp-addr')).toThrow(/--sftp-addr/);
  });

  it('exits 2 with a plain message when the SFTP port is in use, and lets go of the data directory', async () => {
    const busy = createNetServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    const data = join(dir, 'sftp-busy');
    try {
      const r = await runFerry(['serve', '--data', data, '--addr', '127.0.0.1:0', '--sftp-addr', `127.0.0.1:${port}`], { timeoutMs: 30_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`ferry: cannot listen on 127.0.0.1:${port}: the port is in use (another server listens there): pick another --sftp-addr, or stop that server (FERRY_ERR_CONFIG)\n`);
      expect(existsSync(join(data, 'ferry.lock'))).toBe(false);
    } finally {
      busy.close();
    }
  });

  it('refuses --sftp-password-auth without --sftp-addr', async () => {
    const r = await runFerry(['serve', '--data', join(dir, 'unused'), '--addr', '127.0.0.1:0', '--sftp-password-auth']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--sftp-password-auth needs --sftp-addr/);
  });
});
