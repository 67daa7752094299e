/** One file's share of an operation's progress (core/progress.ts). */
import type { ProgressTracker } from '../core/progress.js';

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
