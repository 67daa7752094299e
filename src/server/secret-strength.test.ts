import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MIN_SECRET_BITS, frequencyBits, weakSecretReason } from './secret-strength.js';

describe('weakSecretReason', () => {
  it('refuses short, uniform and repeated secrets, saying why', () => {
    expect(weakSecretReason('abc')).toMatch(/3 characters; at least 32/);
    expect(weakSecretReason('s3cret')).toMatch(/6 characters/);
    expect(weakSecretReason('a'.repeat(64))).toMatch(/"a" repeated/);
    expect(weakSecretReason('0123456789abcdef'.repeat(2))).toMatch(/"0123456789ab…" repeated/);
    expect(weakSecretReason('password'.repeat(4))).toMatch(/"password" repeated/);
    expect(weakSecretReason('a'.repeat(31) + 'b')).toMatch(/too uniform/);
    expect(weakSecretReason('aaaabbbbaaaabbbbaaaabbbbaaaabbbbc')).toMatch(/too uniform/);
  });

  it('accepts random secrets of the usual shapes', () => {
    for (let i = 0; i < 2000; i++) {
      expect(weakSecretReason(randomBytes(16).toString('hex'))).toBeUndefined(); // openssl rand -hex 16
      expect(weakSecretReason(randomBytes(32).toString('base64'))).toBeUndefined(); // openssl rand -base64 32
      expect(weakSecretReason(randomUUID())).toBeUndefined();
    }
  });

  it('counts bits by character frequencies', () => {
    expect(frequencyBits('')).toBe(0);
    expect(frequencyBits('aaaa')).toBe(0);
    expect(frequencyBits('abab')).toBe(4);
    expect(frequencyBits('0123456789abcdef'.repeat(2))).toBe(128);
    expect(MIN_SECRET_BITS).toBeGreaterThan(64);
  });
});
