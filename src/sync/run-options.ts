/**
 * The options a program gives sync, copy, move, check and bisync, checked before anything is
 * listed. The CLI's flag parsers refuse bad values; a program's did not: `compare: 'checksums'`
 * (from JavaScript, or through `as`) ran the default size-and-time comparison without a word,
 * and `transfers: 0` ran one at a time.
 */
import { UsageError } from '../core/errors.js';
import { checkCompareMode } from '../core/compare-mode.js';

export interface RunOptionValues {
  compare?: unknown;
  transfers?: unknown;
  checkers?: unknown;
  retries?: unknown;
  /** A count of files (sync, copy, move) or a percentage (bisync). */
  maxDelete?: unknown;
}

/** Throws FERRY_ERR_USAGE naming the first option whose value cannot mean what it says. */
export function checkRunOptions(o: RunOptionValues, maxDelete: 'count' | 'percent' = 'count'): void {
  checkCompareMode(o.compare);
  wholeNumber('transfers', o.transfers, 1);
  wholeNumber('checkers', o.checkers, 1);
  wholeNumber('retries', o.retries, 0);
  if (maxDelete === 'count') wholeNumber('maxDelete', o.maxDelete, 0);
  else if (o.maxDelete != null && !(typeof o.maxDelete === 'number' && o.maxDelete >= 0 && o.maxDelete <= 100)) {
    throw new UsageError(`\`maxDelete\` is a percentage from 0 to 100, not ${JSON.stringify(o.maxDelete) ?? String(o.maxDelete)}`, { details: { option: 'maxDelete' } });
  }
}

function wholeNumber(name: string, value: unknown, min: number): void {
  if (value == null) return;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min) return;
  throw new UsageError(`\`${name}\` must be a whole number >= ${min}, not ${JSON.stringify(value) ?? String(value)}`, { details: { option: name } });
}
