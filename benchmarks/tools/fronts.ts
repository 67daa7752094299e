/**
 * Ferry through the doors other clients use (issue 14), each against a ferry server of its
 * own (a shared one would let each tool's uploads dedup against the others'):
 *
 * - `rclone-webdav`: rclone's webdav remote with the owncloud vendor (it sends X-OC-Mtime, so
 *   modification times are kept and a no-change re-sync can skip files, as rclone to sftp
 *   does by size and mtime), rclone's defaults otherwise (4 transfers).
 * - `tus`: tus-js-client from Node (./tus-put.ts), one PATCH per file streamed from disk.
 *   tus only uploads: this tool's downloads are a plain GET of the file (curl), and it has
 *   no tree mode.
 *
 * Both log in as a user with a password made at start-up (the admin token is no password).
 */
import type { Command } from '../lib/measure.js';
import { benchScript } from '../peers/ferry-bin.js';
import type { FerryServer } from '../peers/ferry.js';
import { manyName } from './curl.js';
import { ferryCounters, type FerryCounters } from './ferry.js';
import type { StepKind, Tool } from './tool.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

export const FRONT_USER = { name: 'bench', password: 'bench-password-1' };

/** Makes the bench user on a fresh server; returns an API token of theirs. */
export async function frontUser(server: FerryServer): Promise<string> {
  const made = await fetch(`${server.url}/api/v1/users`, { method: 'POST', headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...FRONT_USER, maxSessions: 1000 }) });
  if (made.status !== 201) throw new Error(`creating the bench user: HTTP ${made.status} ${await made.text()}`);
  const login = await fetch(`${server.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: FRONT_USER.name, password: FRONT_USER.password }) });
  if (login.status !== 201) throw new Error(`logging in: HTTP ${login.status}`);
  return ((await login.json()) as { token: string }).token;
}

function bytesCounter(server: FerryServer) {
  return {
    snapshot: () => ferryCounters(server),
    bytesSent: async (kind: StepKind, _client: unknown, before: unknown) => {
      const a = await ferryCounters(server);
      const b = before as FerryCounters;
      return kind === 'download' || kind === 'tree-download' ? a.served - b.served : a.received - b.received;
    },
  };
}

export async function rcloneWebdavTool(server: FerryServer, configDir: string): Promise<Tool> {
  await frontUser(server);
  const config = join(configDir, 'rclone-webdav.conf');
  const pass = execFileSync('rclone', ['obscure', FRONT_USER.password]).toString().trim();
  await writeFile(config, ['[dav]', 'type = webdav', `url = ${server.url}/dav/`, 'vendor = owncloud', `user = ${FRONT_USER.name}`, `pass = ${pass}`, ''].join('\n'));
  const rclone = (...args: string[]): Command => ({ cmd: 'rclone', args: ['--config', config, '-q', ...args] });
  const at = (name: string) => `dav:${name}`;
  return {
    id: 'rclone-webdav',
    label: 'rclone → ferry webdav',
    server,
    isFerry: false,
    upload: (local, name) => rclone('copyto', local, at(name)),
    download: (name, local) => rclone('copyto', at(name), local),
    uploadTree: (localDir, name) => rclone('sync', localDir, at(name)),
    downloadTree: (name, localDir) => rclone('sync', at(name), localDir),
    uploadMany: (locals, dirName) => locals.map((l, i) => rclone('copyto', l, at(`${dirName}/${manyName(i)}`))),
    ...bytesCounter(server),
  };
}

export async function tusTool(server: FerryServer): Promise<Tool> {
  const token = await frontUser(server);
  const env = { ...process.env, FERRY_TOKEN: token };
  const put = (pairs: string[]): Command => ({ cmd: process.execPath, args: [benchScript('tools/tus-put.js'), server.url, ...pairs], env });
  return {
    id: 'tus',
    label: 'tus-js-client → ferry',
    server,
    isFerry: false,
    upload: (local, name) => put([local, `/${name}`]),
    download: (name, local) => ({ cmd: 'curl', args: ['-sS', '-f', '-o', local, '-H', `authorization: Bearer ${token}`, `${server.url}/api/v1/files/${name.split('/').map(encodeURIComponent).join('/')}`] }),
    // One process drives every upload, as ferry's own load generator does.
    uploadMany: (locals, dirName) => [put(locals.flatMap((l, i) => [l, `/${dirName}/${manyName(i)}`]))],
    ...bytesCounter(server),
  };
}
