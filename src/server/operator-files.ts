/**
 * Files the operator names to `ferry serve` (the config file, the TLS certificate and key):
 * why one could not be read, in words with the fix, and whether one that holds secrets is
 * open to every local user. Node's bare `EACCES: permission denied, open 'key.pem'` named
 * neither the user the server runs as nor what to change.
 */
import { stat } from 'node:fs/promises';
import { userInfo } from 'node:os';

/** `FILE: why` for a failed read of a file the operator named (`what`: "the TLS key", …). */
export function unreadableFileMessage(file: string, err: unknown, what = 'the file'): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return `${file}: no such file (${what})`;
  if (code === 'EISDIR') return `${file}: a directory, not a file (${what})`;
  if (code === 'EACCES' || code === 'EPERM') {
    const { username, uid } = userInfo();
    return `${file}: permission denied (${what}): ferry runs as ${username} (uid ${uid}), which may not read it; let that user read it (chown, or chgrp and chmod 0640 to keep it from others)`;
  }
  return `${file}: ${err instanceof Error ? err.message : String(err)} (${what})`;
}

/**
 * A warning when `file` holds one of `secretKeys` and every local user may read it (mode o+r);
 * undefined otherwise. Group-readable is left alone: `root:ferry 0640` is the usual way to
 * let the service's user read a file root keeps.
 */
export async function exposedSecretsWarning(file: string, keys: readonly string[], secretKeys: readonly string[]): Promise<string | undefined> {
  const held = keys.filter((k) => secretKeys.includes(k));
  if (held.length === 0) return undefined;
  const mode = (await stat(file)).mode & 0o777;
  if ((mode & 0o004) === 0) return undefined;
  return `${file} holds ${held.join(', ')} and every user of this machine may read it (mode ${mode.toString(8).padStart(4, '0')}): chmod o-r ${file}`;
}
