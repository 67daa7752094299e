/**
 * What a test says when a spawned `ferry serve` did not do something in time: the phase it
 * was in, whether the process still runs, whether it answers a fresh /healthz (a new
 * connection, its own deadline), and the tail of what it printed. Every wait a test makes on
 * such a server has its own deadline, shorter than the test's, so that a server that stops
 * answering fails the test with this instead of a bare test timeout.
 */
import type { ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface Watched {
  child: ChildProcess;
  /** The server's base URL, once its ready line was read. */
  url?: string;
  /** The tail of its stdout and stderr. */
  output(): string;
}

/** "running (pid N)", or how it ended. */
export function processState(child: ChildProcess): string {
  if (child.exitCode !== null) return `exited with status ${child.exitCode}`;
  if (child.signalCode !== null) return `ended by ${child.signalCode}`;
  return `running (pid ${child.pid})`;
}

/** GET /healthz on a new connection (no keep-alive pool), `ms` at most: the status, or why none came. */
export function freshHealthz(url: string, ms = 5_000): Promise<string> {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request(`${url}/healthz`, { agent: false, rejectUnauthorized: false, timeout: ms }, (res) => {
      res.resume();
      res.on('end', () => resolve(`HTTP ${res.statusCode}`));
      res.on('error', (err) => resolve(`error reading the answer: ${err.message}`));
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(`no answer within ${ms} ms`);
    });
    req.on('error', (err) => resolve(`error: ${err.message}`));
    req.end();
  });
}

/** How much of a server's output a failure message shows. */
const OUTPUT_TAIL = 6_000;

/** The paragraph a failure message carries about `server`. */
export async function describeServer(server: Watched): Promise<string> {
  const state = processState(server.child);
  const health = server.url === undefined ? 'no URL yet (no ready line)' : state.startsWith('running') ? await freshHealthz(server.url) : 'not asked (the process has ended)';
  return `ferry serve: ${state}; a fresh GET /healthz: ${health}\n--- its output (tail) ---\n${server.output().slice(-OUTPUT_TAIL)}`;
}

/**
 * `work` within `ms`, or an Error naming `phase` with {@link describeServer}. The work is not
 * retried nor cancelled (the caller stops the server).
 */
export async function within<T>(server: Watched, phase: string, ms: number, work: Promise<T> | (() => Promise<T>)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<{ late: true }>((resolve) => (timer = setTimeout(() => resolve({ late: true }), ms)));
  let first: { value: T } | { late: true } | { err: unknown };
  try {
    const running = typeof work === 'function' ? work() : work;
    first = await Promise.race([running.then((value) => ({ value }), (err: unknown) => ({ err })), late]);
  } catch (err) {
    first = { err };
  } finally {
    clearTimeout(timer);
  }
  if ('value' in first) return first.value;
  const what = 'late' in first ? `not done within ${ms} ms` : first.err instanceof Error ? first.err.message : String(first.err);
  throw new Error(`${phase}: ${what}\n${await describeServer(server)}`, 'err' in first ? { cause: first.err } : undefined);
}

/** Polls `holds` every 50 ms until it is true, or fails after `ms` as {@link within} does (nothing polls on after). */
export async function until(server: Watched, phase: string, ms: number, holds: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!holds()) {
    if (Date.now() >= end) throw new Error(`${phase}: not done within ${ms} ms\n${await describeServer(server)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM, and the exit awaited `ms` at most; then SIGKILL and a failure naming `phase`. */
export async function stopWithin(server: Watched, phase: string, ms: number): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  try {
    await within(server, phase, ms, exited);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** Keeps the last `max` characters of what is appended (a server's output for a failure message). */
export function tail(max = 8_000): { add(text: string): void; text(): string } {
  let kept = '';
  return {
    add: (text) => {
      kept += text;
      if (kept.length > 2 * max) kept = kept.slice(-max);
    },
    text: () => kept.slice(-max),
  };
}
