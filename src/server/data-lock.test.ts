import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { LOCK_FILE, lockDataDir } from './data-lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('lockDataDir', () => {
  it('one holder at a time; release frees it', async () => {
    const lock = await lockDataDir(dir);
    const err = await lockDataDir(dir).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_CONFIG')).toBe(true);
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    await lock.release();
    const again = await lockDataDir(dir);
    await again.release();
  });

  it('of many taking over one stale lock at once, exactly one wins', async () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: gone, started: null, host: hostname(), since: 'x' }));
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => lockDataDir(dir)));
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(isFerryError(r.reason, 'FERRY_ERR_CONFIG')).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
  });

  it('release leaves a lock alone that is no longer its own', async () => {
    const lock = await lockDataDir(dir);
    const other = JSON.stringify({ pid: 1, started: null, host: 'elsewhere', since: 'x' });
    writeFileSync(join(dir, LOCK_FILE), other);
    await lock.release();
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(other);
  });
});
