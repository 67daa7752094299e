/**
 * A start that trips over a file of the data directory this process may not read or write.
 * The usual cause: a first start, or a `ferry admin restore`, run as root left root's files
 * (mode 0600) behind, and the service then runs as its own user (deploy/ferry.service,
 * the Docker image's `ferry`). Node's bare `EACCES: permission denied, open '…/meta.db'`
 * reached the operator as an unexpected error (exit 70); this names the user and the fix.
 */
import { userInfo } from 'node:os';
import { dirname, sep } from 'node:path';
import { ConfigError, PermissionError, type FerryError } from '../core/errors.js';

/** The error to report instead of `err` when it is a refused access below `dataDir`; undefined otherwise. */
export function dataDirAccessError(err: unknown, dataDir: string): FerryError | undefined {
  const system = errnoOf(err) ?? errnoOf((err as { cause?: unknown } | undefined)?.cause);
  if (!system?.path || (system.path !== dataDir && !system.path.startsWith(dataDir + sep))) return undefined;
  const { username, uid } = userInfo();
  return new PermissionError(
    `cannot ${system.syscall ?? 'use'} ${system.path}: permission denied. ferry serve runs as ${username} (uid ${uid}), and the data directory and everything in it must be its: chown -R ${username} ${dataDir} (a start or a ferry admin restore as root leaves root's files behind)`,
    { cause: err, details: { path: system.path } },
  );
}

/** The error for a data directory that could not be made (`mkdir -p`): which, why, and the command that fixes it. */
export function dataDirCreateError(err: unknown, dataDir: string): FerryError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const { username, uid } = userInfo();
  const why =
    code === 'EACCES' || code === 'EPERM'
      ? `permission denied: ferry serve runs as ${username} (uid ${uid}), which may not make it in ${dirname(dataDir)}; make it for that user first: install -d -o ${username} -m 700 ${dataDir}`
      : code === 'EEXIST' || code === 'ENOTDIR'
        ? 'a file is in the way (it or a parent is not a directory): use another --data'
        : code === 'EROFS'
          ? 'the file system is read-only: use a writable one'
          : (err as Error).message;
  return new ConfigError(`cannot make the data directory ${dataDir}: ${why}`, { cause: err });
}

function errnoOf(err: unknown): NodeJS.ErrnoException | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  return e && (e.code === 'EACCES' || e.code === 'EPERM') && typeof e.path === 'string' ? e : undefined;
}
