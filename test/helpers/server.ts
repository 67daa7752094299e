/**
 * Starts a real `ferry serve` (the built bin/ferry.js) on 127.0.0.1 with its own data
 * directory, per the start-up contract: it prints `{"event":"ready","url":...}` on stdout
 * when it listens, takes the admin token from FERRY_ADMIN_TOKEN.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { FERRY_BIN, cliEnv } from './cli.js';

export interface RunningServer {
  url: string;
  /** The whole ready line (`sftp`, `sftpHostKeys`, ... besides `url`). */
  ready: Record<string, unknown>;
  port: number;
  adminToken: string;
  dataDir: string;
  process: ChildProcess;
  /** Everything the server wrote to stderr (and non-ready stdout), for failure messages. */
  output: () => string;
  /**
   * SIGTERM, and waits for the exit; a server still running after `stopDeadlineMs` is killed
   * and stop() rejects with its last output (a test that stops it then fails).
   */
  stop: () => Promise<void>;
  /** SIGKILL at once (a crash). */
  kill: () => Promise<void>;
}

export interface StartServerOptions {
  dataDir: string;
  /** Default `127.0.0.1:0` (a free port). Pass `127.0.0.1:PORT` to restart on the same port. */
  addr?: string;
  adminToken?: string;
  env?: Record<string, string | undefined>;
  extraArgs?: string[];
  timeoutMs?: number;
  /**
   * How long stop() waits after SIGTERM before it kills the server and fails (default 30 s:
   * over 74 SIGTERM stops in 48 suites at a load of 13 to 30 on 2 cores, the median drain took
   * 0.22 s, the 90th percentile 1.9 s, the longest 23.5 s, which the old quiet 10 s cut short).
   * test/server/stop-deadline.test.ts.
   */
  stopDeadlineMs?: number;
}

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const adminToken = options.adminToken ?? `admin-${randomBytes(16).toString('hex')}`;
  const stopDeadlineMs = options.stopDeadlineMs ?? 30_000;
  const child = spawn(process.execPath, [FERRY_BIN, 'serve', '--addr', options.addr ?? '127.0.0.1:0', '--data', options.dataDir, ...(options.extraArgs ?? [])], {
    env: cliEnv({ FERRY_ADMIN_TOKEN: adminToken, ...options.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => {
    log += d.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let ready: Record<string, unknown> = {};
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // never leave a half-started server behind
      reject(new Error(`ferry serve did not get ready in time:\n${log}`));
    }, options.timeoutMs ?? 30_000);
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string; url?: string };
        if (msg.event === 'ready' && msg.url) {
          clearTimeout(timer);
          ready = msg;
          resolve(msg.url);
          return;
        }
      } catch {
        // a log line, not the ready event
      }
      log += line + '\n';
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`ferry serve exited (${code ?? signal}) before it was ready:\n${log}`));
    });
  });
  const stopWith = async (sig: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(sig);
    const started = Date.now();
    let overdue = false;
    const timer = setTimeout(() => {
      overdue = true;
      child.kill('SIGKILL');
    }, stopDeadlineMs);
    await exited;
    clearTimeout(timer);
    // For measuring the deadline against drains on a loaded machine (see stopDeadlineMs).
    if (process.env.FERRY_TEST_STOP_LOG) appendFileSync(process.env.FERRY_TEST_STOP_LOG, `${sig} ${Date.now() - started}\n`);
    // A server that ignores SIGTERM would otherwise pass every test that stops it: killing it
    // quietly hid exactly the bug a drain test is there for.
    if (overdue) {
      throw new Error(
        `ferry serve did not exit within ${stopDeadlineMs / 1000} s of ${sig} (killed with SIGKILL); its last output:\n${log.slice(-4000) || '(nothing)'}`,
      );
    }
  };
  return {
    url,
    ready,
    port: Number(new URL(url).port),
    adminToken,
    dataDir: options.dataDir,
    process: child,
    output: () => log,
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
  };
}

/** Reads one counter (summed over its label sets) from the server's Prometheus `/metrics`. */
export async function readMetric(server: { url: string; adminToken: string }, name: string): Promise<number> {
  const series = await readMetricSeries(server, name);
  if (series.length === 0) throw new Error(`metric ${name} not found in /metrics`);
  return series.reduce((a, s) => a + s.value, 0);
}

/** Every label set of one metric, with its value (none: the metric has no series yet). */
export async function readMetricSeries(server: { url: string; adminToken: string }, name: string): Promise<Array<{ labels: Record<string, string>; value: number }>> {
  const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.adminToken}` } });
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}: ${await res.text()}`);
  const text = await res.text();
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([^\s]+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}
