/**
 * Progress of a transfer, reported through a callback: bytes and files done out of the
 * totals, the rate over the last few seconds and the ETA. The SDK reports; the CLI renders.
 */

export interface TransferProgress {
  /** Bytes of content accounted for: sent/received, or found already present (dedup, resume). */
  bytesDone: number;
  /** Total bytes of the operation; undefined while unknown (stdin). */
  bytesTotal?: number;
  /** Chunk bytes that actually crossed the network (bodies only). */
  bytesTransferred: number;
  filesDone: number;
  filesTotal?: number;
  /** Bytes per second over the last few seconds (of bytesDone). */
  rate: number;
  /** Seconds left at the current rate; undefined when unknown. */
  etaSeconds?: number;
  elapsedMs: number;
  /** Set on the last event of an operation. */
  done: boolean;
}

export type ProgressCallback = (p: TransferProgress) => void;

const WINDOW_MS = 5_000;

/** Accumulates counters and emits {@link TransferProgress} at most every `intervalMs`. */
export class ProgressTracker {
  bytesDone = 0;
  bytesTotal?: number;
  bytesTransferred = 0;
  filesDone = 0;
  filesTotal?: number;
  private readonly started = performance.now();
  private lastEmit = 0;
  private readonly samples: Array<[number, number]> = [];

  constructor(
    private readonly callback?: ProgressCallback,
    private readonly intervalMs = 200,
  ) {}

  private unknownTotal = false;

  /** Adds to the totals; an undefined byte count (stdin) makes the byte total unknown. */
  addTotals(bytes: number | undefined, files: number): void {
    if (bytes === undefined) this.unknownTotal = true;
    this.bytesTotal = this.unknownTotal ? undefined : (this.bytesTotal ?? 0) + (bytes ?? 0);
    this.filesTotal = (this.filesTotal ?? 0) + files;
    this.tick();
  }

  done(bytes: number): void {
    this.bytesDone += bytes;
    this.tick();
  }

  transferred(bytes: number): void {
    this.bytesTransferred += bytes;
  }

  fileDone(): void {
    this.filesDone += 1;
    this.tick();
  }

  /** The current state, without emitting. */
  snapshot(done = false): TransferProgress {
    const now = performance.now();
    const rate = this.rate(now);
    const remaining = this.bytesTotal === undefined ? undefined : Math.max(0, this.bytesTotal - this.bytesDone);
    return {
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      bytesTransferred: this.bytesTransferred,
      filesDone: this.filesDone,
      filesTotal: this.filesTotal,
      rate,
      etaSeconds: remaining === undefined || rate <= 0 ? undefined : remaining / rate,
      elapsedMs: now - this.started,
      done,
    };
  }

  /** Emits the final event. */
  finish(): void {
    this.callback?.(this.snapshot(true));
  }

  private tick(): void {
    if (!this.callback) return;
    const now = performance.now();
    if (now - this.lastEmit < this.intervalMs) return;
    this.lastEmit = now;
    this.callback(this.snapshot());
  }

  private rate(now: number): number {
    this.samples.push([now, this.bytesDone]);
    while (this.samples.length > 2 && now - this.samples[0][0] > WINDOW_MS) this.samples.shift();
    const [t0, b0] = this.samples[0];
    const dt = now - t0;
    if (dt < 50) {
      const total = now - this.started;
      return total > 0 ? (this.bytesDone * 1000) / total : 0;
    }
    return ((this.bytesDone - b0) * 1000) / dt;
  }
}

/**
 * One file's share of the progress, so that a restarted attempt (an expired session) can
 * take back what it had counted instead of counting it twice.
 */
export class FileProgress {
  private counted = 0;

  constructor(private readonly tracker: ProgressTracker) {}

  done(bytes: number): void {
    this.counted += bytes;
    this.tracker.done(bytes);
  }

  transferred(bytes: number): void {
    this.tracker.transferred(bytes);
  }

  reset(): void {
    this.tracker.done(-this.counted);
    this.counted = 0;
  }
}
