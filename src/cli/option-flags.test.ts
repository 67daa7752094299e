import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlreadyExistsError } from '../core/errors.js';
import { refuseClobber } from '../client/get.js';
import { inCliTerms } from './option-flags.js';

describe('inCliTerms: the library names options, the CLI prints flags', () => {
  it('replaces each known option in backquotes by its flag', () => {
    expect(inCliTerms('bisync: 3 of 4 files (75%) were deleted on one, more than `maxDelete` 50%; nothing was changed (check the side, or run with `force: true`)')).toBe(
      'bisync: 3 of 4 files (75%) were deleted on one, more than --max-delete 50%; nothing was changed (check the side, or run with --force)',
    );
    expect(inCliTerms('a.txt exists on the destination (`noOverwrite`)')).toBe('a.txt exists on the destination (--no-clobber)');
    expect(inCliTerms('no bisync state for a and b (looked in /s): run once with `resync: true`')).toBe('no bisync state for a and b (looked in /s): run once with --resync');
    expect(inCliTerms('/d is a directory (use `putTree` to upload a tree)')).toBe('/d is a directory (use -r to upload a tree)');
    expect(inCliTerms("`compare: 'ignore-times'`")).toBe('--ignore-times');
  });

  it('leaves other backquoted text and text without backquotes alone', () => {
    expect(inCliTerms('run `ferry login URL --token T` or set FERRY_TOKEN')).toBe('run `ferry login URL --token T` or set FERRY_TOKEN');
    expect(inCliTerms('`unknownOption` and maxDelete')).toBe('`unknownOption` and maxDelete');
  });
});

describe('the SDK speaks in option names', () => {
  it('a download that would replace a local file names noOverwrite, not --no-clobber', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-option-terms-'));
    try {
      writeFileSync(join(dir, 'a.txt'), 'here');
      const err = await refuseClobber(join(dir, 'a.txt')).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(AlreadyExistsError);
      expect((err as Error).message).toBe(`${join(dir, 'a.txt')} exists (\`noOverwrite\`)`);
      expect(inCliTerms((err as Error).message)).toBe(`${join(dir, 'a.txt')} exists (--no-clobber)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
