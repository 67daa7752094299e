/** Runs the real `bin/ferry.js` as a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** bin/ferry.js, whether this module runs from its source (vitest) or compiled in dist/ (benchmarks). */
export const FERRY_BIN = fileURLToPath(new URL(import.meta.url.includes('/dist/test/') ? '../../../bin/ferry.js' : '../../bin/ferry.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  /** Bytes for stdin (a Buffer, or a file path through `stdinFile`). */
  input?: Buffer | string;
  stdinFile?: string;
  cwd?: string;
  timeoutMs?: number;
}

/** Environment for a child CLI: isolated config, no inherited FERRY_* settings. */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('FERRY_')) delete env[k];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Starts the CLI and returns the child (for tests that kill it mid-way). */
export function spawnFerry(args: string[], options: CliOptions = {}): ChildProcess {
  return spawn(process.execPath, [FERRY_BIN, ...args], {
    env: cliEnv(options.env),
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs the CLI to completion. */
export async function runFerry(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnFerry(args, options);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  if (options.stdinFile) {
    const { createReadStream } = await import('node:fs');
    createReadStream(options.stdinFile).pipe(child.stdin!);
  } else {
    child.stdin!.end(options.input ?? '');
  }
  child.stdin!.on('error', () => {}); // the CLI may exit before reading stdin
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  const stdoutBytes = Buffer.concat(out);
  const stderr = Buffer.concat(err).toString();
  // 70 is the CLI's internal error, which no test expects: a failing test's output then says
  // why, whatever the test asserted (two runs under load have seen a 70 with nothing else).
  if (code === 70) console.error(`ferry ${args.join(' ')} exited 70 (an internal error); its stderr:\n${stderr}`);
  return { code, signal, stdout: stdoutBytes.toString(), stderr, stdoutBytes };
}
