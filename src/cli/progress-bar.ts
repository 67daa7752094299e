/**
 * Renders the SDK's progress events as a cli-progress bar on stderr: bytes, rate, ETA and,
 * for trees, files. Only when stderr is a terminal and neither -q nor --json was given;
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

export function createProgressBar(options: { quiet?: boolean; json?: boolean; label?: string }): ProgressBar {
  if (options.quiet || options.json || !process.stderr.isTTY) return { stop() {} };
  // cli-progress is loaded only when a bar is actually drawn (CommonJS: a synchronous require).
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof cliProgressType;
  let bar: cliProgressType.SingleBar | undefined;
  let knownTotal = false;
  const payload = (p: Progress) => ({
    doneH: formatSize(p.bytesDone),
    totalH: p.bytesTotal === undefined ? '?' : formatSize(p.bytesTotal),
    rateH: formatRate(p.rate),
    etaH: formatDuration(p.etaMs),
    files: p.filesTotal !== undefined && p.filesTotal > 1 ? ` | files ${p.filesDone}/${p.filesTotal}` : '',
    label: options.label ? `${options.label} ` : '',
  });
  return {
    onProgress(p) {
      if (!bar) {
        knownTotal = p.bytesTotal !== undefined;
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
