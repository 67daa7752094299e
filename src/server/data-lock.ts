/**
 * One server per data directory: `DATA/ferry.lock` names the process that holds it. Two
 * servers on one directory would each run garbage collection and upload sweeps over the
 * same store, each believing it alone decides what is unreferenced.
 *
 * The lock is a file made with O_EXCL holding the holder's pid, its start time (from
 * /proc, so that a recycled pid is not mistaken for the holder) and host name. A lock whose
 * holder is gone (kill -9, a crash, a power cut) is stale and taken over; a lock held from
 * another host (a data directory on a network file system) cannot be checked and is
 * respected. Only the holder of a second O_EXCL file (`ferry.lock.takeover`) removes a
 * stale lock, and only if the lock still holds the stale content it read: so a server
 * starting at the same time never removes another's fresh lock, and O_EXCL on the lock
 * itself decides who gets it.
 */
import { readFileSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError, fromSystemError } from '../core/errors.js';
import { isoTime } from '../core/iso-time.js';

export const LOCK_FILE = 'ferry.lock';

interface LockInfo {
  pid: number;
  /** Process start time in clock ticks since boot (/proc/PID/stat field 22), when known. */
  started: number | null;
  host: string;
  /** When the lock was taken (ISO 8601), for the message a second server prints. */
  since: string;
}

/** Start time of a process (/proc/PID/stat field 22), or null where /proc is not there. */
function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

/** Whether the process a lock names still runs (the same process, not a recycled pid). */
function holderAlive(info: LockInfo): boolean {
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    // EPERM: it exists, under another user.
  }
  const started = processStart(info.pid);
  return info.started === null || started === null || started === info.started;
}

function parse(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && Number.isInteger(v.pid) && v.pid > 0 && typeof v.host === 'string') {
      return { pid: v.pid, started: typeof v.started === 'number' ? v.started : null, host: v.host, since: String(v.since ?? '') };
    }
  } catch {
    // unreadable: treated as stale below
  }
  return undefined;
}

export interface DataLock {
  readonly file: string;
  /** Removes the lock file if it is still this process's. */
  release(): Promise<void>;
}

/**
 * Takes the lock of `dataDir` for this process, or throws FERRY_ERR_CONFIG naming the
 * process that holds it.
 */
export async function lockDataDir(dataDir: string): Promise<DataLock> {
  const file = join(dataDir, LOCK_FILE);
  const mine: LockInfo = { pid: process.pid, started: processStart(process.pid), host: hostname(), since: isoTime() };
  const text = JSON.stringify(mine) + '\n';
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o644);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return {
        file,
        async release() {
          const now = await readFile(file, 'utf8').catch(() => '');
          if (now === text) await unlink(file).catch(() => {});
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, file);
    }
    const seen = await readFile(file, 'utf8').catch(() => undefined);
    if (seen === undefined) continue; // released meanwhile: try again
    const holder = parse(seen);
    if (holder && (holder.host !== mine.host || holderAlive(holder))) {
      const where = holder.host === mine.host ? `pid ${holder.pid}` : `pid ${holder.pid} on ${holder.host}`;
      throw new ConfigError(
        `the data directory ${dataDir} is in use by another ferry serve (${where}${holder.since ? `, since ${holder.since}` : ''}); stop it first or use another --data` +
          (holder.host !== mine.host ? ` (if that server is gone, remove ${file})` : ''),
        { details: { pid: holder.pid, host: holder.host, lockFile: file } },
      );
    }
    await takeOverStale(file, seen);
  }
  throw new ConfigError(`could not take the lock ${file}: other servers keep starting on ${dataDir}`);
}

/** Removes a stale lock, unless what is there by now is another server's fresh one. */
async function takeOverStale(file: string, stale: string): Promise<void> {
  const mutex = `${file}.takeover`;
  const me = JSON.stringify({ pid: process.pid, started: processStart(process.pid), host: hostname(), since: isoTime() });
  for (let wait = 0; ; wait++) {
    try {
      const fh = await open(mutex, 'wx', 0o644);
      await fh.writeFile(me).finally(() => fh.close());
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, mutex);
    }
    // Another server is taking over: wait for it. A taker that died there (its window is a
    // few milliseconds) leaves a file that goes after a while.
    await new Promise((r) => setTimeout(r, 20));
    if (wait >= 50) {
      const holder = parse(await readFile(mutex, 'utf8').catch(() => ''));
      if (!holder || (holder.host === hostname() && !holderAlive(holder))) await unlink(mutex).catch(() => {});
      wait = 0;
    }
  }
  try {
    if ((await readFile(file, 'utf8').catch(() => undefined)) === stale) await unlink(file).catch(() => {});
  } finally {
    await unlink(mutex).catch(() => {});
  }
}
