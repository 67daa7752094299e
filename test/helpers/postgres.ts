/**
 * Starts a private PostgreSQL cluster on a free loopback port, in a fresh temporary data
 * directory, for the metadata tests (the conformance suite, the cluster test, the SQLite to
 * PostgreSQL migration). Each test file gets its own cluster (about 2 s to make), and each
 * test that wants a clean slate its own database (`createDatabase`).
 *
 * Needs Debian's postgresql package (its binaries are in /usr/lib/postgresql/VERSION/bin,
 * not on PATH; CI installs it: .ci/debian-packages, and this helper does with apt-get when
 * it is missing). The server refuses to run as root, so as root the cluster belongs to the
 * `postgres` OS user the package makes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface PostgresHandle {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`: the maintenance database. */
  url: string;
  port: number;
  /** Makes an empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
  /**
   * Stops the cluster's processes (SIGSTOP, by their ids: the postmaster and its children),
   * so that whatever a client asks of it waits, its connections held open; `resume` lets them
   * go on (SIGCONT). A database that does not answer, for a test of what waits for one.
   */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** `pg_ctl restart -m fast`: every connection is closed, the cluster is back when this resolves. */
  restart(): Promise<void>;
  /** `pg_ctl stop -m fast`, the data kept: connections are refused until `start`. */
  shutdown(): Promise<void>;
  /** Starts the cluster `shutdown` stopped, on the same port. */
  start(): Promise<void>;
}

const ROOT = '/usr/lib/postgresql';

/** The newest installed server's bin directory (installing the package when there is none). */
function binDir(): string {
  const find = (): string | undefined => {
    if (!existsSync(ROOT)) return undefined;
    const versions = readdirSync(ROOT)
      .filter((v) => existsSync(path.join(ROOT, v, 'bin', 'pg_ctl')))
      .sort((a, b) => Number(b) - Number(a));
    return versions.length > 0 ? path.join(ROOT, versions[0], 'bin') : undefined;
  };
  const found = find();
  if (found) return found;
  if (process.getuid?.() !== 0) throw new Error('the PostgreSQL tests need the postgresql package (apt-get install postgresql) or root to install it');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], { stdio: 'ignore', env });
  const installed = find();
  if (!installed) throw new Error(`postgresql installed, but no server binaries under ${ROOT}/*/bin`);
  return installed;
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

/** Runs a PostgreSQL binary as the cluster's owner (the `postgres` OS user when we are root). */
function asOwner(file: string, args: string[]): Promise<string> {
  const root = process.getuid?.() === 0;
  const [cmd, argv] = root ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(file)} ${args.join(' ')} exited with ${code}: ${out}`))));
  });
}

export async function startPostgres(): Promise<PostgresHandle> {
  const bin = binDir();
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-pg-'));
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    await chown(dir, uid, gid);
  }
  await asOwner(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-locale', '--no-sync']);
  // The port was free when asked for, but another process (suites start servers in parallel)
  // may bind it before PostgreSQL does: the start then fails saying so, and another port is tried.
  let port = 0;
  let options = '';
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    // A throwaway cluster needs no durability; a few hundred connections for the cluster test's nodes.
    options = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=300'].join(' ');
    const logged = (await readFile(log, 'utf8').catch(() => '')).length;
    try {
      await asOwner(path.join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-o', options, '-w', '-t', '60', 'start']);
      break;
    } catch (err) {
      const said = (await readFile(log, 'utf8').catch(() => '')).slice(logged);
      if (attempt < 3 && said.includes('Address already in use')) continue;
      throw new Error(`${(err as Error).message}\n${said}`);
    }
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let paused: number[] = [];
  return {
    url,
    port,
    async createDatabase(name = `ferry_${randomBytes(6).toString('hex')}`) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async pause() {
      paused = await clusterPids(data);
      for (const pid of paused) process.kill(pid, 'SIGSTOP');
    },
    async resume() {
      for (const pid of paused.splice(0)) process.kill(pid, 'SIGCONT');
    },
    async restart() {
      await asOwner(path.join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-m', 'fast', '-w', '-t', '60', 'restart']);
    },
    async shutdown() {
      await asOwner(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
    },
    async start() {
      await asOwner(path.join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-o', options, '-w', '-t', '60', 'start']);
    },
    async stop() {
      for (const pid of paused.splice(0)) process.kill(pid, 'SIGCONT');
      await asOwner(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The postmaster of the cluster in `data` (its postmaster.pid) and the processes it started. */
async function clusterPids(data: string): Promise<number[]> {
  const postmaster = Number((await readFile(path.join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)]).toString().split('\n').map(Number).filter((n) => n > 0);
  return [postmaster, ...children];
}
