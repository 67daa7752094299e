/**
 * Progress of an operation (an upload, a download, a sync), reported through a callback:
 * what it is doing, files and bytes done out of the totals, the rate over the last seconds
 * and the time left at that rate. One shape for the SDK's transfers and the sync engine;
 * the library reports, the CLI renders.
 */

export interface Progress {
  /** 'listing' and 'comparing' (sync), 'transferring', 'deleting' (sync), 'done'. */
  phase: 'listing' | 'comparing' | 'transferring' | 'deleting' | 'done';
  /** Bytes of content accounted for: sent/received, or found already present (dedup, resume). */
  bytesDone: number;
  /** Total bytes of the operation; undefined while unknown (a stream of unknown size). */
  bytesTotal?: number;
  /** Chunk bytes that actually crossed the network (transfers with a Ferry server). */
  bytesTransferred: number;
  filesDone: number;
  filesTotal?: number;
  /** Comparisons made (sync, check). */
  checks: number;
  /** Files deleted and renamed (sync). */
  deletes: number;
  renames: number;
  /** Files that failed. */
  errors: number;
  /** Bytes per second over the last few seconds (of bytesDone). */
  rate: number;
  /** Milliseconds left at the current rate: 0 when nothing is left, undefined when unknown. */
  etaMs?: number;
  elapsedMs: number;
  /** Set on the last event of an operation. */
  done: boolean;
  /**
   * True while the totals still grow: a tree download counts what its listing found so far
   * (`filesTotal`, `bytesTotal`) and fetches meanwhile; absent once they are final.
   */
  totalsSoFar?: boolean;
}

export type ProgressCallback = (p: Progress) => void;

export type ProgressCounter = 'filesDone' | 'checks' | 'deletes' | 'renames' | 'errors';

/** The rate is measured over this window. */
const WINDOW_MS = 5_000;

/** Accumulates the counters and emits {@link Progress} at most every `intervalMs` (and on every phase change). */
export class ProgressTracker {
  phaseNow: Progress['phase'] = 'transferring';
  bytesDone = 0;
  bytesTotal?: number;
  bytesTransferred = 0;
  filesTotal?: number;
  readonly counts: Record<ProgressCounter, number> = { filesDone: 0, checks: 0, deletes: 0, renames: 0, errors: 0 };
  private readonly started = performance.now();
  private lastEmit = 0;
  private readonly samples: Array<[number, number]> = [];
  private unknownTotal = false;
  private growing = false;

  constructor(
    private readonly callback?: ProgressCallback,
    private readonly intervalMs = 200,
  ) {}

  phase(p: Progress['phase']): void {
    this.phaseNow = p;
    this.emit(true);
  }

  /** Adds to the totals; an undefined byte count (a stream) makes the byte total unknown. */
  addTotals(bytes: number | undefined, files: number): void {
    if (bytes === undefined) this.unknownTotal = true;
    this.bytesTotal = this.unknownTotal ? undefined : (this.bytesTotal ?? 0) + (bytes ?? 0);
    this.filesTotal = (this.filesTotal ?? 0) + files;
    this.emit();
  }

  /** The totals grow from now on (a listing taken as the work goes): events say so, and give no ETA, until {@link totalsKnown}. */
  totalsGrowing(): void {
    this.growing = true;
  }

  /** The totals are final. */
  totalsKnown(): void {
    this.growing = false;
    this.emit(true);
  }

  /** Bytes of content done (negative: taken back after a failed attempt). */
  done(bytes: number): void {
    this.bytesDone += bytes;
    this.emit();
  }

  /** Bytes that crossed the network. */
  transferred(bytes: number): void {
    this.bytesTransferred += bytes;
  }

  count(what: ProgressCounter, n = 1): void {
    this.counts[what] += n;
    this.emit();
  }

  fileDone(): void {
    this.count('filesDone');
  }

  /** The current state, without emitting. */
  snapshot(done = false): Progress {
    const now = performance.now();
    const rate = this.rate(now);
    const left = this.bytesTotal === undefined || this.growing ? undefined : Math.max(0, this.bytesTotal - this.bytesDone);
    return {
      phase: done ? 'done' : this.phaseNow,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      bytesTransferred: this.bytesTransferred,
      filesDone: this.counts.filesDone,
      filesTotal: this.filesTotal,
      checks: this.counts.checks,
      deletes: this.counts.deletes,
      renames: this.counts.renames,
      errors: this.counts.errors,
      rate,
      etaMs: left === 0 ? 0 : left === undefined || rate <= 0 ? undefined : (left * 1000) / rate,
      elapsedMs: now - this.started,
      done,
      ...(this.growing && !done ? { totalsSoFar: true } : {}),
    };
  }

  /** Emits the final event. */
  finish(): Progress {
    this.phaseNow = 'done';
    const last = this.snapshot(true);
    this.callback?.(last);
    return last;
  }

  private emit(force = false): void {
    if (!this.callback) return;
    const now = performance.now();
    if (!force && now - this.lastEmit < this.intervalMs) return;
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
