/**
 * What a listing of a local tree leaves out, as the tree commands report it. A name no Ferry
 * path can hold (control characters, invalid UTF-8) is a file that cannot go: `put -r` counts
 * it as a failure (exit 2, FERRY_ERR_PATH_INVALID), and so does every tree command that walks
 * a local tree through the stores (`put -rn`, `get -r local:DIR`, `rm -r[n] local:DIR`). A
 * link not followed or a special file is only a warning, as in `put -r`.
 */
import { PathInvalidError, ferryErrorOf, type FerryError } from '../core/errors.js';
import { escapeControls } from '../core/control-chars.js';
import { normalizeKey } from '../core/path.js';
import { fileErrorLine } from './exit.js';
import { terminalSafe } from './terminal-text.js';

/** Whether a skipped entry was left out for its name (not for what it is: a link, a socket). */
export function isUnnameable(path: string): boolean {
  try {
    // A name that is not UTF-8 reaches here decoded with U+FFFD in place of its bad bytes.
    return normalizeKey(path) !== path || path.includes('\uFFFD');
  } catch {
    return true;
  }
}

/** Counts the names a tree command had to leave out, and prints each as it is found. */
export class SkippedNames {
  readonly bad: Array<{ shown: string; reason: string }> = [];

  constructor(private readonly out: { json?: boolean; quiet?: boolean } = {}) {}

  /** `path`: the entry's path (as the listing gave it, to classify); `shown`: where it is, for people. */
  readonly add = (path: string, reason: string, shown = path): void => {
    if (isUnnameable(path)) {
      this.bad.push({ shown, reason });
      process.stderr.write(fileErrorLine(shown, new PathInvalidError(reason), this.out.json));
    } else if (!this.out.quiet) process.stderr.write(`ferry: warning: skipped ${terminalSafe(shown)}: ${terminalSafe(reason)}\n`);
  };

  /** The failure that ends the command, as `put -r`'s summary: how many, and the first. */
  failure(dryRun: boolean | undefined, others: Array<{ path: string; message: string; code: string }> = []): FerryError | undefined {
    const all = [...this.bad.map((b) => ({ path: b.shown, message: b.reason, code: 'FERRY_ERR_PATH_INVALID' })), ...others];
    if (all.length === 0) return undefined;
    const first = all[0];
    return ferryErrorOf(first.code as never, `${all.length} file${all.length === 1 ? '' : 's'} ${dryRun ? 'would fail' : 'failed'}; first: ${escapeControls(`${first.path}: ${first.message}`)}`, {
      details: { failed: all.length, failedCodes: [...new Set(all.map((e) => e.code))] },
    });
  }
}
