import { describe, expect, it } from 'vitest';
import { checkPasswordRules, hashPassword, verifyPassword } from './passwords.js';

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
