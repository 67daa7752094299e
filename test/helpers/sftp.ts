/**
 * The SFTP front under test: an in-process Ferry server with `--sftp-addr` on a free
 * loopback port, users with SSH keys made by ssh-keygen, and the real clients (OpenSSH's
 * `sftp -b` and `scp`, rclone's sftp remote) pointed at it with a known_hosts file holding
 * exactly the host keys the server reported, so every connection also checks them.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { ServerConfig } from '../../src/server/config.js';
import { startTestServer, type TestServer } from './in-process-server.js';
import { addUser } from './users.js';

export interface SftpServer {
  t: TestServer;
  port: number;
  /** Scratch directory of the suite: keys, known_hosts, local files. */
  dir: string;
  knownHosts: string;
  close(): Promise<void>;
}

export interface SshUser {
  name: string;
  /** Private key file (ed25519, no passphrase). */
  key: string;
  publicKey: string;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function ensureClients(): void {
  const missing = ['/usr/bin/sftp', '/usr/bin/scp', '/usr/bin/ssh-keygen', '/usr/bin/rclone'].filter((f) => !existsSync(f));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`the SFTP suites need ${missing.join(', ')} (apt-get install openssh-client rclone)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'openssh-client', 'rclone'], { stdio: 'ignore', env });
}

export async function startSftpServer(overrides: Partial<ServerConfig> = {}, sftp: { passwordAuth?: boolean } = {}): Promise<SftpServer> {
  ensureClients();
  const dir = await mkdtemp(join(tmpdir(), 'ferry-sftp-test-'));
  const t = await startTestServer({ sftp: { host: '127.0.0.1', port: 0, passwordAuth: sftp.passwordAuth ?? false }, ...overrides });
  const info = t.server.sftp;
  if (!info) throw new Error('the server did not start its SFTP front');
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, info.hostKeys.map((k) => `[127.0.0.1]:${info.port} ${k.publicKey}\n`).join(''));
  return {
    t,
    port: info.port,
    dir,
    knownHosts,
    async close() {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh ed25519 key pair in the suite's directory. */
export async function newKey(s: SftpServer, name: string): Promise<{ key: string; publicKey: string }> {
  const key = join(s.dir, `key-${name}`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@test`, '-f', key]);
  return { key, publicKey: (await readFile(key + '.pub', 'utf8')).trim() };
}

/** A user (created through the admin API) with an SSH key registered. */
export async function sshUser(s: SftpServer, name: string, body: Record<string, unknown> = {}): Promise<SshUser> {
  await addUser(s.t, name, body);
  const k = await newKey(s, name);
  const r = await s.t.api(`/api/v1/users/${name}/keys`, { method: 'POST', json: { keys: k.publicKey } });
  if (r.status !== 201) throw new Error(`add key: ${r.status} ${await r.text()}`);
  return { name, ...k };
}

/** ssh options: only this key, no agent, no config file, the suite's known_hosts checked strictly. */
export function sshOptions(s: SftpServer, key: string): string[] {
  return [
    '-F', '/dev/null',
    '-i', key,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'BatchMode=yes',
    '-o', `UserKnownHostsFile=${s.knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=20',
  ];
}

export function run(cmd: string, args: string[], options: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  return collect(child, options.input);
}

export function collect(child: ChildProcess, input?: string): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(input ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `sftp -b -` with `commands` on stdin (a failing command fails the run). */
export function spawnSftp(s: SftpServer, user: SshUser, commands: string[], extra: string[] = [], cwd?: string): ChildProcess {
  const child = spawn('sftp', [...sshOptions(s, user.key), '-P', String(s.port), ...extra, '-b', '-', `${user.name}@127.0.0.1`], { cwd: cwd ?? s.dir, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(commands.join('\n') + '\n');
  return child;
}

export async function sftpBatch(s: SftpServer, user: SshUser, commands: string[], extra: string[] = [], cwd?: string): Promise<Run> {
  const child = spawnSftp(s, user, commands, extra, cwd);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `scp` between the suite's directory and the server (`remote:` marks the remote side). */
export function scp(s: SftpServer, user: SshUser, args: string[]): Promise<Run> {
  const mapped = args.map((a) => (a.startsWith('remote:') ? `${user.name}@127.0.0.1:${a.slice('remote:'.length)}` : a));
  return run('scp', [...sshOptions(s, user.key), '-P', String(s.port), ...mapped], { cwd: s.dir });
}

/** sshfs and fusermount3 from Debian's sshfs package (installed when missing, as root). */
export function ensureSshfs(): void {
  if (existsSync('/usr/bin/sshfs') && existsSync('/usr/bin/fusermount3')) return;
  if (process.getuid?.() !== 0) throw new Error('the sshfs tests need sshfs (apt-get install sshfs) and root');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'sshfs'], { stdio: 'ignore', env });
}

/** The ssh options of {@link sshOptions} as one sshfs `-o` value. */
export function sshfsOptions(s: SftpServer, key: string): string {
  const opts = sshOptions(s, key).filter((o) => o !== '-F' && o !== '/dev/null');
  const out: string[] = [];
  for (let i = 0; i < opts.length; i += 2) out.push(opts[i] === '-i' ? `IdentityFile=${opts[i + 1]}` : opts[i + 1]);
  return out.join(',');
}

/** An rclone config with an sftp remote `ferry:` for `user` (rclone's setting for servers without a shell). */
export async function rcloneConfig(s: SftpServer, user: SshUser): Promise<string> {
  const file = join(s.dir, `rclone-${user.name}.conf`);
  await writeFile(
    file,
    ['[ferry]', 'type = sftp', 'host = 127.0.0.1', `port = ${s.port}`, `user = ${user.name}`, `key_file = ${user.key}`, `known_hosts_file = ${s.knownHosts}`, 'shell_type = none', ''].join('\n'),
  );
  return file;
}

/** An ssh2 client logged in as `user` (for requests OpenSSH's client does not make). */
export function sshClient(s: SftpServer, login: { username: string; privateKey?: Buffer; password?: string }): Promise<ssh2.Client> {
  const client = new ssh2.Client();
  return new Promise((resolve, reject) => {
    client.once('ready', () => {
      client.setNoDelay(true); // one request at a time: without it, Nagle and delayed ACKs add ~40 ms each
      resolve(client);
    });
    client.once('error', reject);
    client.connect({ host: '127.0.0.1', port: s.port, ...login, readyTimeout: 20_000, tryKeyboard: false });
  });
}

/** The ssh2 SFTP client of a connection. */
export function sftpOf(client: ssh2.Client): Promise<ssh2.SFTPWrapper> {
  return new Promise((resolve, reject) => client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp))));
}

/** The raw `sftp` subsystem stream of a connection (to send hand-made packets). */
export function rawSftp(client: ssh2.Client): Promise<ssh2.ClientChannel> {
  return new Promise((resolve, reject) => client.subsys('sftp', (err, stream) => (err ? reject(err) : resolve(stream))));
}
