/**
 * Progress of a run: files and bytes planned and done, checks, deletions, errors, the
 * transfer rate over the last seconds and the ETA derived from it. The callback is told at
 * most every `intervalMs` while work goes on, and once at the end.
 */
export interface SyncProgress {
  /** 'listing' (both sides), 'comparing', 'transferring', 'deleting', 'done'. */
  phase: 'listing' | 'comparing' | 'transferring' | 'deleting' | 'done';
  filesTotal: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
  checks: number;
  deletes: number;
  renames: number;
  errors: number;
  /** Bytes per second over the last few seconds. */
  rate: number;
  /** Milliseconds until the planned bytes are done at the current rate; undefined when unknown. */
  etaMs?: number;
  elapsedMs: number;
}

export type SyncProgressCallback = (p: SyncProgress) => void;

export class ProgressTracker {
  readonly state: SyncProgress = {
    phase: 'listing',
    filesTotal: 0,
    filesDone: 0,
    bytesTotal: 0,
    bytesDone: 0,
    checks: 0,
    deletes: 0,
    renames: 0,
    errors: 0,
    rate: 0,
    elapsedMs: 0,
  };
  private readonly started = performance.now();
  private lastEmit = 0;
  /** (time, bytesDone) samples of the last few seconds, for the rate. */
  private samples: Array<[number, number]> = [];

  constructor(
    private readonly callback?: SyncProgressCallback,
    private readonly intervalMs = 200,
  ) {}

  phase(p: SyncProgress['phase']): void {
    this.state.phase = p;
    this.emit(true);
  }

  plan(files: number, bytes: number): void {
    this.state.filesTotal += files;
    this.state.bytesTotal += bytes;
    this.emit();
  }

  bytes(n: number): void {
    this.state.bytesDone += n;
    this.emit();
  }

  count(what: 'filesDone' | 'checks' | 'deletes' | 'renames' | 'errors', n = 1): void {
    this.state[what] += n;
    this.emit();
  }

  finish(): SyncProgress {
    this.state.phase = 'done';
    this.emit(true);
    return { ...this.state };
  }

  private emit(force = false): void {
    const now = performance.now();
    if (!force && now - this.lastEmit < this.intervalMs) return;
    this.lastEmit = now;
    const s = this.state;
    s.elapsedMs = now - this.started;
    this.samples.push([now, s.bytesDone]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift();
    const [t0, b0] = this.samples[0];
    s.rate = now - t0 > 0 ? ((s.bytesDone - b0) * 1000) / (now - t0) : 0;
    const left = s.bytesTotal - s.bytesDone;
    s.etaMs = s.rate > 0 ? (left * 1000) / s.rate : left === 0 ? 0 : undefined;
    this.callback?.({ ...s });
  }
}
