import { describe, expect, it } from 'vitest';
import { canonicalForwardedFor, forwardedAddress } from './forwarded-for.js';

describe('X-Forwarded-For entries', () => {
  it('an address keeps itself, without a port or brackets', () => {
    expect(forwardedAddress(' 203.0.113.5 ')).toBe('203.0.113.5');
    expect(forwardedAddress('203.0.113.5:51234')).toBe('203.0.113.5');
    expect(forwardedAddress('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(forwardedAddress('[2001:db8::1]')).toBe('2001:db8::1');
    expect(forwardedAddress('2001:db8::1')).toBe('2001:db8::1');
    expect(forwardedAddress('::ffff:10.1.1.1')).toBe('10.1.1.1');
  });

  it('anything else is no address', () => {
    for (const entry of ['unknown', '', '999.1.1.1', '203.0.113.5:99999', '203.0.113.5:', '[203.0.113.5', 'host.example:80', '_hidden']) {
      expect(forwardedAddress(entry), entry).toBeUndefined();
    }
  });

  it('the walk from the right stops at the first entry that is no address', () => {
    expect(canonicalForwardedFor('198.51.100.1, 203.0.113.7:80')).toBe('198.51.100.1, 203.0.113.7');
    expect(canonicalForwardedFor('198.51.100.1, unknown, 203.0.113.7')).toBe('203.0.113.7');
    expect(canonicalForwardedFor('203.0.113.7, unknown')).toBeUndefined();
    expect(canonicalForwardedFor('')).toBeUndefined();
  });
});
