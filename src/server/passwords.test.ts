import { describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { blockOf, checkPasswordRules, FairGate, hashPassword, verifyPassword } from './passwords.js';

const cheap = { log2N: 10, r: 8, p: 1 };

describe('passwords', () => {
  it('hashes with a fresh salt and verifies', async () => {
    const a = await hashPassword('correct horse', cheap);
    const b = await hashPassword('correct horse', cheap);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^scrypt\$10\$8\$1\$/);
    expect(await verifyPassword('correct horse', a)).toBe(true);
    expect(await verifyPassword('correct horsE', a)).toBe(false);
    expect(await verifyPassword('x', null, cheap)).toBe(false);
    expect(await verifyPassword('x', 'scrypt$99$8$1$AA$AA', cheap)).toBe(false);
  });

  it('has length rules', () => {
    expect(() => checkPasswordRules('short')).toThrow(/at least 8/);
    expect(() => checkPasswordRules('x'.repeat(2000))).toThrow(/at most/);
    expect(checkPasswordRules('long enough')).toBe('long enough');
  });
});

describe('FairGate', () => {
  it('puts an IPv6 /64 in its /48, and every other party in a block of its own', () => {
    expect(blockOf('2001:db8:aaaa:1::/64')).toBe('2001:db8:aaaa::/48');
    expect(blockOf('2001:db8:aaaa:ffff::/64')).toBe('2001:db8:aaaa::/48');
    expect(blockOf('2001:db8::/64')).toBe('2001:db8:0::/48');
    expect(blockOf('2001:db8:0:5::/64')).toBe('2001:db8:0::/48');
    expect(blockOf('::/64')).toBe('0:0:0::/48');
    expect(blockOf('203.0.113.7')).toBe('203.0.113.7');
    expect(blockOf('user-1')).toBe('user-1');
  });

  it('serves blocks in turn, then parties in them, and refuses past its bounds at once', async () => {
    const gate = new FairGate(1, { total: 7, perBlock: 4, perParty: 2 });
    const order: string[] = [];
    const release: Array<() => void> = [];
    const refused: string[] = [];
    const run = (party: string) =>
      gate
        .run(party, () => new Promise<void>((r) => release.push(() => (order.push(party), r()))))
        .catch((err: unknown) => {
          expect(isFerryError(err, 'FERRY_ERR_RATE_LIMITED')).toBe(true);
          expect((err as { retryAfterMs: number }).retryAfterMs).toBeGreaterThanOrEqual(1000);
          refused.push(party);
        });
    const a = (i: number) => `2001:db8:aaaa:${i}::/64`;
    const all = [run(a(1)), run(a(1)), run(a(1)), run(a(1)), run(a(2)), run(a(3)), run(a(4)), run('bob'), run('bob'), run('carl'), run('dan')];
    await new Promise((r) => setImmediate(r));
    // a(1): one runs, two wait, the fourth is past the party's bound; a(2) and a(3) fill the
    // block's 4, a(4) is past it; bob's two and carl's fill the 7; dan comes with the queue
    // full and takes the place of the newest of the block holding most (a(1)'s second).
    expect(refused).toEqual([a(1), a(4), a(1)]);
    expect(gate.queued).toBe(7);
    while (order.length < 8) {
      release.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
    expect(order).toEqual([a(1), a(1), 'bob', 'carl', 'dan', a(2), 'bob', a(3)]);
    expect(gate.queued).toBe(0);
  });
});
