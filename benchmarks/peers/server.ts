/** What the bench needs of every server it starts: its processes, its start-up time, a stop. */
import type { ChildProcess } from 'node:child_process';

export interface PeerServer {
  name: string;
  /** The root process; its tree is where the server's CPU and memory are counted. */
  pid: number;
  /** Time from spawn to accepting connections (ferry: to its ready line), seconds. */
  readySeconds: number;
  stop(): Promise<void>;
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}
