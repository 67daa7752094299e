/**
 * Checks of numeric option values, shared by the CLI's flags (`--parallel`, `--retries`, ...)
 * and the SDK's constructor options (`parallel`, `retry.retries`, ...), so that both refuse
 * the same values in the same words: FERRY_ERR_USAGE naming the option and what it allows.
 * Each returns the value when it is allowed.
 */
import { UsageError } from './errors.js';

/** Chunks in flight at once, at most (`--parallel`, the SDK's `parallel`). */
export const MAX_PARALLEL = 256;
/** Retries after the first attempt, at most (`--retries`, the SDK's `retry.retries`). */
export const MAX_RETRIES = 100;

/** `value` when it is an integer from `min` to `max`. */
export function intBetween(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new UsageError(`${name} must be an integer from ${min} to ${max}`);
  return value;
}

/** `value` when it is a finite number of `unit` of at least `min` (NaN and Infinity are not); `hint` ends the message. */
export function numberAtLeast(name: string, value: unknown, min: number, unit: string, hint = ''): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) throw new UsageError(`${name} must be a number of ${unit} of at least ${min}, not ${describe(value)}${hint && `; ${hint}`}`);
  return value;
}

function describe(value: unknown): string {
  return typeof value === 'number' || value === undefined || value === null ? String(value) : `${typeof value} ${JSON.stringify(value) ?? String(value)}`;
}
