/**
 * Bisync's persisted state: the listing of each side as it was after the last successful
 * run (what "changed" and "deleted" are measured against), and a lock so that two runs on
 * the same pair never overlap.
 *
 * Where: `$XDG_STATE_HOME/ferry/bisync/<pair id>/` (`~/.local/state/...` by default), one
 * folder per pair of remotes, named from where the two really are (bisync.ts, sideId) and a
 * hash of that.
 * - `state.json`: `{version, path1, path2, listing1, listing2, savedAt}`, written to a
 *   temporary file, fsynced and renamed: a crash leaves the previous state whole.
 * - `lock`: created exclusively with the holder's pid and host. A lock whose process is
 *   gone (same host) is stale: the run it belonged to was interrupted. It is taken over and
 *   the run is reported as a recovery (the algorithm is idempotent against the old state).
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import path from 'node:path';
import { mkdir, open, readFile, rm, rmdir } from 'node:fs/promises';
import { readJsonObjectFile, writePrivateJsonFile } from '../core/private-file.js';
import { stateDir } from '../core/config-location.js';
import { ConfigError, PreconditionFailedError, fromSystemError } from '../core/errors.js';
import type { FileEntry } from './hashes.js';

export const STATE_VERSION = 1;

export interface BisyncState {
  version: number;
  path1: string;
  path2: string;
  listing1: Record<string, FileEntry>;
  listing2: Record<string, FileEntry>;
  savedAt: number;
}

/** `$XDG_STATE_HOME/ferry/bisync`, or `~/.local/state/ferry/bisync`. */
export function defaultStateRoot(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(stateDir(env), 'bisync');
}

/** A readable, unique folder name for a pair of remotes (their identities). */
export function pairId(side1: string, side2: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40);
  const digest = createHash('sha256').update(`${side1}\n${side2}`).digest('hex').slice(0, 12);
  return `${clean(side1)}..${clean(side2)}-${digest}`;
}

export class StateStore {
  readonly dir: string;
  constructor(root: string, id: string) {
    this.dir = path.join(root, id);
  }

  private get stateFile(): string {
    return path.join(this.dir, 'state.json');
  }

  private get lockFile(): string {
    return path.join(this.dir, 'lock');
  }

  async load(): Promise<BisyncState | undefined> {
    let data: Record<string, unknown> | undefined;
    try {
      data = await readJsonObjectFile(this.stateFile);
    } catch (err) {
      throw new ConfigError(`bisync state ${this.stateFile} is damaged; run with \`resync: true\``, { cause: err });
    }
    if (data === undefined) return undefined;
    const state = data as unknown as BisyncState;
    if (state.version !== STATE_VERSION) throw new ConfigError(`bisync state ${this.stateFile} has version ${String(state.version)}; run with \`resync: true\``);
    return state;
  }

  /** Atomic (temporary file, fsync, rename) and private (0600): a crash leaves the previous state whole. */
  async save(state: BisyncState): Promise<void> {
    await writePrivateJsonFile(this.stateFile, state);
  }

  async clear(): Promise<void> {
    await rm(this.stateFile, { force: true });
  }

  /** Removes the state and, when nothing else is in it, the pair's folder (a state carried over to another key). */
  async discard(): Promise<void> {
    await this.clear();
    await rmdir(this.dir).catch(() => {}); // not empty (a lock, something of the user's), or already gone
  }

  /**
   * Takes the lock. Returns whether a stale lock (an interrupted run) was taken over.
   * FERRY_ERR_PRECONDITION_FAILED when another live run holds it.
   */
  async lock(): Promise<{ recovered: boolean; release: () => Promise<void> }> {
    const me = JSON.stringify({ pid: process.pid, host: hostname(), started: Date.now() });
    let recovered = false;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        // Made at each attempt: another run's release may just have removed it (empty).
        await mkdir(this.dir, { recursive: true });
        const fh = await open(this.lockFile, 'wx', 0o600);
        await fh.writeFile(me);
        await fh.close();
        return { recovered, release: () => this.release() };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        if (code !== 'EEXIST') throw fromSystemError(err, this.lockFile);
      }
      let holder: { pid?: number; host?: string } = {};
      try {
        holder = JSON.parse(await readFile(this.lockFile, 'utf8')) as typeof holder;
      } catch {
        // unreadable (a crash while writing it): stale
      }
      if (holder.host === hostname() && typeof holder.pid === 'number' && holder.pid !== process.pid && alive(holder.pid)) {
        throw new PreconditionFailedError(`another bisync of this pair is running (pid ${holder.pid}; lock ${this.lockFile})`, {
          details: { lock: this.lockFile, pid: holder.pid },
        });
      }
      if (holder.host !== undefined && holder.host !== hostname()) {
        throw new PreconditionFailedError(`the lock ${this.lockFile} is held by host ${holder.host}; remove it if that run is gone`);
      }
      await rm(this.lockFile, { force: true });
      recovered = true;
    }
    throw new PreconditionFailedError(`could not take the lock ${this.lockFile}`);
  }

  /**
   * Drops the lock, and the pair's folder when nothing else is in it: a run that failed
   * before saving a state (no state yet, a side that does not exist) leaves no empty folder.
   */
  private async release(): Promise<void> {
    await rm(this.lockFile, { force: true });
    await rmdir(this.dir).catch(() => {}); // not empty (a state is saved), or already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
