#!/usr/bin/env node
/**
 * Peak RSS and CPU of `ferry serve` under N concurrent OpenSSH `sftp put`s of SIZE bytes
 * (each its own connection, as one user); alternates builds (ROOTs), PAIRS times, and
 * prints each run and the medians.
 *
 *   node benchmarks/sftp-ingest-rss.mjs PAIRS ROOT... [--clients 100] [--size 67108864]
 *
 * A ROOT is a directory with bin/ferry.js and its dist/ (a worktree, or a copy of one).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { alternate, cpuMs, hwmKb, rssKb, takeOpt } from './proc-stats.mjs';
import { addSshUser, start, stop } from './sftp-server.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => takeOpt(args, name, def);
const CLIENTS = opt('clients', 100);
const SIZE = opt('size', 64 * 1024 * 1024);
const [pairs, ...roots] = args;
if (!pairs || roots.length === 0) throw new Error('usage: node benchmarks/sftp-ingest-rss.mjs PAIRS ROOT... [--clients N] [--size BYTES]');

function sftpPut(port, key, file, remote) {
  const sshArgs = ['-F', '/dev/null', '-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'BatchMode=yes', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=60'];
  return new Promise((resolve) => {
    const c = spawn('sftp', [...sshArgs, '-P', String(port), '-b', '-', 'bench@127.0.0.1'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.stdin.end(`put ${file} ${remote}\n`);
    c.once('error', (e) => resolve(`spawn: ${e.message}`));
    c.once('close', (code) => resolve(code === 0 ? 'ok' : `exit ${code}: ${err.trim().split('\n').pop()}`));
  });
}

async function one(root, work, key) {
  const dir = mkdtempSync(join(work, 'data-'));
  const { child, url, sftpPort } = await start(root, dir);
  const pid = child.pid;
  await addSshUser(url, readFileSync(key + '.pub', 'utf8').trim());
  const cpu0 = cpuMs(pid);
  const rss0 = rssKb(pid);
  let peak = rss0;
  const poll = setInterval(() => { try { peak = Math.max(peak, rssKb(pid)); } catch {} }, 20);
  const t0 = performance.now();
  // Each client its own file (no dedup between them): the bytes differ in their first 16.
  const results = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => sftpPut(sftpPort, key, join(work, `f${i}.bin`), `/f${i}.bin`)));
  const ms = performance.now() - t0;
  clearInterval(poll);
  const cpu = cpuMs(pid) - cpu0;
  const hwm = hwmKb(pid);
  const ok = results.filter((r) => r === 'ok').length;
  const bad = [...new Set(results.filter((r) => r !== 'ok'))].join(' | ');
  await stop(child);
  rmSync(dir, { recursive: true, force: true });
  return { idleMB: rss0 / 1024, peakMB: Math.max(peak, hwm) / 1024, s: ms / 1000, cpuS: cpu / 1000, ok, bad };
}

const work = mkdtempSync(join(tmpdir(), 'sftp-ingest-rss-'));
const key = join(work, 'key');
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
// One random body; each client's file differs in its first chunk only (the server cuts and
// hashes every byte, and stores the chunks its file shares with others once).
const body = randomBytes(SIZE);
for (let i = 0; i < CLIENTS; i++) {
  randomBytes(16).copy(body, 0);
  writeFileSync(join(work, `f${i}.bin`), body);
}
try {
  await alternate(Number(pairs), roots, (root) => one(root, work, key), ['idleMB', 'peakMB', 's', 'cpuS']);
} finally {
  rmSync(work, { recursive: true, force: true });
}
