import { describe, expect, it } from 'vitest';
import { isDatabaseGone } from './pg-pool.js';

const sqlState = (code: string) => Object.assign(new Error(`error ${code}`), { code });

describe('isDatabaseGone', () => {
  it('a database restarting, stopped or unreachable', () => {
    for (const code of ['57P01', '57P02', '57P03', '08006', '08001', 'ECONNREFUSED', 'ECONNRESET']) expect(isDatabaseGone(sqlState(code)), code).toBe(true);
    expect(isDatabaseGone(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseGone(new Error('timeout exceeded when trying to connect'))).toBe(true);
  });

  it('not a statement that failed: conflicts stay for retryConflicts, the rest as they were', () => {
    for (const code of ['23505', '40001', '40P01', '42P01', '57014']) expect(isDatabaseGone(sqlState(code)), code).toBe(false);
    expect(isDatabaseGone(new Error('syntax error'))).toBe(false);
    expect(isDatabaseGone(undefined)).toBe(false);
  });
});
