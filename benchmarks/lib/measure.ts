/**
 * What a benchmark step costs: wall time, CPU seconds (user and system) and peak RSS of the
 * client processes, CPU of the server process trees, RSS of a server.
 *
 * Clients run under GNU `/usr/bin/time`, which reports the rusage of everything the command
 * waited for (scp's ssh child, rsync's ssh, ...), so a client's CPU includes its helpers.
 * Servers are long-lived, so their CPU is read from /proc before and after a step: for each
 * process of the tree, utime+stime plus cutime+cstime (children it already reaped, like
 * sshd's per-connection processes), in clock ticks.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pinned } from './pin.js';

export interface Command {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the command's stdin (sftp batch files come from a file instead). */
  input?: string;
}

export interface Cpu {
  user: number;
  sys: number;
}

export interface ClientCost {
  wallSeconds: number;
  cpu: Cpu;
  /** Largest peak RSS among the client processes, bytes. */
  peakRssBytes: number;
  stdout: string;
  stderr: string;
}

const TIME = '/usr/bin/time';
export const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

let scratch: string | undefined;
async function scratchDir(): Promise<string> {
  scratch ??= await mkdtemp(join(tmpdir(), 'ferry-bench-time-'));
  return scratch;
}

export async function cleanupMeasure(): Promise<void> {
  if (scratch) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
}

let seq = 0;

/** Clients running now, so an interrupted bench can end them (see killClients). */
const running = new Set<import('node:child_process').ChildProcess>();

/** SIGKILLs every client still running, with its children (an interrupted bench; the servers are going away). */
export function killClients(): void {
  for (const c of running) {
    // /usr/bin/time's child (and its helpers, like scp's ssh) first, then time itself.
    for (const pid of processTree(c.pid!).reverse()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Runs one command to completion under /usr/bin/time; throws with its output if it fails. */
export async function runClient(c: Command, timeoutMs = 3_600_000): Promise<ClientCost> {
  const out = join(await scratchDir(), `time-${process.pid}-${seq++}.txt`);
  const t0 = performance.now();
  const child = spawn(...pinned('client', TIME, ['-f', 'FERRYBENCH %U %S %M', '-o', out, c.cmd, ...c.args]), {
    env: c.env ?? process.env,
    cwd: c.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => stdout.push(d));
  child.stderr.on('data', (d: Buffer) => stderr.push(d));
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.stdin.on('error', () => {});
  child.stdin.end(c.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve(status));
  });
  clearTimeout(timer);
  const wallSeconds = (performance.now() - t0) / 1000;
  const text = await readFile(out, 'utf8').catch(() => '');
  await rm(out, { force: true });
  const o = Buffer.concat(stdout).toString();
  const e = Buffer.concat(stderr).toString();
  if (code !== 0) {
    throw new Error(`${c.cmd} ${c.args.join(' ')} exited with ${code}:\n${e.slice(-4000)}\n${o.slice(-2000)}\n${text}`);
  }
  const m = /FERRYBENCH (\S+) (\S+) (\d+)/.exec(text);
  if (!m) throw new Error(`no rusage from /usr/bin/time for ${c.cmd}: ${text}`);
  // GNU time's %M is in KiB.
  return { wallSeconds, cpu: { user: Number(m[1]), sys: Number(m[2]) }, peakRssBytes: Number(m[3]) * 1024, stdout: o, stderr: e };
}

/**
 * Runs commands all at once (concurrent clients) from one bash script under one
 * /usr/bin/time: the kernel sums the CPU of every client exactly (per-process figures are
 * rounded to 10 ms, and 200 curls of 4 MiB round to zero each), and the bench process does
 * not have to babysit 200 children while they run. Wall time from the script's start to the
 * last client's exit; peak RSS is the largest single client's; stdout is every client's,
 * concatenated.
 */
export async function runClients(commands: Command[]): Promise<ClientCost> {
  if (commands.length === 1) return runClient(commands[0]);
  const dir = join(await scratchDir(), `many-${process.pid}-${seq++}`);
  await mkdir(dir);
  const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const lines = ['set -u', 'pids=()'];
  for (let i = 0; i < commands.length; i++) {
    const c = commands[i];
    const stdin = join(dir, `${i}.in`);
    await writeFile(stdin, c.input ?? '');
    const env = c.env ? `env -i ${Object.entries(c.env).filter(([, v]) => v !== undefined).map(([k, v]) => q(`${k}=${v}`)).join(' ')} ` : '';
    const cd = c.cwd ? `cd ${q(c.cwd)} && ` : '';
    lines.push(`( ${cd}exec ${env}${[c.cmd, ...c.args].map(q).join(' ')} <${q(stdin)} >${q(join(dir, `${i}.out`))} 2>${q(join(dir, `${i}.err`))} ) & pids+=($!)`);
  }
  lines.push('fail=0', 'for p in "${pids[@]}"; do wait "$p" || fail=$((fail+1)); done', 'exit $((fail > 0))');
  const script = join(dir, 'run.sh');
  await writeFile(script, lines.join('\n') + '\n');
  try {
    const r = await runClient({ cmd: 'bash', args: [script] }).catch(async (err: Error) => {
      const errs = await Promise.all(commands.map((_, i) => readFile(join(dir, `${i}.err`), 'utf8').catch(() => '')));
      throw new Error(`${err.message}\nfirst client errors:\n${errs.filter(Boolean).slice(0, 3).join('\n---\n')}`);
    });
    const outs = await Promise.all(commands.map((_, i) => readFile(join(dir, `${i}.out`), 'utf8')));
    return { ...r, stdout: outs.join('') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** The process and its descendants (through /proc/<pid>/task/<tid>/children). */
export function processTree(pid: number): number[] {
  const all: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    all.push(p);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        const kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim();
        if (kids) stack.push(...kids.split(/\s+/).map(Number));
      } catch {
        // the task ended while we looked
      }
    }
  }
  return all;
}

/** utime, stime, cutime, cstime of one process, seconds; zeros if it is gone. */
function processCpu(pid: number): Cpu {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may contain spaces and parentheses.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    const user = Number(f[11]) + Number(f[13]);
    const sys = Number(f[12]) + Number(f[14]);
    return { user: user / TICKS, sys: sys / TICKS };
  } catch {
    return { user: 0, sys: 0 };
  }
}

/** CPU seconds consumed so far by the trees rooted at `pids` (live processes and reaped children). */
export function treeCpu(pids: number[]): Cpu {
  let user = 0;
  let sys = 0;
  for (const root of pids) {
    for (const p of processTree(root)) {
      const c = processCpu(p);
      user += c.user;
      sys += c.sys;
    }
  }
  return { user, sys };
}

export function cpuDelta(after: Cpu, before: Cpu): Cpu {
  return { user: Math.max(0, after.user - before.user), sys: Math.max(0, after.sys - before.sys) };
}

function statusField(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Resident set size of the trees rooted at `pids`, bytes. */
export function treeRss(pids: number[]): number {
  let total = 0;
  for (const root of pids) for (const p of processTree(root)) total += statusField(p, 'VmRSS');
  return total;
}

/** Peak RSS since start or the last reset (VmHWM), bytes. */
export function peakRss(pid: number): number {
  return statusField(pid, 'VmHWM');
}

/**
 * Resets VmHWM to the current RSS (writing 5 to clear_refs, Linux >= 4.0), so the next
 * peakRss reads the peak of the step alone. Returns false when the kernel refuses.
 */
export async function resetPeakRss(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Samples a tree's RSS every `everyMs` until stopped; returns the largest seen. */
export function sampleRss(pids: number[], everyMs = 50): { stop: () => number } {
  let max = treeRss(pids);
  const timer = setInterval(() => {
    max = Math.max(max, treeRss(pids));
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(max, treeRss(pids));
    },
  };
}

/** Waits until the tree rooted at `pid` has no other processes (per-connection children gone). */
export async function waitForChildren(pid: number, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (processTree(pid).length > 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

