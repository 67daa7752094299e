/**
 * OpenSSH sshd on a loopback port with a throwaway configuration, for scp, sftp, rsync over
 * ssh and rclone's sftp remote; plus the client side: a key pair, a known_hosts file naming
 * the server and an ssh_config with a `ferrybench` host, so every client command is plain
 * `scp -F CONFIG ... ferrybench:PATH`.
 *
 * sshd runs in the foreground (-D): the spawned process is the listener, and each connection
 * is a child of it, reaped by it, so the tree's CPU counts every session. Default ciphers
 * and MACs: what users get. MaxStartups is raised for the 200 concurrent clients (the
 * default, 10:30:100, drops connections beyond 10 unauthenticated ones).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './net.js';
import { isAlive, stopChild, type PeerServer } from './server.js';
import { pinned } from '../lib/pin.js';

export interface Sshd extends PeerServer {
  port: number;
  user: string;
  /** ssh_config with Host `ferrybench`. */
  sshConfig: string;
  host: 'ferrybench';
  clientKey: string;
  knownHosts: string;
}

export async function startSshd(dir: string): Promise<Sshd> {
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await mkdir(dir, { recursive: true });
  const hostKey = join(dir, 'host_key');
  const clientKey = join(dir, 'client_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, await readFile(clientKey + '.pub'));
  const port = await freePort();
  const hostPub = (await readFile(hostKey + '.pub', 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostPub}\n`);
  const user = userInfo().username;
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'StrictModes no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'MaxStartups 1000',
      'MaxSessions 1000',
      'UseDNS no',
      'PrintMotd no',
      'LogLevel ERROR',
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  const sshConfig = join(dir, 'ssh_config');
  await writeFile(
    sshConfig,
    [
      'Host ferrybench',
      '  HostName 127.0.0.1',
      `  Port ${port}`,
      `  User ${user}`,
      `  IdentityFile ${clientKey}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHosts}`,
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '  LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const t0 = performance.now();
  const child = spawn(...pinned('server', '/usr/sbin/sshd', ['-D', '-f', config, '-E', join(dir, 'sshd.log')]), { stdio: 'ignore' });
  await waitForPort(port, () => isAlive(child), 'sshd');
  const readySeconds = (performance.now() - t0) / 1000;
  return { name: 'sshd', pid: child.pid!, readySeconds, port, user, sshConfig, host: 'ferrybench', clientKey, knownHosts, stop: () => stopChild(child) };
}
