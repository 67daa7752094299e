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
import { RateLimitedError, ValidationError, type FerryError } from '../core/errors.js';

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
 * Turns to run a hash: at most `limit` at once. Those waiting are served in turn by block
 * (an IPv6 party's /48, {@link blockOf}), then by party within the block, each party in its
 * own order: one party's many requests delay another's by one hash each, and so do a block's
 * many parties (a client holding a /48 holds 65,536 /64s, each a party of its own: served in
 * turn by party only, each of them queued one hash ahead of everyone else's, about 0.2 s each).
 * The queue is bounded ({@link GateBounds}): past a bound the request is refused at once
 * (FERRY_ERR_RATE_LIMITED, 429, with a Retry-After) rather than queued behind everyone.
 */
export class FairGate {
  private running = 0;
  private waitingCount = 0;
  /** By block: its parties with someone waiting, in the order they are served, and how many wait in it. */
  private readonly blocks = new Map<string, { parties: string[]; waiting: number }>();
  private readonly waiting = new Map<string, Array<{ resolve: () => void; reject: (err: Error) => void }>>();
  /** Blocks with someone waiting, in the order they are served. */
  private readonly turns: string[] = [];
  /** A hash's duration lately (ms), for the Retry-After of a refusal. */
  private hashMs = 200;

  constructor(
    private readonly limit: number,
    private readonly bounds: GateBounds = DEFAULT_GATE_BOUNDS,
  ) {}

  /** How many wait for a turn now. */
  get queued(): number {
    return this.waitingCount;
  }

  async run<T>(party: string, fn: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else await this.wait(party);
    const started = Date.now();
    try {
      return await fn();
    } finally {
      this.hashMs = (this.hashMs * 7 + (Date.now() - started)) / 8;
      this.next();
    }
  }

  private wait(party: string): Promise<void> {
    const block = blockOf(party);
    let b = this.blocks.get(block);
    let queue = this.waiting.get(party);
    // The queue full, a block holding more of it than this one gives up its newest request:
    // a few blocks filling the queue must not refuse everyone else's at once (they would
    // wait one hash per block ahead).
    if (this.waitingCount >= this.bounds.total) this.evictFromLargestBlock((b?.waiting ?? 0) + 1);
    b = this.blocks.get(block);
    queue = this.waiting.get(party);
    const full =
      this.waitingCount >= this.bounds.total ? 'the server' : (b?.waiting ?? 0) >= this.bounds.perBlock ? `your network (${block})` : (queue?.length ?? 0) >= this.bounds.perParty ? 'you' : undefined;
    if (full !== undefined) throw this.refusal(full, b?.waiting ?? 0);
    return new Promise<void>((resolve, reject) => {
      this.waitingCount++;
      if (queue) queue.push({ resolve, reject });
      else this.waiting.set(party, [{ resolve, reject }]);
      if (b) {
        b.waiting++;
        if (!queue) b.parties.push(party);
      } else {
        this.blocks.set(block, { parties: [party], waiting: 1 });
        this.turns.push(block);
      }
    });
  }

  private refusal(full: string, blockWaiting: number): FerryError {
    const retryAfterMs = Math.min(60_000, Math.max(1000, Math.ceil(this.hashMs * (blockWaiting + 1))));
    return new RateLimitedError(`too many password checks waiting for ${full}: try again in ${Math.ceil(retryAfterMs / 1000)} s`, { retryAfterMs, details: { limit: 'password-hashes' } });
  }

  /** Refuses the newest request of the block with the most waiting, if it holds more than `than`. */
  private evictFromLargestBlock(than: number): void {
    let largest: [string, { parties: string[]; waiting: number }] | undefined;
    for (const entry of this.blocks) if (!largest || entry[1].waiting > largest[1].waiting) largest = entry;
    if (!largest || largest[1].waiting <= than) return;
    const [block, b] = largest;
    // Its party with the most waiting (the last such in turn order), its newest request.
    let party = b.parties[0];
    for (const p of b.parties) if (this.waiting.get(p)!.length >= this.waiting.get(party)!.length) party = p;
    const queue = this.waiting.get(party)!;
    const waiter = queue.pop()!;
    if (queue.length === 0) {
      this.waiting.delete(party);
      b.parties.splice(b.parties.indexOf(party), 1);
    }
    b.waiting--;
    this.waitingCount--;
    if (b.waiting === 0) {
      this.blocks.delete(block);
      this.turns.splice(this.turns.indexOf(block), 1);
    }
    waiter.reject(this.refusal(block.endsWith('/48') ? `your network (${block})` : 'you', b.waiting));
  }

  /** Hands the finished turn to the next block waiting, its next party (its slot stays taken), or frees it. */
  private next(): void {
    const block = this.turns.shift();
    if (block === undefined) {
      this.running--;
      return;
    }
    const b = this.blocks.get(block)!;
    const party = b.parties.shift()!;
    const queue = this.waiting.get(party)!;
    const { resolve } = queue.shift()!;
    if (queue.length > 0) b.parties.push(party);
    else this.waiting.delete(party);
    b.waiting--;
    this.waitingCount--;
    if (b.waiting > 0) this.turns.push(block);
    else this.blocks.delete(block);
    resolve();
  }
}

/** Bounds of a {@link FairGate}'s queue: parties waiting in all, in one block, of one party. */
export interface GateBounds {
  total: number;
  perBlock: number;
  perParty: number;
}

/**
 * At 0.2 s a hash, 256 waiting are 51 s of hashes; a block's 32 (one party may take them
 * all: a user creating many share links at once) are 6 s, and with blocks served in turn a
 * request waits one hash per block ahead, not per request.
 */
export const DEFAULT_GATE_BOUNDS: GateBounds = { total: 256, perBlock: 32, perParty: 32 };

/**
 * The block a party is served in turn with: an IPv6 /64 (addressKey) is in its /48, the
 * allocation a single site usually gets; any other party (an IPv4 address, a user) is its own.
 */
export function blockOf(party: string): string {
  if (!party.endsWith('/64')) return party;
  const [head, tail = ''] = party.slice(0, -3).split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 3).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/48`;
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
