/**
 * `--if-match ETAG` of put, mv, cp and rm: act on a file on a Ferry server only if it still
 * has the ETag `ferry stat --json` showed (no lost update when two people edit one file);
 * otherwise FERRY_ERR_PRECONDITION_FAILED, exit 6, nothing changed.
 */
import { InvalidArgumentError } from 'commander';
import { UsageError } from '../core/errors.js';
import { etagOfHash } from '../core/write-conditions.js';

/** An ETag as `stat --json` gives it (`"<hash>"`), or the hash alone (quotes are awkward in a shell). */
export function etagArg(value: string): string {
  if (/^[0-9a-f]{64}$/.test(value)) return etagOfHash(value);
  if (!/^"[0-9a-f]{64}(-[a-z0-9]+)?"$/.test(value)) throw new InvalidArgumentError('give the file\'s ETag as `ferry stat --json` shows it ("<hash>"), or its hash');
  return value;
}

/**
 * The checks every command makes before anything travels: the server decides the condition,
 * so every place must be on one Ferry server; "only if absent" is --no-clobber, the opposite.
 */
export function refuseIfMatchWith(onOneServer: boolean, opts: { clobber?: boolean; dryRun?: boolean }): void {
  if (opts.clobber === false) throw new UsageError('--if-match needs the file to be there and --no-clobber needs it not to be: give one of them');
  if (!onOneServer || opts.dryRun) throw new UsageError('--if-match is for a file on a Ferry server, the server deciding (no dry run, no other store)');
}
