/**
 * Group commit: writes asked for while an earlier group is being written go together in
 * the next group, one call to `write` (one transaction) for all of them. A write asked for
 * while nothing is being written starts at once, so a lone caller waits no longer than
 * before; callers that come together share a transaction instead of queueing for one each.
 *
 * Each caller gets its own item's result. A group that fails is written again one item at
 * a time, so a bad item fails its own caller only (and an error that was the group's, a
 * lost connection, reaches every caller that then fails too).
 */
export class WriteGroups<T, R> {
  private queue: { item: T; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];
  private running: Promise<void> | undefined;
  /** Groups written (one call of `write` each, the one-by-one retries of a failed group not counted), for tests and benchmarks. */
  groups = 0;

  /**
   * @param write writes the items as one unit (all or none) and returns one result per item, in order.
   * @param maxItems the most items in one group (the rest wait for the next).
   */
  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly maxItems: number,
  ) {
    if (!(Number.isSafeInteger(maxItems) && maxItems > 0)) throw new RangeError(`a write group holds at least one item, not ${maxItems}`);
  }

  /** Writes `item` in the next group; resolves with its result once that group is written. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.running ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    try {
      // Items added in the same turn as the first (a caller handing over several) go with it.
      await Promise.resolve();
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, this.maxItems);
        this.groups++;
        try {
          const results = await this.write(group.map((g) => g.item));
          group.forEach((g, i) => g.resolve(results[i]));
        } catch (err) {
          if (group.length === 1) {
            group[0].reject(err);
            continue;
          }
          for (const g of group) {
            await this.write([g.item]).then(
              (r) => g.resolve(r[0]),
              (e: unknown) => g.reject(e),
            );
          }
        }
      }
    } finally {
      this.running = undefined;
    }
  }
}
