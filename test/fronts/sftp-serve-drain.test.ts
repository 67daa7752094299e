/**
 * A real `ferry serve --sftp-addr` signalled with SIGTERM while OpenSSH's `sftp` downloads a
 * file (slowed with `-l`): the download finishes, whole, and then the server exits 0; one
 * that would outlast `drainTimeout` is cut when it passes and the server exits all the same.
 * Before, the drain ended every SSH connection with no file open for writing at once: a
 * download in flight at SIGTERM was cut however little of it was left (uploads already
 * finished). A second SIGTERM stops at once, cutting the download.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { collect, sshOptions, type SftpServer } from '../helpers/sftp.js';

let dir: string;
let server: RunningServer | undefined;
const DATA = randomBytes(3 * 1024 * 1024);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-sftp-serve-drain-'));
  await writeFile(join(dir, 'big.bin'), DATA);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
});
afterEach(async () => {
  await server?.kill();
  server = undefined;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A server with an SFTP front, user `kai` with the test's key, and big.bin in kai's home (`/` over SFTP). */
async function serveWithFile(name: string, drainTimeout: string): Promise<{ s: RunningServer; target: SftpServer }> {
  const s = await startServer({ dataDir: join(dir, name), env: { FERRY_SFTP_ADDR: '127.0.0.1:0', FERRY_DRAIN_TIMEOUT: drainTimeout } });
  server = s;
  const env = { FERRY_SERVER: s.url, FERRY_TOKEN: s.adminToken, FERRY_CONFIG: join(dir, `${name}.json`) };
  for (const args of [['user', 'add', 'kai'], ['user', 'key', 'add', 'kai', join(dir, 'key.pub')], ['put', join(dir, 'big.bin'), '/users/kai/big.bin']]) {
    const r = await runFerry(args, { env });
    expect(r.code, r.stderr).toBe(0);
  }
  const port = Number(String(s.ready.sftp).split(':')[1]);
  const knownHosts = join(dir, `${name}.known_hosts`);
  const pubs = await Promise.all(['ssh_host_ed25519_key.pub', 'ssh_host_ecdsa_key.pub'].map((f) => readFile(join(s.dataDir, 'ssh', f), 'utf8')));
  await writeFile(knownHosts, pubs.map((p) => `[127.0.0.1]:${port} ${p.trim().split(' ').slice(0, 2).join(' ')}\n`).join(''));
  return { s, target: { port, knownHosts } as unknown as SftpServer };
}

/** `sftp -l KBIT` getting /big.bin to `dest`. */
function slowGet(target: SftpServer, kbit: number, dest: string): ChildProcess {
  return spawn('sftp', [...sshOptions(target, join(dir, 'key')), '-P', String(target.port), '-l', String(kbit), '-b', '-', 'kai@127.0.0.1'], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Resolves once `path` holds at least one byte (the download is under way). */
async function started(path: string, child: ChildProcess): Promise<void> {
  await expect.poll(async () => child.exitCode === null && ((await stat(path).catch(() => undefined))?.size ?? 0) > 0, { timeout: 30_000, interval: 50 }).toBe(true);
}

const exitOf = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

describe('ferry serve, SIGTERM, and an SFTP download in flight', () => {
  it('lets the download finish (whole), then exits 0', async () => {
    const { s, target } = await serveWithFile('finish', '120s');
    const dest = join(dir, 'got.bin');
    // 3 MiB at 8 Mbit/s: about 3 s, most of it after the signal.
    const child = slowGet(target, 8192, dest);
    const result = collect(child, `get /big.bin ${dest}\n`);
    await started(dest, child);
    s.process.kill('SIGTERM');
    const r = await result;
    expect(r.code, r.stderr).toBe(0);
    expect((await readFile(dest)).equals(DATA)).toBe(true);
    expect(await exitOf(s.process)).toBe(0);
  });

  it('cuts a download that outlasts drainTimeout, and exits 0', async () => {
    const { s, target } = await serveWithFile('cut', '1s');
    const dest = join(dir, 'cut.bin');
    // 3 MiB at 1 Mbit/s: about 25 s, far beyond the 1 s drainTimeout.
    const child = slowGet(target, 1024, dest);
    const result = collect(child, `get /big.bin ${dest}\n`);
    await started(dest, child);
    s.process.kill('SIGTERM');
    expect(await exitOf(s.process)).toBe(0);
    const r = await result;
    expect(r.code).not.toBe(0);
    expect((await stat(dest)).size).toBeLessThan(DATA.length);
  });

  it('stops at once on a second SIGTERM, cutting a download the drain would wait minutes for, and exits 0', async () => {
    const { s, target } = await serveWithFile('twice', '120s');
    const dest = join(dir, 'twice.bin');
    // 3 MiB at 1 Mbit/s: about 25 s; the drain alone would wait for all of it (120 s allowed).
    const child = slowGet(target, 1024, dest);
    const result = collect(child, `get /big.bin ${dest}\n`);
    await started(dest, child);
    s.process.kill('SIGTERM');
    await expect.poll(() => s.output(), { timeout: 30_000, interval: 50 }).toContain('SIGTERM: draining');
    expect(s.process.exitCode).toBeNull();
    s.process.kill('SIGTERM');
    expect(await exitOf(s.process)).toBe(0);
    expect(s.output()).toContain('SIGTERM again: stopping now');
    const r = await result;
    expect(r.code).not.toBe(0);
    expect((await stat(dest)).size).toBeLessThan(DATA.length);
  });
});
