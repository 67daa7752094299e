/**
 * Password hashing with scrypt (node:crypto, no native addon).
 *
 * Stored form: `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>`. The parameters travel
 * with each hash, so raising the cost later leaves old hashes verifiable. Default N = 2^16,
 * r = 8, p = 1: 64 MiB and about 190 ms per hash on the 2-core reference machine (measured).
 *
 * Hashes run {@link SCRYPT_AT_ONCE} at a time in the process, taken in turn by those waiting
 * (the caller names its party: a user, an address), whatever asks for them. Logins are
 * rate-limited per address, but a user making share links with passwords was not: 120 such
 * requests at once (what one address may hold open) ran 16 hashes at a time on the libuv
 * thread pool (1.09 GB of memory), and another user's download of a small file waited 51 s.
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

/** Hashes at once: one core of the two of the reference machine, the other (and the thread pool's other threads) left to everything else. */
export const SCRYPT_AT_ONCE = 1;

/**
 * Turns to run a hash: at most `limit` at once; the parties waiting are served in turn (round
 * robin), each in its own order, so one party's many requests delay another's by one hash
 * each, not by all of theirs.
 */
export class FairGate {
  private running = 0;
  private readonly waiting = new Map<string, Array<() => void>>();
  /** Parties with someone waiting, in the order they are served. */
  private readonly turns: string[] = [];

  constructor(private readonly limit: number) {}

  /** How many wait for a turn now. */
  get queued(): number {
    let n = 0;
    for (const q of this.waiting.values()) n += q.length;
    return n;
  }

  async run<T>(party: string, fn: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else {
      await new Promise<void>((resolve) => {
        const queue = this.waiting.get(party);
        if (queue) queue.push(resolve);
        else {
          this.waiting.set(party, [resolve]);
          this.turns.push(party);
        }
      });
    }
    try {
      return await fn();
    } finally {
      this.next();
    }
  }

  /** Hands the finished turn to the next party waiting (its slot stays taken), or frees it. */
  private next(): void {
    const party = this.turns.shift();
    if (party === undefined) {
      this.running--;
      return;
    }
    const queue = this.waiting.get(party)!;
    const resolve = queue.shift()!;
    if (queue.length > 0) this.turns.push(party);
    else this.waiting.delete(party);
    resolve();
  }
}

/** The process's one gate of password hashes. */
export const passwordHashes = new FairGate(SCRYPT_AT_ONCE);

function scryptAsync(password: string, salt: Buffer, cost: ScryptCost, party: string): Promise<Buffer> {
  const N = 2 ** cost.log2N;
  return passwordHashes.run(
    party,
    () =>
      new Promise((resolve, reject) => {
        // maxmem: scrypt needs 128 * N * r bytes; Node's default cap (32 MiB) is below N = 2^16.
        scrypt(password, salt, KEY_BYTES, { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r }, (err, key) => (err ? reject(err) : resolve(key)));
      }),
  );
}

export function checkPasswordRules(password: unknown, what = 'password'): string {
  if (typeof password !== 'string') throw new ValidationError(`${what} must be a string`);
  if (password.length < MIN_PASSWORD_LENGTH) throw new ValidationError(`${what} must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH) throw new ValidationError(`${what} may have at most ${MAX_PASSWORD_LENGTH} characters`);
  return password;
}

/** `party`: whom the hash is for (see the module comment). */
export async function hashPassword(password: string, cost: ScryptCost = DEFAULT_SCRYPT_COST, party = ''): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, cost, party);
  return ['scrypt', cost.log2N, cost.r, cost.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/**
 * Whether `password` matches `stored`. A null `stored` (unknown user, account without a
 * password) still costs one hash against a dummy, so response times do not tell which
 * user names exist.
 */
export async function verifyPassword(password: string, stored: string | null, cost: ScryptCost = DEFAULT_SCRYPT_COST, party = ''): Promise<boolean> {
  const parts = stored?.split('$');
  if (!parts || parts.length !== 6 || parts[0] !== 'scrypt') {
    await scryptAsync(password, Buffer.alloc(16), cost, party);
    return false;
  }
  const [, log2N, r, p, salt, hash] = parts;
  const c: ScryptCost = { log2N: Number(log2N), r: Number(r), p: Number(p) };
  if (!(c.log2N >= 1 && c.log2N <= 22 && c.r >= 1 && c.r <= 32 && c.p >= 1 && c.p <= 16)) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), c, party);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
