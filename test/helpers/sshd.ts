/**
 * Starts OpenSSH's sshd on a loopback port with a throwaway configuration, for the sftp tests.
 *
 * Needs root (sshd switches to the logging-in user) and the openssh-server package, which it
 * installs with apt-get when missing (CI installs it up front: .ci/debian-packages). Makes,
 * in a temporary directory: a host key, a client key pair authorized for root, a known_hosts
 * file naming the server, and a test user with a random password for password logins.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitForPort } from '../../benchmarks/peers/net.js';

export interface SshdHandle {
  port: number;
  /** The listening sshd; each connection is served by a child of it. */
  pid: number;
  /** Holds keys, config and log; `root` is where the tests keep their files. */
  dir: string;
  /** A directory both root and the password user may write. */
  root: string;
  clientKeyFile: string;
  knownHostsFile: string;
  hostKeyFingerprint: string;
  passwordUser: { name: string; password: string };
  stop(): Promise<void>;
}

const SSHD = '/usr/sbin/sshd';
const PASSWORD_USER = 'ferry-sftp-test';

function ensureOpenSsh(): void {
  if (existsSync(SSHD) && existsSync('/usr/bin/ssh-keygen')) return;
  if (process.getuid?.() !== 0) throw new Error('the sftp tests need openssh-server (apt-get install openssh-server openssh-client) and root');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'openssh-server', 'openssh-client'], { stdio: 'ignore', env });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const PASSWORD_FILE = '/var/tmp/ferry-sftp-test-password';

function userExists(): boolean {
  try {
    execFileSync('id', [PASSWORD_USER], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The unprivileged test user for password logins, and its password: one per machine, made
 * once under a lock and kept in a root-only file. Suites start several sshd at once (one
 * test file each, in parallel); giving the user a new password per sshd made the earlier
 * ones' logins fail.
 */
function passwordUser(home: string): string {
  const lock = PASSWORD_FILE + '.lock';
  for (let waited = 0; ; waited += 50) {
    if (existsSync(PASSWORD_FILE) && userExists()) return readFileSync(PASSWORD_FILE, 'utf8').trim();
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (waited > 20_000) rmSync(lock, { recursive: true, force: true }); // a crashed holder
      sleepSync(50);
    }
  }
  try {
    if (existsSync(PASSWORD_FILE) && userExists()) return readFileSync(PASSWORD_FILE, 'utf8').trim();
    const password = randomBytes(12).toString('base64url');
    if (!userExists()) execFileSync('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', PASSWORD_USER], { stdio: 'ignore' });
    execFileSync('chpasswd', [], { input: `${PASSWORD_USER}:${password}\n`, stdio: ['pipe', 'ignore', 'ignore'] });
    writeFileSync(PASSWORD_FILE + '.tmp', password + '\n', { mode: 0o600 });
    renameSync(PASSWORD_FILE + '.tmp', PASSWORD_FILE);
    return password;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export async function startSshd(): Promise<SshdHandle> {
  ensureOpenSsh();
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-sshd-'));
  await chmod(dir, 0o755);
  const root = path.join(dir, 'files');
  await mkdir(root, { mode: 0o777 });
  await chmod(root, 0o777);
  const hostKey = path.join(dir, 'host_key');
  const clientKeyFile = path.join(dir, 'client_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKeyFile]);
  const authorizedKeys = path.join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, await readFile(clientKeyFile + '.pub'));
  const hostPub = (await readFile(hostKey + '.pub', 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  const knownHostsFile = path.join(dir, 'known_hosts');
  const hostKeyFingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', hostKey + '.pub']).toString().split(/\s+/)[1];

  const password = passwordUser(root);
  const uid = Number(execFileSync('id', ['-u', PASSWORD_USER]).toString().trim());
  await chown(root, uid, 0);

  const config = path.join(dir, 'sshd_config');
  const log = path.join(dir, 'sshd.log');
  const pidFile = path.join(dir, 'sshd.pid');
  // The port was free when asked for, but another process (suites start servers in parallel)
  // may bind it before sshd does: sshd then says so and exits, and another port is tried.
  let port = 0;
  let child!: ChildProcess;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    await writeFile(knownHostsFile, `[127.0.0.1]:${port} ${hostPub}\n`);
    await writeFile(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${pidFile}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        'StrictModes no',
        'UsePAM no',
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication yes',
        'KbdInteractiveAuthentication no',
        `AllowUsers root ${PASSWORD_USER}`,
        'Subsystem sftp internal-sftp',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    await rm(log, { force: true });
    await rm(pidFile, { force: true });
    const sshd = spawn(SSHD, ['-D', '-f', config, '-E', log], { stdio: 'ignore' });
    child = sshd;
    try {
      // sshd writes its PID file once it has bound the port; a connection before that could
      // reach whoever else holds the port.
      for (const end = Date.now() + 10_000; !existsSync(pidFile) && sshd.exitCode === null && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
      await waitForPort(port, () => sshd.exitCode === null && existsSync(pidFile), 'sshd', 10_000);
      break;
    } catch (err) {
      const said = await readFile(log, 'utf8').catch(() => '');
      if (attempt < 3 && said.includes('Address already in use')) continue;
      throw new Error(`${(err as Error).message}: ${said}`);
    }
  }
  return {
    port,
    pid: child.pid!,
    dir,
    root,
    clientKeyFile,
    knownHostsFile,
    hostKeyFingerprint,
    passwordUser: { name: PASSWORD_USER, password },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
