/**
 * Local directory trees for sync tests: deterministic generation, edits, snapshots (paths,
 * sizes, contents' hashes, mtimes), and running programs (ferry's CLI, rclone) on them.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FERRY_BIN = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));

/** A small deterministic PRNG (mulberry32), so that failures reproduce. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytesFrom(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

export const BASE_MTIME = 1_700_000_000_000;

/** Writes a file with an exact mtime (ms), creating parents. */
export function putFile(root: string, rel: string, data: Buffer | string, mtimeMs = BASE_MTIME): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, data);
  utimesSync(p, mtimeMs / 1000, mtimeMs / 1000);
}

export function setMtime(root: string, rel: string, mtimeMs: number): void {
  utimesSync(join(root, rel), mtimeMs / 1000, mtimeMs / 1000);
}

/** A tree of `files` files in nested folders, sizes 0..maxSize, nasty names included. */
export function generateTree(root: string, seed: number, files = 40, maxSize = 20_000): string[] {
  const rand = prng(seed);
  const dirs = ['', 'a', 'a/b', 'a/b/c', 'docs', 'naïve ☃', 'sp ace', "q'uote\"s"];
  const names: string[] = [];
  for (let i = 0; i < files; i++) {
    const dir = dirs[(rand() * dirs.length) | 0];
    const ext = ['.txt', '.bin', '.jpg', '.tmp', ''][(rand() * 5) | 0];
    const rel = (dir ? dir + '/' : '') + `f${i}${i % 7 === 0 ? ' #%&' : ''}${ext}`;
    const size = i % 11 === 0 ? 0 : (rand() * maxSize) | 0;
    putFile(root, rel, randomBytesFrom(rand, size), BASE_MTIME + ((rand() * 1e9) | 0));
    names.push(rel);
  }
  return names;
}

export interface FileFacts {
  size: number;
  sha256: string;
  mtimeMs: number;
}

/** rel -> facts of every regular file below `root` (mtimes in whole ms). */
export function snapshotDir(root: string): Record<string, FileFacts> {
  const out: Record<string, FileFacts> = {};
  const walk = (dir: string, prefix: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      const abs = join(dir, e.name);
      if (e.isDirectory()) walk(abs, rel);
      else if (e.isFile()) {
        const st = statSync(abs);
        out[rel] = { size: st.size, sha256: createHash('sha256').update(readFileSync(abs)).digest('hex'), mtimeMs: Math.round(st.mtimeMs) };
      }
    }
  };
  walk(root, '');
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export function copyDir(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true, preserveTimestamps: true });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (never throws on a non-zero exit). */
export function runProgram(file: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Environment for child CLIs: no inherited FERRY_* settings, an isolated config and state. */
export function childEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('FERRY_')) delete env[k];
  return { ...env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_STATE_HOME: join(home, '.state'), ...extra };
}

export function runFerry(args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return runProgram(process.execPath, [FERRY_BIN, ...args], env);
}

/** Installs a Debian package when its command is missing (as `.ci/run` does; needs root). */
export function ensureCommand(command: string, pkg = command): boolean {
  const has = () => {
    try {
      execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (has()) return true;
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch {
    execFileSync('apt-get', ['update'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  return has();
}
