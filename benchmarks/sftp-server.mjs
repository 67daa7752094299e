/**
 * A `ferry serve` with its SFTP door for the SFTP benchmark scripts (sftp-small-files.mjs,
 * sftp-ingest-rss.mjs): started from a ROOT (bin/ferry.js and its dist/) on a data directory,
 * loopback and ports 0, limits off, an admin token of its own; a user `bench` with a key.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';

const TOKEN = 'ferry_bench_' + randomBytes(16).toString('hex');

export async function start(root, dir) {
  const env = { ...process.env, FERRY_ADMIN_TOKEN: TOKEN };
  for (const k of Object.keys(env)) if (k.startsWith('FERRY_') && k !== 'FERRY_ADMIN_TOKEN') delete env[k];
  const child = spawn(process.execPath, [join(root, 'bin/ferry.js'), 'serve', '--addr', '127.0.0.1:0', '--sftp-addr', '127.0.0.1:0', '--data', dir, '--rate-limit-ip', '0', '--rate-limit-token', '0', '--max-connections-per-ip', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.resume();
  const ready = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      if (!line.includes('"event":"ready"')) return;
      rl.close();
      child.stdout.resume();
      resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`ferry serve exited (${code}) before it was ready`)));
  });
  return { child, url: ready.url, sftpPort: Number(ready.sftp.split(':').pop()) };
}
export const stop = (child) => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); });

export async function addSshUser(url, publicKey) {
  const h = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const u = await fetch(`${url}/api/v1/users`, { method: 'POST', headers: h, body: JSON.stringify({ name: 'bench' }) });
  if (u.status !== 201) throw new Error(`add user: ${u.status} ${await u.text()}`);
  const k = await fetch(`${url}/api/v1/users/bench/keys`, { method: 'POST', headers: h, body: JSON.stringify({ keys: publicKey }) });
  if (k.status !== 201) throw new Error(`add key: ${k.status} ${await k.text()}`);
}
