/**
 * What the web benchmarks share: the ferry binary they start, the Chromium they drive and its
 * flags, and a `ferry serve` process on a free port that says where it listens.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = new URL('../../../', import.meta.url).pathname;
export const BIN = join(ROOT, 'bin', 'ferry.js');
export const CHROMIUM = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export interface BenchServer {
  url: string;
  /** The server process's id, to read its CPU time from /proc. */
  pid: number;
  stop: () => Promise<void>;
}

/** `ferry serve` on 127.0.0.1:0 with this data directory and admin token, once it is ready. */
export async function startServer(dataDir: string, adminToken: string): Promise<BenchServer> {
  const child = spawn(process.execPath, [BIN, 'serve', '--addr', '127.0.0.1:0', '--data', dataDir, '--log-level', 'warn'], { env: { ...process.env, FERRY_ADMIN_TOKEN: adminToken }, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        try {
          const m = JSON.parse(line) as { event?: string; url?: string };
          if (m.event === 'ready' && m.url) resolve(m.url);
        } catch {
          // a log line
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`ferry serve exited (${code})`)));
  });
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
