import { describe, expect, it } from 'vitest';
import { addressKey, CidrList, IpPolicy, parseCidr } from './ip-filter.js';

describe('CIDR lists', () => {
  it('matches IPv4 and IPv6 ranges and single addresses, and IPv4-mapped IPv6 peers', () => {
    const l = new CidrList(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
    expect(l.has('10.255.1.1')).toBe(true);
    expect(l.has('::ffff:10.1.1.1')).toBe(true);
    expect(l.has('11.0.0.1')).toBe(false);
    expect(l.has('192.0.2.7')).toBe(true);
    expect(l.has('192.0.2.8')).toBe(false);
    expect(l.has('2001:db8:1::5')).toBe(true);
    expect(l.has('2001:db9::1')).toBe(false);
    expect(l.has('not an ip')).toBe(false);
    expect(l.entries).toEqual(['10.0.0.0/8', '192.0.2.7/32', '2001:db8::/32']);
  });

  it('refuses what is not a range', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'fe80::/129', 'host.example', '10.0.0.0/', '10.0.0.0/8x']) expect(() => parseCidr(bad), bad).toThrow(/CIDR|prefix/);
  });

  it('deny wins; an empty allow list allows all', () => {
    expect(new IpPolicy([], []).permits('1.2.3.4')).toBe(true);
    expect(new IpPolicy(['1.2.3.0/24'], ['1.2.3.4']).permits('1.2.3.4')).toBe(false);
    expect(new IpPolicy(['1.2.3.0/24'], []).permits('1.2.4.1')).toBe(false);
  });
});

describe('address keys', () => {
  it('counts an IPv6 client by its /64 and an IPv4 one by its address; a key keys to itself', () => {
    const cases: [string, string][] = [
      ['192.0.2.1', '192.0.2.1'],
      ['::ffff:192.0.2.1', '192.0.2.1'],
      ['::1', '::1'],
      ['2001:db8::1', '2001:db8::/64'],
      ['2001:0DB8:0001:0002:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
      ['2001:db8:1:2::', '2001:db8:1:2::/64'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4::/64'],
      ['1::2:3:4:5:6:7', '1:0:2:3::/64'],
      ['1:2:3::4.5.6.7', '1:2:3::/64'],
      ['fe80::1%eth0', 'fe80::/64'],
      ['::', '::/64'],
    ];
    for (const [ip, key] of cases) {
      expect(addressKey(ip), ip).toBe(key);
      expect(addressKey(key), key).toBe(key);
    }
    expect(addressKey('2001:db8:1:2:ffff::9')).toBe(addressKey('2001:db8:1:2::77'));
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'));
  });
});
