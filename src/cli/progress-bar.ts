/**
 * Renders the SDK's progress events as a cli-progress bar on stderr: bytes, rate, ETA and,
 * for trees, files. On by default when stderr is a terminal (see options.ts progressWanted);
 * otherwise the callback is undefined and nothing is drawn.
 */
import { formatSize } from '../core/units.js';
import { createRequire } from 'node:module';
import type cliProgressType from 'cli-progress';
import type { Progress } from '../core/progress.js';
import { formatDuration, formatRate } from './format.js';

export interface ProgressBar {
  onProgress?: (p: Progress) => void;
  stop(): void;
}

/** `enabled`: what -P / --no-progress / -q / --json and the terminal decided (options.ts progressWanted). */
export function createProgressBar(options: { enabled: boolean; label?: string }): ProgressBar {
  if (!options.enabled) return { stop() {} };
  // -P on something that is not a terminal: a line a second instead of a redrawn bar.
  const tty = process.stderr.isTTY === true;
  // cli-progress is loaded only when a bar is actually drawn (CommonJS: a synchronous require).
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof cliProgressType;
  let bar: cliProgressType.SingleBar | undefined;
  let knownTotal = false;
  let grew = false;
  const payload = (p: Progress) => ({
    doneH: formatSize(p.bytesDone),
    totalH: p.bytesTotal === undefined ? '?' : formatSize(p.bytesTotal),
    rateH: formatRate(p.rate),
    etaH: formatDuration(p.etaMs),
    files: p.totalsSoFar ? ` | files ${p.filesDone} of ${p.filesTotal ?? 0} listed so far` : p.filesTotal !== undefined && p.filesTotal > 1 ? ` | files ${p.filesDone}/${p.filesTotal}` : '',
    label: options.label ? `${options.label} ` : '',
  });
  return {
    onProgress(p) {
      const known = p.bytesTotal !== undefined && !p.totalsSoFar;
      // A tree whose listing has ended: the bar drawn without a total gives way to one with it.
      if (bar && !knownTotal && known && grew) {
        bar.stop();
        bar = undefined;
        // stop() leaves the bar's last line and moves below it: up again and erase it, so that
        // the bar with a total is drawn in its place instead of leaving a stale line above.
        if (tty) process.stderr.write('\x1b[1A\x1b[2K');
      }
      grew ||= p.totalsSoFar === true;
      if (!bar) {
        knownTotal = known;
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: knownTotal
              ? '{label}{bar} {percentage}% | {doneH} / {totalH} | {rateH} | ETA {etaH}{files}'
              : '{label}{doneH} | {rateH}{files}',
            barsize: 28,
            hideCursor: true,
            fps: 8,
            clearOnComplete: false,
            noTTYOutput: !tty,
            notTTYSchedule: 1000,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(Math.max(1, p.bytesTotal ?? 1), 0, payload(p));
      }
      if (knownTotal && p.bytesTotal !== undefined) bar.setTotal(Math.max(1, p.bytesTotal));
      bar.update(knownTotal ? p.bytesDone : 0, payload(p));
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
