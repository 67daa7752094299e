import { describe, expect, it } from 'vitest';
import { NetworkError, ValidationError, isFerryError } from './errors.js';
import { backoffDelay, parseRetryAfter, sleep, retry, type RetryPolicy } from './retry.js';

const policy: RetryPolicy = { retries: 5, baseMs: 100, capMs: 1000, maxRetryAfterMs: 5000 };

describe('backoffDelay (full jitter)', () => {
  it('stays within [0, min(cap, base * 2^attempt)]', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const bound = Math.min(policy.capMs, policy.baseMs * 2 ** attempt);
      expect(backoffDelay(attempt, policy, undefined, () => 0)).toBe(0);
      expect(backoffDelay(attempt, policy, undefined, () => 0.999999)).toBe(bound - 1);
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt, policy);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(bound);
      }
    }
  });

  it('treats Retry-After as a floor, capped by maxRetryAfterMs', () => {
    expect(backoffDelay(0, policy, 3000, () => 0.5)).toBe(3000);
    expect(backoffDelay(5, policy, 10, () => 0.5)).toBe(500);
    expect(backoffDelay(0, policy, 60_000, () => 0)).toBe(5000);
  });

  it('does not overflow for huge attempt numbers', () => {
    expect(backoffDelay(10_000, policy, undefined, () => 0.5)).toBe(500);
  });
});

describe('retry', () => {
  const fakeSleep = (log: number[]) => async (ms: number) => {
    log.push(ms);
  };

  it('retries retryable errors until success', async () => {
    const waits: number[] = [];
    let calls = 0;
    const v = await retry(
      async () => {
        if (++calls < 3) throw new NetworkError('boom');
        return 'ok';
      },
      { policy, sleep: fakeSleep(waits), random: () => 0.5 },
    );
    expect(v).toBe('ok');
    expect(calls).toBe(3);
    expect(waits).toEqual([50, 100]);
  });

  it('does not retry errors that are not retryable', async () => {
    let calls = 0;
    await expect(
      retry(async () => {
        calls++;
        throw new ValidationError('bad');
      }, { policy, sleep: async () => {} }),
    ).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_VALIDATION'));
    expect(calls).toBe(1);
  });

  it('gives up after the policy retries and throws the last error', async () => {
    let calls = 0;
    await expect(
      retry(async () => {
        calls++;
        throw new NetworkError(`n${calls}`);
      }, { policy, sleep: async () => {} }),
    ).rejects.toThrow('n6');
    expect(calls).toBe(policy.retries + 1);
  });

  it('honours the Retry-After carried by the error', async () => {
    const waits: number[] = [];
    let calls = 0;
    await retry(
      async () => {
        if (++calls === 1) throw new NetworkError('slow down', { retryAfterMs: 2000 });
        return 1;
      },
      { policy, sleep: fakeSleep(waits), random: () => 0 },
    );
    expect(waits).toEqual([2000]);
  });

  it('stops waiting as soon as the signal aborts', async () => {
    const ac = new AbortController();
    const p = retry(
      async () => {
        throw new NetworkError('down');
      },
      { policy: { ...policy, baseMs: 60_000, capMs: 60_000 }, signal: ac.signal, random: () => 0.9 },
    );
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_ABORTED'));
  });
});

describe('sleep', () => {
  it('rejects at once when already aborted', async () => {
    await expect(sleep(10, AbortSignal.abort())).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_ABORTED'));
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(' 1.5 ')).toBe(1500);
    const now = Date.parse('2026-11-21T10:00:00Z');
    expect(parseRetryAfter('Sat, 21 Nov 2026 10:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Sat, 21 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
