import { describe, expect, it } from 'vitest';
import { retryConflicts } from './retry-conflicts.js';

const pgError = (code: string): Error => Object.assign(new Error(`pg ${code}`), { code });

describe('retryConflicts', () => {
  it('runs a transaction that lost a race again, and returns what a later run returns', async () => {
    let runs = 0;
    expect(await retryConflicts(async () => (++runs < 3 ? Promise.reject(pgError('40001')) : 'done'))).toBe('done');
    expect(runs).toBe(3);
  });

  it.each(['40001', '40P01'])('answers FERRY_ERR_UNAVAILABLE with a retry time when every run loses (%s)', async (code) => {
    let runs = 0;
    const err = await retryConflicts(async () => {
      runs++;
      throw pgError(code);
    }).catch((e: unknown) => e);
    expect(runs).toBe(5);
    expect(err).toMatchObject({ code: 'FERRY_ERR_UNAVAILABLE', retryable: true, retryAfterMs: 1000, message: expect.stringContaining('try again') });
    expect((err as Error).cause).toMatchObject({ code });
  });

  it('passes other errors on at once, and a unique violation as it is after the last run', async () => {
    let runs = 0;
    await expect(retryConflicts(async () => {
      runs++;
      throw pgError('23503');
    })).rejects.toMatchObject({ code: '23503' });
    expect(runs).toBe(1);
    await expect(retryConflicts(async () => Promise.reject(pgError('23505')))).rejects.toMatchObject({ code: '23505' });
  });
});
