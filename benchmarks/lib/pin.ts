/**
 * "Two machines" mode (`npm run bench -- --pin`): every client runs on one half of the
 * cores and every server (ferry, nginx, sshd and what they fork: affinity is inherited) on
 * the other, with `taskset`, so that neither end takes the other's CPU, as when the two
 * ends are separate machines. On this 2-core machine: clients on core 0, servers on core 1.
 *
 * The choice travels in the environment (FERRY_BENCH_PIN) so that benchmark scripts run as
 * child processes pin their own children the same way.
 */
import { availableParallelism } from 'node:os';

export interface Pinning {
  /** `taskset -c` lists. */
  client: string;
  server: string;
}

const ENV = 'FERRY_BENCH_PIN';

/** Turns pinning on for this process and its children; returns the cores of each side. */
export function enablePinning(): Pinning {
  const n = availableParallelism();
  if (n < 2) throw new Error('--pin needs at least 2 cores (one for the clients, one for the servers)');
  const half = n >> 1;
  const list = (from: number, to: number) => (from === to ? String(from) : `${from}-${to}`);
  const p: Pinning = { client: list(0, half - 1), server: list(half, n - 1) };
  process.env[ENV] = JSON.stringify(p);
  return p;
}

/** The pinning in force, if any. */
export function pinning(): Pinning | undefined {
  const raw = process.env[ENV];
  return raw ? (JSON.parse(raw) as Pinning) : undefined;
}

/** `cmd args` as run on `side`'s cores: under `taskset -c` when pinning is on, else unchanged. */
export function pinned(side: keyof Pinning, cmd: string, args: readonly string[]): [string, string[]] {
  const p = pinning();
  return p ? ['taskset', ['-c', p[side], cmd, ...args]] : [cmd, [...args]];
}
