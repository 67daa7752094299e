#!/usr/bin/env node
/**
 * Peak RSS and CPU of `ferry serve` under N concurrent `curl -T` of SIZE bytes into
 * PUT /api/v1/files/*, and the time and CPU of one large PUT; alternates builds (ROOTs),
 * PAIRS times, and prints each run and the medians.
 *
 *   node benchmarks/ingest-rss.mjs PAIRS ROOT... [--clients 200] [--size 4194304] [--big 1073741824]
 *
 * A ROOT is a directory with bin/ferry.js and its dist/ (a worktree, or a copy of one).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { alternate, cpuMs, hwmKb, rssKb, takeOpt } from './proc-stats.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => takeOpt(args, name, def);
const CLIENTS = opt('clients', 200);
const SIZE = opt('size', 4 * 1024 * 1024);
const BIG = opt('big', 1024 * 1024 * 1024);
/** --user 1: the PUTs as a user (not the admin: per-user limits apply). */
const AS_USER = opt('user', 0) === 1;
const [pairs, ...roots] = args;
if (!pairs || roots.length === 0) throw new Error('usage: node benchmarks/ingest-rss.mjs PAIRS ROOT... [--clients N] [--size BYTES] [--big BYTES]');

const TOKEN = 'ferry_bench_' + randomBytes(16).toString('hex');

async function start(root, dir) {
  const env = { ...process.env, FERRY_ADMIN_TOKEN: TOKEN };
  for (const k of Object.keys(env)) if (k.startsWith('FERRY_') && k !== 'FERRY_ADMIN_TOKEN') delete env[k];
  const child = spawn(process.execPath, [join(root, 'bin/ferry.js'), 'serve', '--addr', '127.0.0.1:0', '--data', dir, '--rate-limit-ip', '0', '--rate-limit-token', '0', '--max-connections-per-ip', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.resume();
  const url = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      if (!line.includes('"event":"ready"')) return;
      rl.close();
      child.stdout.resume();
      resolve(JSON.parse(line).url);
    });
    child.once('exit', (code) => reject(new Error(`ferry serve exited (${code}) before it was ready`)));
  });
  return { child, url };
}
const stop = (child) => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); });

let putToken = TOKEN;
async function asUser(url) {
  const h = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const u = await fetch(`${url}/api/v1/users`, { method: 'POST', headers: h, body: JSON.stringify({ name: 'bench' }) });
  if (u.status !== 201) throw new Error(`add user: ${u.status} ${await u.text()}`);
  const t = await fetch(`${url}/api/v1/tokens`, { method: 'POST', headers: h, body: JSON.stringify({ name: 'bench', user: 'bench' }) });
  if (t.status !== 201) throw new Error(`token: ${t.status} ${await t.text()}`);
  return (await t.json()).token;
}

function curl(url, file, path) {
  return new Promise((resolve) => {
    const c = spawn('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-T', file, '-H', `authorization: Bearer ${putToken}`, `${url}/api/v1/files/${path}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.once('error', (e) => resolve(`spawn: ${e.message}`));
    c.once('close', (code, sig) => resolve(out === '' || out === '000' ? `${out} curl exit ${code ?? sig}: ${err.trim()}` : out));
  });
}

async function one(root, work) {
  const dir = mkdtempSync(join(work, 'data-'));
  const { child, url } = await start(root, dir);
  const pid = child.pid;
  putToken = AS_USER ? await asUser(url) : TOKEN;
  // Many at once.
  const cpu0 = cpuMs(pid);
  const rss0 = rssKb(pid);
  let peak = rss0;
  const poll = setInterval(() => { try { peak = Math.max(peak, rssKb(pid)); } catch {} }, 20);
  const t0 = performance.now();
  const codes = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => curl(url, join(work, 'small.bin'), `many/f${i}.bin`)));
  const manyMs = performance.now() - t0;
  clearInterval(poll);
  const manyCpu = cpuMs(pid) - cpu0;
  const hwm = hwmKb(pid);
  const ok = codes.filter((c) => c === '200' || c === '201').length;
  const bad = codes.filter((c) => c !== '200' && c !== '201');
  // One large.
  const cpu1 = cpuMs(pid);
  const t1 = performance.now();
  const code = await curl(url, join(work, 'big.bin'), 'big.bin');
  const bigMs = performance.now() - t1;
  const bigCpu = cpuMs(pid) - cpu1;
  await stop(child);
  rmSync(dir, { recursive: true, force: true });
  return { idleMB: rss0 / 1024, peakMB: Math.max(peak, hwm) / 1024, manyS: manyMs / 1000, manyCpuS: manyCpu / 1000, ok, bad: [...new Set(bad)].join(','), bigS: bigMs / 1000, bigCpuS: bigCpu / 1000, bigCode: code };
}

const work = mkdtempSync(join(tmpdir(), 'ingest-rss-'));
writeFileSync(join(work, 'small.bin'), randomBytes(SIZE));
spawnSync('sh', ['-c', `head -c ${BIG} /dev/urandom > ${join(work, 'big.bin')}`]);
try {
  await alternate(Number(pairs), roots, (root) => one(root, work), ['idleMB', 'peakMB', 'manyS', 'manyCpuS', 'bigS', 'bigCpuS']);
} finally {
  rmSync(work, { recursive: true, force: true });
}
