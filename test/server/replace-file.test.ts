/**
 * Files the server writes whole into its data directory (TLS material, the session key, the
 * initial admin token) on a disk that is full: the old file stays as it was, and nothing is
 * left beside it. (A plain `writeFile` truncates first: the old file is lost.)
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replaceFile } from '../../src/server/replace-file.js';

describe('replaceFile on a full tmpfs', () => {
  let mnt: string;
  beforeAll(() => {
    mnt = mkdtempSync(join(tmpdir(), 'ferry-replace-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
  });
  afterAll(() => {
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });

  it('fails with ENOSPC, keeps the old file whole and leaves no temporary file; with room it replaces it', async () => {
    const old = 'old contents\n'.repeat(100);
    writeFileSync(join(mnt, 'ca.crt'), old);
    writeFileSync(join(mnt, 'plain.crt'), old);
    const fd = openSync(join(mnt, 'filler'), 'w');
    try {
      for (;;) writeSync(fd, Buffer.alloc(4096));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }
    const fresh = 'new contents\n'.repeat(800); // more pages than the old file holds
    await expect(replaceFile(join(mnt, 'ca.crt'), fresh, 0o644)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(readFileSync(join(mnt, 'ca.crt'), 'utf8')).toBe(old);
    expect(readdirSync(mnt).sort()).toEqual(['ca.crt', 'filler', 'plain.crt']);
    // What the server did before: the old file is gone, and the new one not there.
    await expect(writeFile(join(mnt, 'plain.crt'), fresh)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(readFileSync(join(mnt, 'plain.crt'), 'utf8')).not.toBe(old);

    rmSync(join(mnt, 'filler'));
    await replaceFile(join(mnt, 'ca.crt'), fresh, 0o644);
    expect(readFileSync(join(mnt, 'ca.crt'), 'utf8')).toBe(fresh);
    expect(readdirSync(mnt).sort()).toEqual(['ca.crt', 'plain.crt']);
  });
});
