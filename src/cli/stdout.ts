/**
 * Standard output whose reader may go away (`ferry get x - | head -c 10`,
 * `ferry ls -R / | head -1`).
 *
 * Node ignores SIGPIPE, so a write to a closed pipe does not kill the process as it would
 * a C program: it fails with EPIPE, reported as an 'error' event on process.stdout that
 * nobody listened to, and the process died with a stack trace and exit code 1. Here the
 * first stdout error is caught once for the whole CLI and turned into an abort: commands
 * stop what they are doing and the CLI ends quietly with 141 (128 + SIGPIPE), which is
 * what a shell reports for any other program in that place. Other write errors (a full
 * disk behind `> file`) end the command with that error instead.
 */
import { fromSystemError } from '../core/errors.js';
import { EXIT, ExitError } from './exit.js';

const controller = new AbortController();
let watching = false;

/** Aborted when stdout can no longer be written; the reason is the error to end with. */
export const stdoutClosed: AbortSignal = controller.signal;

/** Whether stdout's reader went away (EPIPE): the CLI then ends with 141 and says nothing. */
export function isBrokenPipe(): boolean {
  return controller.signal.aborted && controller.signal.reason instanceof ExitError && controller.signal.reason.exitCode === EXIT.BROKEN_PIPE;
}

/** Installs the error listeners on stdout and stderr (once; main() calls it first thing). */
export function watchStdout(): void {
  if (watching) return;
  watching = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (controller.signal.aborted) return;
    controller.abort(err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED' ? new ExitError(EXIT.BROKEN_PIPE) : fromSystemError(err, 'standard output'));
  });
  // Errors cannot be reported on a stderr that is gone; they must not crash the CLI either.
  process.stderr.on('error', () => undefined);
}

/**
 * Writes to stdout honouring backpressure (listings can be millions of lines). Throws the
 * reason of {@link stdoutClosed} once stdout is gone instead of waiting for a 'drain'
 * that will never come.
 */
export async function writeStdout(data: string | Uint8Array): Promise<void> {
  if (controller.signal.aborted) throw controller.signal.reason;
  if (process.stdout.write(data)) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      controller.signal.removeEventListener('abort', onClosed);
      resolve();
    };
    const onClosed = () => {
      process.stdout.off('drain', onDrain);
      reject(controller.signal.reason);
    };
    process.stdout.once('drain', onDrain);
    controller.signal.addEventListener('abort', onClosed, { once: true });
  });
}
