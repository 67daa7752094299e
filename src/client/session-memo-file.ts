/**
 * A {@link SessionMemo} in files (Node.js): one small JSON file per upload in
 * `<state dir>/uploads/` (`~/.local/state/ferry/uploads/` by default), named by a hash of the
 * upload's key, mode 0600, replaced atomically. It holds the key (server, a hash of the
 * user and token path prefix, local and remote path), the session id and its stamp: no secret (an id is of
 * no use without its owner's credentials), no file content.
 */
import { createHash } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { stateDir } from '../core/config-location.js';
import { readJsonObjectFile, writePrivateJsonFile } from '../core/private-file.js';
import type { SavedSession, SessionMemo } from './resume-session.js';

export class FileSessionMemo implements SessionMemo {
  /** `dir`: default `<state dir>/uploads`. */
  constructor(private readonly dir: string = join(stateDir(), 'uploads')) {}

  private fileOf(key: string): string {
    return join(this.dir, createHash('sha256').update(key).digest('hex').slice(0, 32) + '.json');
  }

  async recall(key: string): Promise<SavedSession | undefined> {
    const data = await readJsonObjectFile(this.fileOf(key));
    if (!data || data.key !== key || typeof data.id !== 'string' || typeof data.stamp !== 'string') return undefined;
    return { id: data.id, stamp: data.stamp, ...(typeof data.hash === 'string' ? { hash: data.hash } : {}) };
  }

  async remember(key: string, saved: SavedSession): Promise<void> {
    await writePrivateJsonFile(this.fileOf(key), { key, ...saved, savedAt: new Date().toISOString() }, false);
  }

  async forget(key: string): Promise<void> {
    await unlink(this.fileOf(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}
