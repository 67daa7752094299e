import { setTimeout as sleep } from 'node:timers/promises';
import { UnavailableError } from '../core/errors.js';

/**
 * PostgreSQL errors that mean "another transaction got there first; run again": a unique
 * violation (two nodes creating the same parent directory, or the same new manifest, each
 * having checked it was absent), a serialization failure, a deadlock. SQLite never raises
 * them here: its writers take turns.
 */
const RETRYABLE_PG = new Set(['23505', '40001', '40P01']);
const CONFLICT_ATTEMPTS = 5;
/** The longest wait before the second run; doubled before each run after it (up to 80 ms before the fifth). */
const BACKOFF_MS = 10;

/**
 * Thrown inside a transaction that found another transaction's change under its feet (what
 * PostgreSQL would call a serialization failure, which its READ COMMITTED does not raise):
 * {@link retryConflicts} runs the transaction again.
 */
export class ConcurrentChangeError extends Error {
  readonly code = '40001';
}

/** Serialization failures and deadlocks: a client asking again later may well succeed. */
const CONTENDED_PG = new Set(['40001', '40P01']);

/**
 * Runs a transaction again when it lost a race to a concurrent one (see RETRYABLE_PG); every
 * transaction of the store reads what it decides on inside itself, so a second run decides
 * again on what the winner left. Between runs it waits a random while, longer each time, so
 * that transactions that collided do not collide again in step. When the last run still
 * loses a serialization failure or a deadlock (a tree under heavy concurrent writes), the
 * caller gets FERRY_ERR_UNAVAILABLE with a retry time (503 and `Retry-After` at the HTTP
 * edge), not the database's error (which was a 500).
 */
export async function retryConflicts<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== 'string' || !RETRYABLE_PG.has(code)) throw err;
      if (attempt >= CONFLICT_ATTEMPTS) {
        if (!CONTENDED_PG.has(code)) throw err;
        throw new UnavailableError(`concurrent changes kept conflicting with this one (${CONFLICT_ATTEMPTS} attempts): try again`, { cause: err, retryAfterMs: 1000 });
      }
      await sleep(Math.random() * BACKOFF_MS * 2 ** (attempt - 1));
    }
  }
}
