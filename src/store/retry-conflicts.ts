/**
 * PostgreSQL errors that mean "another transaction got there first; run again": a unique
 * violation (two nodes creating the same parent directory, or the same new manifest, each
 * having checked it was absent), a serialization failure, a deadlock. SQLite never raises
 * them here: its writers take turns.
 */
const RETRYABLE_PG = new Set(['23505', '40001', '40P01']);
const CONFLICT_ATTEMPTS = 5;

/**
 * Thrown inside a transaction that found another transaction's change under its feet (what
 * PostgreSQL would call a serialization failure, which its READ COMMITTED does not raise):
 * {@link retryConflicts} runs the transaction again.
 */
export class ConcurrentChangeError extends Error {
  readonly code = '40001';
}

/**
 * Runs a transaction again when it lost a race to a concurrent one (see RETRYABLE_PG); every
 * transaction of the store reads what it decides on inside itself, so a second run decides
 * again on what the winner left.
 */
export async function retryConflicts<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= CONFLICT_ATTEMPTS || typeof code !== 'string' || !RETRYABLE_PG.has(code)) throw err;
    }
  }
}
