/**
 * The temporary files this process is writing right now, by name (unique per process: the
 * local backend counts them, the SFTP backend draws them at random). A sweep of leftovers
 * (LeftoverSweeper) skips them whatever its cutoff: the cutoff only tells a dead write from a
 * slow one on other nodes. A chunk staged for its group's flush sits in a temporary file
 * until `publish`, and `ferry admin gc --grace 0s` during an upload had removed such a file,
 * so the chunk the client was told was stored never appeared.
 */
const live = new Set<string>();

/** Marks the temporary file `name` as being written, until {@link endTemp}. */
export function beginTemp(name: string): void {
  live.add(name);
}

export function endTemp(name: string): void {
  live.delete(name);
}

export function isTempInProgress(name: string): boolean {
  return live.has(name);
}
