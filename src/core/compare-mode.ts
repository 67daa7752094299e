/**
 * How a transfer of many files decides that a file is already in place on the other side and
 * leaves it (rsync's and rclone's "quick check" and its variants): one vocabulary for
 * `put -r`/`get -r` (client/) and sync, copy, move and bisync (sync/).
 * - `default`: same size and modification time (within the modify window);
 * - `checksum`: same size and content hash (`-c`);
 * - `size-only`: same size (`--size-only`);
 * - `ignore-times`: never; every file is sent again (`-I`; content the other side already
 *   holds still does not travel to a Ferry server).
 */
import { UsageError } from './errors.js';

export type CompareMode = 'default' | 'checksum' | 'size-only' | 'ignore-times';

export const COMPARE_MODES: readonly CompareMode[] = ['default', 'checksum', 'size-only', 'ignore-times'];

/**
 * Throws FERRY_ERR_USAGE for a value that is not a CompareMode (absent is fine): a program's
 * typo (`compare: 'checksums'`, from JavaScript) otherwise ran as another mode without a word.
 */
export function checkCompareMode(value: unknown): void {
  if (value == null || COMPARE_MODES.includes(value as CompareMode)) return;
  const modes = COMPARE_MODES.map((m) => `'${m}'`).join(', ');
  throw new UsageError(`\`compare\` must be one of ${modes}, not ${JSON.stringify(value) ?? String(value)}`, { details: { option: 'compare' } });
}
