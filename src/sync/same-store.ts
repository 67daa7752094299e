/**
 * Two remotes over different backend instances may still be one store: an SFTP folder spelled
 * relative and absolute, through a symlink or `..`, or by two remote names; one bucket under
 * two remote names; a Ferry server reached by its URL and by a saved name. Keys cannot be
 * compared then, so `overlaps` (remote.ts) sees nothing; where both backends can say where a
 * key really is (core/storage.ts, Identifier), their places are compared instead, and a run
 * that would copy a file onto itself (and a move then delete it) is refused before it starts.
 */
import { UsageError } from '../core/errors.js';
import { relateKeys } from '../core/storage.js';
import { keyOf, sameBackend, type Remote } from './remote.js';

/** The remote's place in its backend: its folder, or its one file. */
const placeOf = (r: Remote): string => (r.only === undefined ? r.prefix : keyOf(r, r.only));

/** Whether two remotes of different backends are one place, or one is inside the other. */
export async function overlapsAcross(a: Remote, b: Remote, signal?: AbortSignal): Promise<boolean> {
  if (sameBackend(a, b)) return false;
  return (await relateKeys(a.backend, placeOf(a), b.backend, placeOf(b), { signal })) !== undefined;
}

/** UsageError, as for two remotes of one backend, when the two are one place or nested. */
export async function refuseOverlapAcross(a: Remote, b: Remote, signal?: AbortSignal): Promise<void> {
  if (await overlapsAcross(a, b, signal)) throw new UsageError(`${a.label} and ${b.label} overlap: one is inside the other`);
}
