import { describe, expect, it } from 'vitest';
import { DEFAULT_DEFENDER, Defender } from './defender.js';

describe('Defender', () => {
  const make = (over: Partial<typeof DEFAULT_DEFENDER> = {}) => {
    let now = 1_000_000;
    const d = new Defender({ ...DEFAULT_DEFENDER, threshold: 5, scoreInvalid: 2, scoreValid: 1, banMs: 60_000, banIncrementPercent: 50, observationMs: 10_000, maxBanMs: 300_000, ...over }, () => now);
    return { d, tick: (ms: number) => (now += ms), now: () => now };
  };

  it('bans when the scores in the window reach the threshold (SFTPGo: >=), weighting invalid above valid', () => {
    const { d, now } = make();
    expect(d.record('10.0.0.1', 'invalid')).toBeUndefined(); // 2
    expect(d.record('10.0.0.1', 'valid')).toBeUndefined(); // 3
    expect(d.record('10.0.0.1', 'invalid')).toEqual({ ip: '10.0.0.1', until: now() + 60_000 }); // 5
    expect(d.checkBanned('10.0.0.2')).toBeUndefined();
  });

  it("with the defaults the README states: 15 points within 30 minutes ban for 30 minutes, each request during it adds 15, 24 hours at most", () => {
    let now = 5_000_000;
    const d = new Defender(DEFAULT_DEFENDER, () => now);
    // An unknown token scores 2, a wrong secret 1, a rate-limit hit 3: 2*6 + 1*2 = 14, one short.
    for (let i = 0; i < 6; i++) d.record('10.0.0.9', 'invalid');
    d.record('10.0.0.9', 'valid');
    now += 29 * 60_000;
    expect(d.record('10.0.0.9', 'valid')).toBeUndefined();
    expect(d.score('10.0.0.9')).toBe(14);
    // Past 30 minutes the first ones no longer count; within them a rate-limit hit bans.
    now += 60_000 + 1;
    expect(d.score('10.0.0.9')).toBe(1);
    const fresh = new Defender(DEFAULT_DEFENDER, () => now);
    for (let i = 0; i < 4; i++) fresh.record('10.0.0.8', 'limit');
    expect(fresh.record('10.0.0.8', 'limit')).toEqual({ ip: '10.0.0.8', until: now + 30 * 60_000 });
    expect(fresh.checkBanned('10.0.0.8')?.until).toBe(now + 45 * 60_000);
    for (let i = 0; i < 200; i++) fresh.checkBanned('10.0.0.8');
    expect(fresh.bans()[0].until).toBe(now + 24 * 3600_000);
  });

  it('extends a ban by the increment on each request, up to the cap, and forgets it afterwards', () => {
    const { d, tick, now } = make();
    for (let i = 0; i < 3; i++) d.record('::ffff:10.0.0.1', 'invalid');
    const start = now();
    expect(d.checkBanned('10.0.0.1')?.until).toBe(start + 90_000); // the mapped address is the same host
    expect(d.checkBanned('10.0.0.1')?.until).toBe(start + 120_000);
    for (let i = 0; i < 20; i++) d.checkBanned('10.0.0.1');
    expect(d.bans()[0].until).toBe(start + 300_000);
    tick(300_001);
    expect(d.checkBanned('10.0.0.1')).toBeUndefined();
    expect(d.bans()).toEqual([]);
  });

  it('forgets events outside the observation window; safe-listed and disabled never ban', () => {
    const { d, tick } = make();
    d.record('10.0.0.1', 'invalid');
    d.record('10.0.0.1', 'invalid');
    tick(10_001);
    expect(d.score('10.0.0.1')).toBe(0);
    expect(d.record('10.0.0.1', 'invalid')).toBeUndefined();
    const safe = make({ safeList: ['10.0.0.0/8'] }).d;
    for (let i = 0; i < 10; i++) expect(safe.record('10.1.2.3', 'invalid')).toBeUndefined();
    const off = make({ enabled: false }).d;
    for (let i = 0; i < 10; i++) off.record('10.1.2.3', 'invalid');
    expect(off.checkBanned('10.1.2.3')).toBeUndefined();
  });

  it('tells its listeners of the bans it makes and lifts, and adopts bans made elsewhere (shared bans)', () => {
    const { d, now, tick } = make();
    const heard: unknown[] = [];
    d.onChange((c) => heard.push(c));
    d.record('10.0.0.5', 'invalid');
    d.record('10.0.0.5', 'invalid');
    d.record('10.0.0.5', 'invalid');
    expect(heard).toEqual([{ kind: 'ban', ip: '10.0.0.5', since: now(), until: now() + 60_000 }]);
    expect(d.unban('10.0.0.5')).toBe(true);
    expect(d.unban('10.0.0.5')).toBe(false);
    expect(heard.at(-1)).toEqual({ kind: 'unban', ip: '10.0.0.5' });
    // Adopted bans refuse the address, are not told again, and keep the later end.
    d.adopt('10.0.0.6', now(), now() + 1000);
    d.adopt('10.0.0.6', now(), now() + 500);
    expect(d.bans()).toEqual([{ ip: '10.0.0.6', until: now() + 1000 }]);
    expect(d.checkBanned('10.0.0.6')).toBeDefined();
    expect(heard).toHaveLength(2);
    expect(d.forget('10.0.0.6')).toBe(true);
    expect(heard).toHaveLength(2);
    expect(d.checkBanned('10.0.0.6')).toBeUndefined();
    // Ended, safe-listed or with the defender off: nothing is adopted.
    d.adopt('10.0.0.7', now() - 10, now());
    const safe = make({ safeList: ['10.0.0.0/8'] }).d;
    safe.adopt('10.0.0.8', now(), now() + 1000);
    const off = make({ enabled: false }).d;
    off.adopt('10.0.0.9', now(), now() + 1000);
    tick(1);
    expect([d.checkBanned('10.0.0.7'), safe.checkBanned('10.0.0.8'), off.checkBanned('10.0.0.9')]).toEqual([undefined, undefined, undefined]);
  });

  it('bounds its memory', () => {
    const { d } = make({ maxEntries: 100 });
    for (let i = 0; i < 1000; i++) d.record(`10.0.${i >> 8}.${i & 255}`, 'valid');
    expect(d.score('10.0.0.0')).toBe(0); // the oldest was dropped
    expect(d.score('10.0.3.231')).toBe(1);
  });
});

describe('the default safe list', () => {
  it('never bans loopback (IPv4, IPv6, IPv4-mapped), and still bans everyone else', () => {
    const d = new Defender({ ...DEFAULT_DEFENDER, threshold: 4 }, () => 1_000_000);
    for (const ip of ['127.0.0.1', '127.0.0.2', '::1', '::ffff:127.0.0.1']) {
      for (let i = 0; i < 10; i++) expect(d.record(ip, 'invalid'), ip).toBeUndefined();
      expect(d.checkBanned(ip), ip).toBeUndefined();
    }
    expect(d.record('192.0.2.1', 'invalid')).toBeUndefined();
    expect(d.record('192.0.2.1', 'invalid')).toMatchObject({ ip: '192.0.2.1' });
    expect(d.record('2001:db8::1', 'invalid')).toBeUndefined();
    expect(d.record('2001:db8::1', 'invalid')).toMatchObject({ ip: '2001:db8::/64' });
  });
});

describe('IPv6 clients', () => {
  it('scores and bans a /64 as one address: a client cannot start afresh from each of its addresses', () => {
    const d = new Defender({ ...DEFAULT_DEFENDER, threshold: 4, safeList: ['2001:db8:1:2::99'] }, () => 1_000_000);
    expect(d.record('2001:db8:1:2::1', 'invalid')).toBeUndefined();
    expect(d.record('2001:db8:1:2:abcd::2', 'invalid')).toMatchObject({ ip: '2001:db8:1:2::/64' });
    expect(d.checkBanned('2001:db8:1:2:ffff:ffff:ffff:ffff')).toMatchObject({ ip: '2001:db8:1:2::/64' });
    // Another /64 is another client; a safe address inside the banned /64 is still served.
    expect(d.checkBanned('2001:db8:1:3::1')).toBeUndefined();
    expect(d.checkBanned('2001:db8:1:2::99')).toBeUndefined();
    // The admin lifts it by any address of the /64, or by the /64 itself.
    expect(d.unban('2001:db8:1:2::7')).toBe(true);
    expect(d.checkBanned('2001:db8:1:2::1')).toBeUndefined();
  });
});
