/**
 * A world for the tests of `put --encrypt` files outside a vault named in other commands
 * (test/e2e/cli-e2e-plain-names, cli-e2e-stored-names): a server, the passphrase's
 * environment, and the bytes every such file holds.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { startWorld, type E2EWorld } from './e2e.js';

export interface EncryptedNamesWorld {
  w: E2EWorld;
  /** The environment that gives the CLI the key. */
  key: Record<string, string>;
  /** What every file put holds. */
  plain: Buffer;
  /** `mkdir -p DIR`, then `put --encrypt` of a file NAME into it. */
  putEncrypted(dir: string, name: string): Promise<void>;
  /** The names `ls DIR` shows with the key (plain ones) or without it (stored ones). */
  names(dir: string, withKey: boolean): Promise<string[]>;
}

export async function startEncryptedNamesWorld(size: number): Promise<EncryptedNamesWorld> {
  const w = await startWorld();
  const key = { FERRY_E2E_PASSPHRASE: 'correct horse battery staple' };
  const plain = randomBytes(size);
  return {
    w,
    key,
    plain,
    async putEncrypted(dir, name) {
      await w.ferry(['mkdir', '-p', dir]);
      const src = join(w.dir, name);
      await writeFile(src, plain);
      const put = await w.ferry(['put', '--encrypt', src, `${dir}/`], { env: key });
      expect(put.code, put.stderr).toBe(0);
    },
    async names(dir, withKey) {
      const ls = await w.ferry(['ls', dir], withKey ? { env: key } : {});
      expect(ls.code, ls.stderr).toBe(0);
      return ls.stdout.split('\n').filter(Boolean);
    },
  };
}
