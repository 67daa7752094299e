/**
 * The tools that go through OpenSSH's sshd: scp, sftp, rsync over ssh, rclone's sftp remote.
 * All with their defaults (scp in OpenSSH 9 speaks the SFTP protocol; rclone runs 4
 * transfers and 64 requests in flight per file), as a user would run them.
 *
 * Remote files live under `root/<tool>/`, a local directory that sshd serves; the bench
 * makes remote directories directly (setup, not measured).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FerryServer } from '../peers/ferry.js';
import type { Sshd } from '../peers/sshd.js';
import { manyName } from './curl.js';
import type { StepKind, Tool } from './tool.js';

function base(id: string, label: string, sshd: Sshd, root: string): Pick<Tool, 'id' | 'label' | 'server' | 'isFerry' | 'prepare' | 'clear'> & { dir: string; remote: (name: string) => string } {
  const dir = join(root, id);
  return {
    id,
    label,
    server: sshd,
    isFerry: false,
    dir,
    remote: (name) => join(dir, name),
    prepare: async (name) => {
      await mkdir(dirname(join(dir, name)), { recursive: true });
    },
    clear: () => rm(dir, { recursive: true, force: true }),
  };
}

export function scpTool(sshd: Sshd, root: string): Tool {
  const b = base('scp', 'scp', sshd, root);
  const scp = (...args: string[]) => ({ cmd: 'scp', args: ['-q', '-F', sshd.sshConfig, ...args] });
  const at = (p: string) => `${sshd.host}:${p}`;
  return {
    ...b,
    upload: (local, name) => scp(local, at(b.remote(name))),
    download: (name, local) => scp(at(b.remote(name)), local),
    // Into the parent, so the first copy creates <name> and later ones overwrite inside it.
    uploadTree: (localDir, name) => scp('-r', localDir, at(dirname(b.remote(name)) + '/')),
    downloadTree: (name, localDir) => scp('-r', at(b.remote(name)), dirname(localDir) + '/'),
    uploadMany: (locals, dirName) => locals.map((l, i) => scp(l, at(b.remote(`${dirName}/${manyName(i)}`)))),
  };
}

/** The `sftp` client's commands for one server (`-b -`: any failing command fails the run). */
function sftpCommands(target: { sshConfig: string; host: string }, remote: (name: string) => string) {
  const sftp = (batch: string) => ({ cmd: 'sftp', args: ['-q', '-F', target.sshConfig, '-b', '-', target.host], input: batch + '\n' });
  const q = (p: string) => `"${p.replace(/(["\\])/g, '\\$1')}"`;
  return {
    upload: (local: string, name: string) => sftp(`put ${q(local)} ${q(remote(name))}`),
    download: (name: string, local: string) => sftp(`get ${q(remote(name))} ${q(local)}`),
    // Into the parent, as for scp: `put -r` into an existing directory nests the tree in it.
    uploadTree: (localDir: string, name: string) => sftp(`put -r ${q(localDir)} ${q(dirname(remote(name)) + '/')}`),
    downloadTree: (name: string, localDir: string) => sftp(`get -r ${q(remote(name))} ${q(dirname(localDir) + '/')}`),
    uploadMany: (locals: string[], dirName: string) => locals.map((l, i) => sftp(`put ${q(l)} ${q(remote(`${dirName}/${manyName(i)}`))}`)),
  };
}

export function sftpTool(sshd: Sshd, root: string): Tool {
  const b = base('sftp', 'sftp', sshd, root);
  return { ...b, ...sftpCommands(sshd, b.remote) };
}

/** The ssh client setup that reaches a Ferry server's SFTP front as its admin (made once per server). */
const ferrySsh = new WeakMap<FerryServer, Promise<{ sshConfig: string; host: string; api: (method: string, path: string, body?: unknown) => Promise<void> }>>();

function ferrySshOf(server: FerryServer, configDir: string) {
  let setup = ferrySsh.get(server);
  if (!setup) {
    setup = ferrySshSetup(server, configDir);
    ferrySsh.set(server, setup);
  }
  return setup;
}

async function ferrySshSetup(server: FerryServer, configDir: string) {
  const [host, port] = String(server.ready.sftp ?? '').split(/:(?=\d+$)/);
  if (!port) throw new Error(`${server.name} runs without --sftp-addr`);
  const key = join(configDir, 'ferry-sftp-key');
  await rm(key, { force: true });
  await rm(key + '.pub', { force: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(server.url + path, {
      method,
      headers: { authorization: `Bearer ${server.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok && res.status !== 404) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  };
  await api('POST', '/api/v1/users/admin/keys', { keys: (await readFile(key + '.pub', 'utf8')).trim() });
  const hostKeys = (await Promise.all(['ssh_host_ed25519_key.pub', 'ssh_host_ecdsa_key.pub'].map((f) => readFile(join(server.dataDir, 'ssh', f), 'utf8')))).map((l) => l.trim().split(' ').slice(0, 2).join(' '));
  const knownHosts = join(configDir, 'ferry-sftp-known_hosts');
  await writeFile(knownHosts, hostKeys.map((k) => `[${host}]:${port} ${k}\n`).join(''));
  const sshConfig = join(configDir, 'ferry-sftp-ssh_config');
  await writeFile(
    sshConfig,
    ['Host ferrysftp', `  HostName ${host}`, `  Port ${port}`, '  User admin', `  IdentityFile ${key}`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${knownHosts}`, '  StrictHostKeyChecking yes', '  BatchMode yes', '  LogLevel ERROR', ''].join('\n'),
  );
  return { sshConfig, host: 'ferrysftp', api };
}

/**
 * The same `sftp` client against Ferry's SFTP front (`ferry serve --sftp-addr`): the admin
 * logs in with a key of its own, the files go to `/sftp-ferry/` of the server. Ferry's
 * server for this tool is a separate one, so nothing dedups against the other ferry rows.
 */
export async function sftpFerryTool(server: FerryServer, configDir: string): Promise<Tool> {
  const { sshConfig, host, api } = await ferrySshOf(server, configDir);
  const remote = (name: string) => `/sftp-ferry/${name}`;
  return {
    id: 'sftp-ferry',
    label: 'sftp → ferry',
    server,
    isFerry: false,
    ...sftpCommands({ sshConfig, host }, remote),
    prepare: async (name) => api('POST', `/api/v1/mkdir${dirname(remote(name))}?parents=true`),
    clear: async () => api('DELETE', '/api/v1/files/sftp-ferry?recursive=true'),
  };
}

/** OpenSSH's `scp` (the SFTP protocol since OpenSSH 9) against Ferry's SFTP front, files under `/scp-ferry/` (same server as sftp → ferry). */
export async function scpFerryTool(server: FerryServer, configDir: string): Promise<Tool> {
  const { sshConfig, host, api } = await ferrySshOf(server, configDir);
  const remote = (name: string) => `/scp-ferry/${name}`;
  const scp = (...args: string[]) => ({ cmd: 'scp', args: ['-q', '-F', sshConfig, ...args] });
  const at = (p: string) => `${host}:${p}`;
  return {
    id: 'scp-ferry',
    label: 'scp → ferry',
    server,
    isFerry: false,
    upload: (local, name) => scp(local, at(remote(name))),
    download: (name, local) => scp(at(remote(name)), local),
    uploadTree: (localDir, name) => scp('-r', localDir, at(dirname(remote(name)) + '/')),
    downloadTree: (name, localDir) => scp('-r', at(remote(name)), dirname(localDir) + '/'),
    uploadMany: (locals, dirName) => locals.map((l, i) => scp(l, at(remote(`${dirName}/${manyName(i)}`)))),
    prepare: async (name) => api('POST', `/api/v1/mkdir${dirname(remote(name))}?parents=true`),
    clear: async () => api('DELETE', '/api/v1/files/scp-ferry?recursive=true'),
  };
}

/** `Total bytes sent: 1,234` from rsync --stats, summed over concurrent clients' outputs. */
function rsyncStat(text: string, what: 'sent' | 'received'): number | undefined {
  const all = [...text.matchAll(new RegExp(`Total bytes ${what}: ([\\d,.]+)`, 'g'))];
  return all.length ? all.reduce((n, m) => n + Number(m[1].replace(/[,.]/g, '')), 0) : undefined;
}

export function rsyncTool(sshd: Sshd, root: string): Tool {
  const b = base('rsync', 'rsync over ssh', sshd, root);
  const rsync = (...args: string[]) => ({ cmd: 'rsync', args: ['-a', '--stats', '-e', `ssh -F ${sshd.sshConfig}`, ...args] });
  const at = (p: string) => `${sshd.host}:${p}`;
  return {
    ...b,
    upload: (local, name) => rsync(local, at(b.remote(name))),
    download: (name, local) => rsync(at(b.remote(name)), local),
    uploadTree: (localDir, name) => rsync('--delete', `${localDir}/`, at(`${b.remote(name)}/`)),
    downloadTree: (name, localDir) => rsync('--delete', at(`${b.remote(name)}/`), `${localDir}/`),
    uploadMany: (locals, dirName) => locals.map((l, i) => rsync(l, at(b.remote(`${dirName}/${manyName(i)}`)))),
    bytesSent: async (kind: StepKind, client) => rsyncStat(client.stdout, kind === 'download' || kind === 'tree-download' ? 'received' : 'sent'),
  };
}

/**
 * rclone's sftp remote with shell_type=none: rclone runs no remote commands, so it has no
 * remote hashes and compares by size and mtime (an identical file whose mtime changed is sent
 * again). With shell_type=unix it would hash remote files through `md5sum`, one ssh exec
 * per file, to verify each upload: measured here, that made 200 small files take 39 s
 * instead of 1.6 s (server CPU 24 s), so the fast and usual setting is what we compare with.
 */
export async function rcloneTool(sshd: Sshd, root: string, configDir: string): Promise<Tool> {
  const b = base('rclone', 'rclone → sftp', sshd, root);
  const config = join(configDir, 'rclone.conf');
  await writeFile(
    config,
    [
      '[bench]',
      'type = sftp',
      'host = 127.0.0.1',
      `port = ${sshd.port}`,
      `user = ${sshd.user}`,
      `key_file = ${sshd.clientKey}`,
      `known_hosts_file = ${sshd.knownHosts}`,
      'shell_type = none',
      '',
    ].join('\n'),
  );
  const rclone = (...args: string[]) => ({ cmd: 'rclone', args: ['--config', config, '-q', ...args] });
  const at = (p: string) => `bench:${p}`;
  return {
    ...b,
    upload: (local, name) => rclone('copyto', local, at(b.remote(name))),
    download: (name, local) => rclone('copyto', at(b.remote(name)), local),
    uploadTree: (localDir, name) => rclone('sync', localDir, at(b.remote(name))),
    downloadTree: (name, localDir) => rclone('sync', at(b.remote(name)), localDir),
    uploadMany: (locals, dirName) => locals.map((l, i) => rclone('copyto', l, at(b.remote(`${dirName}/${manyName(i)}`)))),
  };
}
