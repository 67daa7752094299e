#!/usr/bin/env node
/**
 * Many small files over SFTP/SCP: OpenSSH `scp -r` of FILES files of SIZE bytes into a
 * `ferry serve` with its SFTP door (one connection, one file after another, as scp sends
 * them); alternates builds (ROOTs), PAIRS times, and prints each run (wall, the server's CPU
 * and its main thread's, per file) and the medians.
 *
 *   node benchmarks/sftp-small-files.mjs PAIRS ROOT... [--files 400] [--size 3072] [--sftp 0]
 *
 * `--sftp 1` sends them with `sftp -b` (`put -r`) instead of `scp -r`. A ROOT is a directory
 * with bin/ferry.js and its dist/ (a worktree, or a copy of one).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { alternate, cpuMs, takeOpt } from './proc-stats.mjs';
import { addSshUser, start, stop } from './sftp-server.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => takeOpt(args, name, def);
const FILES = opt('files', 400);
const SIZE = opt('size', 3072);
const SFTP = opt('sftp', 0) === 1;
const [pairs, ...roots] = args;
if (!pairs || roots.length === 0) throw new Error('usage: node benchmarks/sftp-small-files.mjs PAIRS ROOT... [--files N] [--size BYTES] [--sftp 0|1]');

const sshArgs = (key) => ['-F', '/dev/null', '-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'BatchMode=yes', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'LogLevel=ERROR'];

function send(port, key, tree) {
  const [cmd, argv, input] = SFTP
    ? ['sftp', [...sshArgs(key), '-P', String(port), '-b', '-', 'bench@127.0.0.1'], `put -r ${tree} /tree\n`]
    : ['scp', [...sshArgs(key), '-P', String(port), '-r', tree, 'bench@127.0.0.1:/tree'], ''];
  return new Promise((resolve) => {
    const c = spawn(cmd, argv, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.stdin.end(input);
    c.once('error', (e) => resolve(`spawn: ${e.message}`));
    c.once('close', (code) => resolve(code === 0 ? 'ok' : `exit ${code}: ${err.trim().split('\n').pop()}`));
  });
}

async function one(root, work, key, tree) {
  const dir = mkdtempSync(join(work, 'data-'));
  const { child, url, sftpPort } = await start(root, dir);
  const pid = child.pid;
  await addSshUser(url, readFileSync(key + '.pub', 'utf8').trim());
  const cpu0 = cpuMs(pid);
  const main0 = cpuMs(`${pid}/task/${pid}`);
  const t0 = performance.now();
  const result = await send(sftpPort, key, tree);
  const ms = performance.now() - t0;
  const cpu = cpuMs(pid) - cpu0;
  const main = cpuMs(`${pid}/task/${pid}`) - main0;
  await stop(child);
  rmSync(dir, { recursive: true, force: true });
  return { msPerFile: ms / FILES, cpuMsPerFile: cpu / FILES, mainCpuMsPerFile: main / FILES, ok: result === 'ok' ? 1 : result, load: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]) };
}

const work = mkdtempSync(join(tmpdir(), 'sftp-small-files-'));
const key = join(work, 'key');
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
const tree = join(work, 'tree');
mkdirSync(tree);
for (let i = 0; i < FILES; i++) writeFileSync(join(tree, `f${i}.bin`), randomBytes(SIZE));
try {
  await alternate(Number(pairs), roots, (root) => one(root, work, key, tree), ['msPerFile', 'cpuMsPerFile', 'mainCpuMsPerFile', 'load']);
} finally {
  rmSync(work, { recursive: true, force: true });
}
