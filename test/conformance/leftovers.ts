/**
 * The LeftoverSweeper ability, for backends whose temporary objects are files on this
 * machine's disk (local; SFTP against the sshd the tests start), so that a write that died
 * can be planted as the file it leaves: `.ferry-tmp-…` beside its target, anywhere below the root.
 */
import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TEMP_PREFIX } from '../../src/backends/local/local-backend.js';
import { withDryRun, withRetry } from '../../src/backends/decorators/index.js';
import { canSweepLeftovers, type LeftoverSweeper, type StorageBackend } from '../../src/core/storage.js';

export interface LeftoverHarness {
  backend: StorageBackend;
  /** The backend's root as a directory of this machine. */
  rootDir: string;
  cleanup(): Promise<void>;
}

async function plant(file: string, bytes: number, ageMs: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, Buffer.alloc(bytes, 1));
  const t = new Date(Date.now() - ageMs);
  await utimes(file, t, t);
}

async function filesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  return out.sort();
}

export function describeLeftoverSweeping(name: string, make: () => Promise<LeftoverHarness>): void {
  describe(`${name}: leftovers of interrupted writes`, () => {
    it('removes temporary files older than the cutoff anywhere below the root, and nothing else', async () => {
      const h = await make();
      try {
        expect(canSweepLeftovers(h.backend)).toBe(true);
        await h.backend.write('a/b/kept', Buffer.from('an object'));
        await h.backend.write('top', Buffer.from('another'));
        const hour = 3600_000;
        await plant(path.join(h.rootDir, `${TEMP_PREFIX}old-top`), 100, 2 * hour);
        await plant(path.join(h.rootDir, 'a', 'b', `${TEMP_PREFIX}old-deep`), 2000, 2 * hour);
        await plant(path.join(h.rootDir, 'a', `${TEMP_PREFIX}fresh`), 50, 0); // a write still in progress
        // An object that merely looks old is never touched.
        const t = new Date(Date.now() - 3 * hour);
        await utimes(path.join(h.rootDir, 'top'), t, t);

        const sweeper = (b: StorageBackend) => b as StorageBackend & LeftoverSweeper;
        const swept = await sweeper(withRetry(h.backend)).sweepLeftovers(Date.now() - hour);
        expect(swept).toEqual({ count: 2, bytes: 2100 });
        expect(await filesBelow(h.rootDir)).toEqual([path.join('a', `${TEMP_PREFIX}fresh`), path.join('a', 'b', 'kept'), 'top'].sort());
        // A dry run reports nothing and removes nothing; a cutoff of now takes the rest.
        expect(await sweeper(withDryRun(h.backend)).sweepLeftovers(Date.now() + 1000)).toEqual({ count: 0, bytes: 0 });
        expect((await stat(path.join(h.rootDir, 'a', `${TEMP_PREFIX}fresh`))).size).toBe(50);
        expect(await sweeper(h.backend).sweepLeftovers(Date.now() + 1000)).toEqual({ count: 1, bytes: 50 });
        expect(await filesBelow(h.rootDir)).toEqual([path.join('a', 'b', 'kept'), 'top'].sort());
      } finally {
        await h.cleanup();
      }
    });

    it('never removes the temporary file of a write in progress, whatever the cutoff (gc --grace 0s during uploads)', async () => {
      const h = await make();
      try {
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let started!: () => void;
        const begun = new Promise<void>((r) => (started = r));
        async function* body(): AsyncIterable<Uint8Array> {
          yield Buffer.alloc(1000, 7);
          started();
          await held;
          yield Buffer.alloc(500, 8);
        }
        const writing = h.backend.write('slow/object', body());
        await begun;
        // The first piece is on its way: wait until the temporary file is there.
        for (let i = 0; i < 200 && !(await filesBelow(h.rootDir)).some((f) => path.basename(f).startsWith(TEMP_PREFIX)); i++) await new Promise((r) => setTimeout(r, 10));
        expect((await filesBelow(h.rootDir)).filter((f) => path.basename(f).startsWith(TEMP_PREFIX))).toHaveLength(1);
        const sweeper = h.backend as StorageBackend & LeftoverSweeper;
        expect(await sweeper.sweepLeftovers(Date.now() + 60_000)).toEqual({ count: 0, bytes: 0 });
        release();
        expect((await writing).size).toBe(1500);
        const back: Buffer[] = [];
        for await (const piece of await h.backend.read('slow/object')) back.push(piece as Buffer);
        expect(Buffer.concat(back).equals(Buffer.concat([Buffer.alloc(1000, 7), Buffer.alloc(500, 8)]))).toBe(true);
        expect(await filesBelow(h.rootDir)).toEqual([path.join('slow', 'object')]);
      } finally {
        await h.cleanup();
      }
    });
  });
}
