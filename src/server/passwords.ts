/**
 * Password hashing with scrypt (node:crypto, no native addon).
 *
 * Stored form: `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>`. The parameters travel
 * with each hash, so raising the cost later leaves old hashes verifiable. Default N = 2^16,
 * r = 8, p = 1: 64 MiB and about 190 ms per hash on the 2-core reference machine (measured);
 * logins are rate-limited per address, so the libuv thread pool cannot be flooded with them.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '../core/errors.js';

export interface ScryptCost {
  log2N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT_COST: ScryptCost = { log2N: 16, r: 8, p: 1 };

const KEY_BYTES = 32;
export const MIN_PASSWORD_LENGTH = 8;
/** Longer inputs are refused: hashing is linear in the length and this is not a place to upload. */
export const MAX_PASSWORD_LENGTH = 1024;

function scryptAsync(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const N = 2 ** cost.log2N;
  return new Promise((resolve, reject) => {
    // maxmem: scrypt needs 128 * N * r bytes; Node's default cap (32 MiB) is below N = 2^16.
    scrypt(password, salt, KEY_BYTES, { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export function checkPasswordRules(password: unknown, what = 'password'): string {
  if (typeof password !== 'string') throw new ValidationError(`${what} must be a string`);
  if (password.length < MIN_PASSWORD_LENGTH) throw new ValidationError(`${what} must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH) throw new ValidationError(`${what} may have at most ${MAX_PASSWORD_LENGTH} characters`);
  return password;
}

export async function hashPassword(password: string, cost: ScryptCost = DEFAULT_SCRYPT_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, cost);
  return ['scrypt', cost.log2N, cost.r, cost.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/**
 * Whether `password` matches `stored`. A null `stored` (unknown user, account without a
 * password) still costs one hash against a dummy, so response times do not tell which
 * user names exist.
 */
export async function verifyPassword(password: string, stored: string | null, cost: ScryptCost = DEFAULT_SCRYPT_COST): Promise<boolean> {
  const parts = stored?.split('$');
  if (!parts || parts.length !== 6 || parts[0] !== 'scrypt') {
    await scryptAsync(password, Buffer.alloc(16), cost);
    return false;
  }
  const [, log2N, r, p, salt, hash] = parts;
  const c: ScryptCost = { log2N: Number(log2N), r: Number(r), p: Number(p) };
  if (!(c.log2N >= 1 && c.log2N <= 22 && c.r >= 1 && c.r <= 32 && c.p >= 1 && c.p <= 16)) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), c);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
