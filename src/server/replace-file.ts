/**
 * Files of the data directory the server writes whole (the TLS material of
 * `--tls-self-signed`, the web-session key, the initial admin token, the SFTP host keys, a
 * backup's manifest): written under a temporary name beside the file, flushed, renamed over
 * it, and the rename made durable (the directory fsynced). A full disk or a crash in the
 * middle leaves the old file (or none), never a truncated one: a start that finds half a CA
 * certificate or host key fails to parse it, and every later start with it.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncDir } from '../backends/local/local-backend.js';

/** Replaces `file` with `data` atomically (`mode` before the umask); the temporary file goes when that fails. */
export async function replaceFile(file: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const temp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    await syncDir(dirname(file));
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}
