/**
 * A ferry server (`node bin/ferry.js serve`) on a loopback port with its own data directory,
 * timed from spawn to its ready line. Its logs (one access-log line per request at the
 * default level, which is what users run) are drained and dropped after the ready line.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { FERRY_BIN } from './ferry-bin.js';
import { isAlive, stopChild, type PeerServer } from './server.js';
import { pinned } from '../lib/pin.js';

export interface FerryServer extends PeerServer {
  url: string;
  token: string;
  dataDir: string;
  /** The ready line (with --sftp-addr: `sftp` HOST:PORT and `sftpHostKeys`). */
  ready: Record<string, unknown>;
  /** Last lines the server printed, for error messages. */
  output(): string;
}

export interface FerryServerOptions {
  dataDir: string;
  /** Extra `ferry serve` arguments (`--no-fsync`, `--log-level warn`). */
  args?: string[];
  /** Extra node options (`--cpu-prof --cpu-prof-dir DIR`). */
  nodeArgs?: string[];
  name?: string;
  /** The `bin/ferry.js` to run (default: this checkout's); another build's, to compare two. */
  bin?: string;
}

export async function startFerryServer(options: FerryServerOptions): Promise<FerryServer> {
  const token = `bench-${randomBytes(16).toString('hex')}`;
  const env: NodeJS.ProcessEnv = { ...process.env, FERRY_ADMIN_TOKEN: token };
  // The caller's FERRY_ settings stay out of the server, but for the cipher switch (to compare ferry-gcm's two AES-GCMs).
  for (const k of Object.keys(env)) if (k.startsWith('FERRY_') && k !== 'FERRY_ADMIN_TOKEN' && k !== 'FERRY_GCM_IMPL') delete env[k];
  const t0 = performance.now();
  const child = spawn(...pinned('server', process.execPath, [...(options.nodeArgs ?? []), options.bin ?? FERRY_BIN, 'serve', '--addr', '127.0.0.1:0', '--data', options.dataDir, ...(options.args ?? [])]), {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (s: string) => {
    tail = (tail + s).slice(-20_000);
  };
  child.stderr.on('data', (d: Buffer) => keep(d.toString()));
  let ready: Record<string, unknown> = {};
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ferry serve did not get ready in 60 s:\n${tail}`));
    }, 60_000);
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      if (line.includes('"event":"ready"')) {
        clearTimeout(timer);
        rl.close();
        // From here on, only keep the tail of the logs for error messages.
        child.stdout.on('data', (d: Buffer) => keep(d.toString()));
        child.stdout.resume(); // readline's close paused it; a full pipe would stall the server
        ready = JSON.parse(line) as Record<string, unknown>;
        resolve(ready.url as string);
      } else keep(line + '\n');
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`ferry serve exited (${code ?? signal}) before it was ready:\n${tail}`));
    });
  });
  const readySeconds = (performance.now() - t0) / 1000;
  return {
    name: options.name ?? 'ferry',
    pid: child.pid!,
    readySeconds,
    url,
    token,
    dataDir: options.dataDir,
    ready,
    output: () => tail,
    stop: async () => {
      if (isAlive(child)) await stopChild(child);
    },
  };
}
