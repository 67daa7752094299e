/**
 * Command hooks (config `hooks`): a program run for each event it subscribes to, with the
 * event's JSON (src/server/events.ts) on stdin, killed after its timeout. Run in the
 * background (a request never waits for one), at most HOOK_CONCURRENCY at a time; a
 * failure is logged. Programs are argv lists, never a shell line.
 *
 * The pre-upload hook (config `preUploadHook`) is different: it runs before a commit, gets
 * the file's bytes on stdin (streamed chunk by chunk, verified, with backpressure) and the
 * facts in FERRY_PATH, FERRY_USER, FERRY_SIZE; exit 0 accepts, anything else rejects the
 * upload (FERRY_ERR_UPLOAD_REJECTED, the program's first output line as the reason). It
 * fails closed: a program that cannot start or times out rejects too.
 * ClamAV: `preUploadHook: {command: [clamdscan, --no-summary, --stream, -]}` (exit 1 on a find).
 */
import { spawn } from 'node:child_process';
import type { FastifyBaseLogger } from 'fastify';
import { UnavailableError, UploadRejectedError } from '../core/errors.js';
import type { ChunkStore } from '../store/chunk-store.js';
import type { PendingFile } from '../store/upload-contents.js';
import type { RecordedEvent } from './audit.js';
import type { ServerConfig } from './config.js';
import { hookEventOf, payloadOf } from './events.js';
import { envName, SETTINGS } from './settings.js';
import { envName as backendEnvName } from '../backends/registry.js';
import { BACKENDS } from '../remotes/index.js';

const HOOK_CONCURRENCY = 4;
const MAX_QUEUED = 1000;

/**
 * The server's secrets as environment variables: its own (the settings without a flag:
 * FERRY_ADMIN_TOKEN, FERRY_SESSION_KEY, FERRY_ENCRYPTION_KEY, FERRY_METRICS_TOKEN) and the
 * keys of what it stores in, as README's "Deployment" passes them: PGPASSWORD (the metadata
 * database: every account), the AWS SDK's credentials and every backend's secret options
 * (`FERRY_S3_SECRET_ACCESS_KEY`, `FERRY_SFTP_PASSWORD`, `FERRY_FERRY_TOKEN`, ...) with
 * FERRY_TOKEN (a `ferry://` store's): every stored byte. A hook never gets them: a scanner
 * fed untrusted files, or a script that prints its environment (the pre-upload hook's first
 * output line reaches the uploader), must not hold the keys to every account and every
 * stored byte. A hook that needs a credential of its own reads it from a file (AWS_PROFILE
 * and AWS_REGION still pass).
 */
const SECRET_VARIABLES: ReadonlySet<string> = new Set([
  ...SETTINGS.filter((s) => s.noFlag).map((s) => envName(s.key)),
  'PGPASSWORD',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'FERRY_TOKEN',
  'FERRY_CONFIG_PASS',
  ...BACKENDS.flatMap((b) => b.options.filter((o) => o.secret).map((o) => backendEnvName(b.type, o.name))),
]);

/** The environment a hook runs with: the server's, without its secrets, and `extra`. */
export function hookEnvironment(extra: NodeJS.ProcessEnv, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(base).filter(([k]) => !SECRET_VARIABLES.has(k)));
  return { ...env, ...extra };
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  output: string;
  error?: Error;
}

/** Runs `command` with `feed` writing its stdin; resolves when it exits (or is killed at `timeoutMs`). */
function run(command: string[], env: NodeJS.ProcessEnv, timeoutMs: number, feed: (stdin: NodeJS.WritableStream, signal: AbortSignal) => Promise<void>): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(command[0], command.slice(1), { env: hookEnvironment(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let timedOut = false;
    const collect = (d: Buffer) => {
      if (output.length < 4096) output += d.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const stop = new AbortController();
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    let spawnError: Error | undefined;
    child.on('error', (err) => (spawnError = err));
    // A program may exit without reading all of its input (a scanner that rejects early).
    child.stdin.on('error', () => undefined);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      stop.abort();
      resolve({ code, signal, timedOut, output: output.trim(), error: spawnError });
    });
    feed(child.stdin, stop.signal)
      .then(() => child.stdin.end())
      .catch(() => child.stdin.destroy());
  });
}

export class CommandHooks {
  private active = 0;
  private readonly queue: (() => Promise<void>)[] = [];

  constructor(
    private readonly config: Pick<ServerConfig, 'hooks' | 'preUploadHook'>,
    private readonly chunks: ChunkStore,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Starts the hooks subscribed to this event (an audit listener); returns at once. */
  dispatch(e: RecordedEvent): void {
    const event = hookEventOf(e);
    if (!event) return;
    for (const hook of this.config.hooks) {
      if (!hook.events.includes(event)) continue;
      const body = JSON.stringify(payloadOf(event, e)) + '\n';
      const job = async () => {
        const r = await run(hook.command, { FERRY_EVENT: event }, hook.timeoutMs, async (stdin) => void stdin.write(body));
        if (r.error || r.timedOut || r.code !== 0) {
          this.log.warn({ hook: hook.command[0], event, code: r.code, timedOut: r.timedOut, err: r.error, output: r.output.slice(0, 500) }, 'command hook failed');
        }
      };
      if (this.queue.length >= MAX_QUEUED) {
        this.log.error({ hook: hook.command[0], event }, 'command hook queue full: event dropped');
        continue;
      }
      this.queue.push(job);
    }
    this.next();
  }

  private next(): void {
    while (this.active < HOOK_CONCURRENCY && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.active++;
      void job()
        .catch((err: unknown) => this.log.error({ err }, 'command hook failed'))
        .finally(() => {
          this.active--;
          this.next();
        });
    }
  }

  /** Waits for running and queued hooks (tests; shutdown). */
  async idle(): Promise<void> {
    while (this.active > 0 || this.queue.length > 0) await new Promise((r) => setTimeout(r, 20));
  }

  /** The pre-upload check of each file about to be committed; throws to reject. */
  async checkUpload(files: readonly PendingFile[], user: string): Promise<void> {
    const hook = this.config.preUploadHook;
    if (!hook) return;
    for (const f of files) {
      const r = await run(hook.command, { FERRY_EVENT: 'pre-upload', FERRY_PATH: f.path, FERRY_USER: user, FERRY_SIZE: String(f.size) }, hook.timeoutMs, async (stdin, signal) => {
        for (const c of f.chunks) {
          if (signal.aborted) return;
          const data = await this.chunks.read(c.hash);
          if (!stdin.write(data)) await new Promise<void>((resolve) => {
            const done = () => resolve();
            (stdin as NodeJS.WritableStream & { once(e: string, f: () => void): void }).once('drain', done);
            signal.addEventListener('abort', done, { once: true });
          });
        }
      });
      if (r.error) {
        this.log.error({ err: r.error, hook: hook.command[0] }, 'the pre-upload hook could not run');
        throw new UnavailableError('the pre-upload check could not run; try again later', { details: { path: f.path } });
      }
      if (r.timedOut) throw new UploadRejectedError(`${f.path}: the pre-upload check did not finish in time`, { details: { path: f.path } });
      if (r.code !== 0) {
        const reason = r.output.split('\n')[0] || `exit status ${r.code ?? r.signal}`;
        throw new UploadRejectedError(`${f.path}: rejected by the pre-upload check: ${reason}`, { details: { path: f.path, reason } });
      }
    }
  }
}
