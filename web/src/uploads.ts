/**
 * The upload queue of the web app (and of a drop box's page): files go up through the SDK's
 * client code (src/client/blob-upload.ts: the FastCDC WebAssembly chunker, Web Crypto
 * SHA-256, the upload-session protocol), a few files at once sharing the chunk slots. Each
 * can be paused, cancelled and retried; an upload cut by a reload or a lost network starts
 * again with only the chunks the server still lacks.
 */
import type { FerryApi } from '../../src/client/api.js';
import { uploadBlobBatch } from '../../src/client/blob-batch.js';
import { uploadBlob } from '../../src/client/blob-upload.js';
import { uploadEncryptedBlob } from '../../src/client/e2e/blob-put.js';
import type { E2eKeys, KdfParams } from '../../src/client/e2e/format.js';
import { baseName, isWithin, parentPath } from '../../src/core/path.js';
import { Semaphore } from '../../src/client/concurrency.js';
import { AbortedError, AlreadyExistsError, isFerryError, type FerryErrorCode } from '../../src/core/errors.js';
import type { Entry } from '../../src/core/protocol.js';
import { etagOfHash } from '../../src/core/write-conditions.js';
import { errorText, overallPace } from './format.js';
import { pendingUploads, type PendingUpload } from './idb.js';
import { RETRY_EVENT } from './session.js';

export type UploadState = 'queued' | 'running' | 'paused' | 'done' | 'failed' | 'canceled' | 'needs-file';

export interface UploadItem {
  id: string;
  name: string;
  path: string;
  size: number;
  lastModified: number;
  file?: File;
  state: UploadState;
  bytesDone: number;
  /** Bytes that crossed the network (the rest the server already had). */
  bytesSent: number;
  rate: number;
  etaSeconds?: number;
  error?: string;
  entry?: Entry;
  sessionId?: string;
  controller?: AbortController;
  /**
   * Into an end-to-end vault: encrypted in this page with these keys (held in memory only,
   * so such an upload is not saved for resuming after a reload: picked again, it sends
   * only the chunks the server still lacks, as the same plain chunk gives the same ciphertext).
   */
  e2e?: { keys: E2eKeys; kdf: KdfParams; serverPath: string };
  /** What the upload is doing besides sending (the end-to-end first pass). */
  note?: string;
  /** A request of its session is being tried again (the server went away): no progress until it answers. */
  retrying?: boolean;
  /** A file of that name is there already: the upload waits for Replace (or Cancel). */
  conflict?: boolean;
  /** Refused for good (a drop box's refusal that sending again cannot change): no Retry; `error` says what to do. */
  final?: boolean;
  /** Replace was chosen: the file there is overwritten. */
  replace?: boolean;
  /**
   * The ETag of the file there when the user was asked (when the listing showed it): Replace
   * replaces that file only, and asks again if it changed meanwhile (the commit's If-Match).
   */
  replaces?: string;
  /** What is at the destinations of the files added with this one (asked once for them all). */
  destinations?: Destinations;
  /** Goes in a session of its own, not in a batch (a batch it was in was refused: each file gets its own answer). */
  alone?: boolean;
}

/** Uploads running at once (a file, or a batch of small ones); chunk requests in flight across them (the browser keeps 6 connections per server). */
const FILES_AT_ONCE = 3;
/**
 * Small files go up in batches (src/client/blob-batch.ts: one session, packs, one commit),
 * as `ferry put -r` sends them: 1,000 files of 1-10 KiB took about 3 requests a file one by
 * one. A batch holds at most this many files and bytes (the bytes are read when their pack
 * is built, not held), and files up to BATCH_FILE_BYTES: a larger one has chunks of its own
 * to send, and its progress would be lost in a batch's.
 */
const BATCH_FILES = 200;
const BATCH_BYTES = 16 * 1024 * 1024;
const BATCH_FILE_BYTES = 1024 * 1024;
const CHUNKS_IN_FLIGHT = 5;
/**
 * Finished files are told (the file list refreshes) once the queue has drained, and while it
 * runs at most this often: a refresh per file was a listing and a redraw of the whole folder
 * for each of 121 small files.
 */
const DONE_REPORT_MS = 5000;
/** How often at most a running upload's progress is saved (IndexedDB) for the page after a reload. */
const PROGRESS_SAVE_MS = 500;

/** `fn` at once, then at most once every `ms`, the last call never dropped (run at the end of its interval). */
function throttled(ms: number, fn: () => void): () => void {
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    if (timer) return;
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn();
      return;
    }
    timer = setTimeout(() => {
      timer = undefined;
      last = Date.now();
      fn();
    }, wait);
  };
}

let seq = 0;

export class UploadManager {
  items: UploadItem[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly slots = new Semaphore(CHUNKS_IN_FLIGHT);
  /** Uploads running (a file alone, or a batch): at most {@link FILES_AT_ONCE}. */
  private lanes = 0;
  /** Since when some upload has been running, and the bytes done then. */
  private running?: { at: number; done: number };
  /** Finished files not yet told to `onDone`, and when it was last told. */
  private unreported: UploadItem[] = [];
  private reportedAt = 0;
  private readonly closed = new AbortController();

  /**
   * @param api the API to upload with (a session's, or a drop box's)
   * @param scope whose queue this is, for the saved state (`user:NAME`, `share:KEY`)
   * @param options.dropBox never replace a file (drop boxes refuse it anyway)
   * @param options.onDone told about finished files (the file list refreshes): once the
   *   queue has drained, and meanwhile at most every {@link DONE_REPORT_MS}
   * @param options.onRefused told about a file the server refused for good (a drop box's page
   *   then reads what its link has left again: another visitor may have used it up)
   */
  constructor(
    private readonly api: FerryApi,
    private readonly scope: string,
    private readonly options: { dropBox?: boolean; onDone?: (items: UploadItem[]) => void; onRefused?: () => void } = {},
  ) {
    const { signal } = this.closed;
    // Leaving the page (closing the tab, a reload, another address) stops the uploads, and
    // the files must then be picked again: the browser asks first while some are not done.
    addEventListener(
      'beforeunload',
      (e) => {
        if (this.unfinished() === 0) return;
        e.preventDefault();
        e.returnValue = '';
      },
      { signal },
    );
    addEventListener(
      'online',
      () => {
        for (const it of this.items) if (it.state === 'failed' && it.file && !it.final) this.retry(it.id);
      },
      { signal },
    );
    // A restarted or unreachable server: the rate and time left of before would be shown as
    // if bytes still moved. The file's next progress clears it.
    addEventListener(
      RETRY_EVENT,
      (e) => {
        const path = (e as CustomEvent<string>).detail;
        // A batch's files share their session: all of them wait.
        const waiting = this.items.filter((i) => i.state === 'running' && !i.retrying && i.sessionId !== undefined && path.includes(`/uploads/${i.sessionId}`));
        if (waiting.length === 0) return;
        for (const it of waiting) {
          it.retrying = true;
          it.rate = 0;
          it.etaSeconds = undefined;
        }
        this.changed();
      },
      { signal },
    );
  }

  /** Uploads running, queued or paused: what leaving the page or signing out would stop. */
  unfinished(): number {
    return this.items.filter((i) => i.state === 'running' || i.state === 'queued' || i.state === 'paused').length;
  }

  /**
   * Stops this queue for good (its user signed out): running uploads stop where they are,
   * nothing more starts, and the page no longer hears from it. What was sent and the saved
   * state stay, so that signing in again offers them for resuming, as after a reload.
   */
  close(): void {
    this.closed.abort();
    for (const it of this.items) it.controller?.abort();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  private changed(): void {
    // The overall rate is measured from when uploads began running (again, after a pause of all).
    const { done, active } = this.sums();
    if (active === 0) this.running = undefined;
    else this.running ??= { at: Date.now(), done };
    for (const l of this.listeners) l();
  }

  /** Uploads saved by an earlier page of this scope that never finished: offered for resuming. */
  async restore(): Promise<void> {
    let pending: PendingUpload[] = [];
    try {
      pending = await pendingUploads.list(this.scope);
    } catch {
      return; // no IndexedDB (private mode): nothing to resume
    }
    for (const p of pending) {
      if (this.items.some((i) => i.id === p.id)) continue;
      this.items.push({ id: p.id, name: p.name, path: p.path, size: p.size, lastModified: p.lastModified, state: 'needs-file', bytesDone: p.bytesDone ?? 0, bytesSent: 0, rate: 0, sessionId: p.sessionId });
    }
    this.changed();
    if (this.scope.startsWith('user:')) await Promise.all(this.items.filter((i) => i.state === 'needs-file').map((it) => this.finishedMeanwhile(it)));
  }

  /**
   * A reload that came after the server took the file but before the page heard so (the
   * commit's answer, the saved state's removal): the file is there, of its size and with its
   * modification time (the upload sets it). Shown done, not "pick the file again", which
   * then asked whether to replace the very file.
   */
  private async finishedMeanwhile(it: UploadItem): Promise<void> {
    const there = await this.api.statIfExists(it.path).catch(() => undefined);
    if (there?.type !== 'file' || there.size !== it.size || there.mtime !== it.lastModified || it.state !== 'needs-file') return;
    it.state = 'done';
    it.entry = there;
    it.bytesDone = it.size;
    it.bytesSent = it.size;
    it.note = 'finished before the page was reloaded';
    this.changed();
    await this.forget(it);
  }

  /**
   * @param files what to upload, and where (`e2e.serverPath` is where a vault's file is stored)
   * @param into the folder (on the server) they go into, or below: it exists, so only the
   *   folders of `files` it holds are listed (a new folder of files is not asked about at all)
   */
  add(files: Array<{ file: File; path: string; e2e?: UploadItem['e2e'] }>, into?: string): void {
    const destinations = new Destinations(this.api, into);
    if (!this.items.some((i) => i.state === 'running' || i.state === 'queued')) this.reportedAt = Date.now();
    for (const { file, path, e2e } of files) {
      this.items.push({ id: `${Date.now().toString(36)}-${++seq}-${Math.random().toString(36).slice(2, 8)}`, name: file.name, path, size: file.size, lastModified: file.lastModified, file, state: 'queued', bytesDone: 0, bytesSent: 0, rate: 0, e2e, destinations });
    }
    this.changed();
    this.pump();
  }

  /** The file again, after a reload: it must be the same one (name, size, modification time). */
  provideFile(id: string, file: File): string | undefined {
    const it = this.find(id);
    if (!it) return 'This upload is no longer in the list.';
    if (file.name !== it.name || file.size !== it.size || file.lastModified !== it.lastModified) {
      return `This is not the file that was being uploaded (${it.name}, ${it.size} bytes): pick that one.`;
    }
    it.file = file;
    it.state = 'queued';
    it.error = undefined;
    this.changed();
    this.pump();
    return undefined;
  }

  pause(id: string): void {
    const it = this.find(id);
    if (!it || (it.state !== 'running' && it.state !== 'queued')) return;
    it.state = 'paused';
    it.rate = 0;
    it.controller?.abort();
    this.changed();
  }

  resume(id: string): void {
    const it = this.find(id);
    if (!it || it.state !== 'paused') return;
    it.state = 'queued';
    this.changed();
    this.pump();
  }

  retry(id: string): void {
    const it = this.find(id);
    if (!it || it.state !== 'failed' || !it.file || it.final) return;
    it.state = 'queued';
    it.error = undefined;
    this.changed();
    this.pump();
  }

  /** Uploads a file whose name was taken over the file there (with the server's versions, it becomes one). */
  replace(id: string): void {
    const it = this.find(id);
    if (!it || !it.conflict) return;
    it.replace = true;
    it.conflict = false;
    this.retry(id);
  }

  async cancel(id: string): Promise<void> {
    const it = this.find(id);
    if (!it || it.state === 'done' || it.state === 'canceled') return;
    it.state = 'canceled';
    it.rate = 0;
    it.controller?.abort();
    // The saved state goes before the list shows the upload gone: a reload right after must
    // not bring it back (seen under load in test/web/resume.test.ts).
    await pendingUploads.remove(it.id).catch(() => undefined);
    this.changed();
    await this.forget(it);
  }

  /** Removes finished, cancelled and failed entries from the list. */
  clearFinished(): void {
    this.items = this.items.filter((i) => i.state !== 'done' && i.state !== 'canceled');
    this.changed();
  }

  /**
   * The queue's progress: the bytes of the files that are not cancelled or failed (a failed
   * file is counted apart, not as bytes still to send; so is a cancelled one), and while some are running, their
   * overall rate and time left, measured from when they started running
   * ({@link overallPace}: none in the first seconds, when it would mean little).
   */
  totals(now = Date.now()): { size: number; done: number; failed: number; canceled: number; active: number; rate?: number; etaSeconds?: number; waiting: boolean } {
    const t = this.sums();
    // Every running file waits for the server: no rate or time left, which would be of before.
    const running = this.items.filter((i) => i.state === 'running');
    const waiting = running.length > 0 && running.every((i) => i.retrying);
    const pace = this.running && t.active > 0 && !waiting ? overallPace(t.size - t.done, t.done - this.running.done, now - this.running.at) : undefined;
    return { ...t, ...pace, waiting };
  }

  private sums(): { size: number; done: number; failed: number; canceled: number; active: number } {
    let size = 0;
    let done = 0;
    let failed = 0;
    let canceled = 0;
    let active = 0;
    for (const i of this.items) {
      if (i.state === 'canceled') {
        canceled++;
        continue;
      }
      if (i.state === 'failed') {
        failed++;
        continue;
      }
      size += i.size;
      done += i.state === 'done' ? i.size : i.bytesDone;
      if (i.state === 'running') active++;
    }
    return { size, done, failed, canceled, active };
  }

  private find(id: string): UploadItem | undefined {
    return this.items.find((i) => i.id === id);
  }

  private pump(): void {
    if (this.closed.signal.aborted) return;
    while (this.lanes < FILES_AT_ONCE) {
      const next = this.nextBatch();
      if (next.length === 0) return;
      this.lanes++;
      // Each sets its files running before its first await: the next round picks others.
      void (next.length === 1 ? this.run(next[0]) : this.runBatch(next));
    }
  }

  private batchable(it: UploadItem): boolean {
    return it.state === 'queued' && it.file !== undefined && !it.e2e && !it.replace && !it.alone && it.size <= BATCH_FILE_BYTES;
  }

  /** The next upload to start: a file alone, or small files together (in the order they were added). */
  private nextBatch(): UploadItem[] {
    const first = this.items.find((i) => i.state === 'queued' && i.file);
    if (!first || !this.batchable(first)) return first ? [first] : [];
    const batch = [first];
    let bytes = first.size;
    for (const it of this.items) {
      if (batch.length >= BATCH_FILES) break;
      if (it === first || !this.batchable(it) || bytes + it.size > BATCH_BYTES) continue;
      batch.push(it);
      bytes += it.size;
    }
    return batch;
  }

  /** Drops the saved state and the server's session of an upload that will not go on. */
  private async forget(it: UploadItem): Promise<void> {
    await pendingUploads.remove(it.id).catch(() => undefined);
    if (it.sessionId) await this.api.abortUpload(it.sessionId).catch(() => undefined);
    it.sessionId = undefined;
  }

  private async run(it: UploadItem): Promise<void> {
    const controller = new AbortController();
    it.controller = controller;
    it.state = 'running';
    it.error = undefined;
    // What an earlier attempt (before a pause, a failure, a reload) got to the server is
    // there still: the progress starts from it, not from 0 B, and this attempt's count (which
    // finds those chunks present once it has cut the file) takes over when it passes it.
    const before = it.bytesDone;
    this.changed();
    // A session left by an earlier attempt (a reload, a pause) is abandoned: the new one
    // finds the chunks that attempt sent already on the server. Gone before the new one is
    // asked for: a user allowed one live session (--max-sessions 1) was refused otherwise
    // whenever the abort arrived after the creation.
    const stale = it.sessionId;
    it.sessionId = undefined;
    if (stale) await this.api.abortUpload(stale, { signal: AbortSignal.any([controller.signal, AbortSignal.timeout(10_000)]) }).catch(() => undefined);
    const saved: PendingUpload = { id: it.id, scope: this.scope, path: it.path, name: it.name, size: it.size, lastModified: it.lastModified, bytesDone: before };
    if (!it.e2e) await pendingUploads.put(saved).catch(() => undefined);
    const saveProgress = throttled(PROGRESS_SAVE_MS, () => {
      // Only while it runs: a cancel removes the saved entry, which this must not bring back.
      if (it.state !== 'running' || it.e2e) return;
      saved.bytesDone = it.bytesDone;
      void pendingUploads.put({ ...saved }).catch(() => undefined);
    });
    try {
      // Never over a file silently: a name taken is asked about before any byte is sent (the
      // commit refuses it too, should the file appear meanwhile). A drop box cannot look.
      if (!this.options.dropBox && !it.replace) await this.refuseTaken(it, controller.signal);
      const common = {
        signal: controller.signal,
        slots: this.slots,
        parallel: CHUNKS_IN_FLIGHT,
        noOverwrite: this.options.dropBox || !it.replace,
        ...(it.replace && it.replaces !== undefined ? { ifMatch: it.replaces } : {}),
        onSession: (id: string) => {
          it.sessionId = id;
          saved.sessionId = id;
          if (!it.e2e) void pendingUploads.put({ ...saved }).catch(() => undefined);
        },
      };
      const { entry, result } = it.e2e ? await this.runEncrypted(it, it.e2e, common) : await uploadBlob(this.api, it.file!, it.path, {
        ...common,
        onProgress: (p) => {
          it.bytesDone = Math.max(before, p.bytesDone);
          it.bytesSent = p.bytesTransferred;
          it.retrying = false;
          saveProgress();
          it.rate = p.rate;
          it.etaSeconds = p.etaMs === undefined ? undefined : p.etaMs / 1000;
          this.changed();
        },
      });
      it.state = 'done';
      it.entry = entry;
      it.bytesDone = it.size;
      it.bytesSent = result.bytesTransferred;
      it.rate = 0;
      it.sessionId = undefined;
      await pendingUploads.remove(it.id).catch(() => undefined);
      this.unreported.push(it);
    } catch (err) {
      it.rate = 0;
      if (controller.signal.aborted || isFerryError(err, 'FERRY_ERR_ABORTED')) {
        // paused or cancelled: the state says which
        if (it.state === 'running') it.state = 'paused';
      } else {
        this.fail(it, err);
      }
    } finally {
      this.lanes--;
      it.controller = undefined;
      it.retrying = false;
      this.changed();
      this.pump();
      this.reportDone();
    }
  }

  /** A file's upload refused or failed: what the list says about it, and whether Replace or Retry are offered. */
  private fail(it: UploadItem, err: unknown): void {
    it.rate = 0;
    it.state = 'failed';
    // The file to replace changed since the user said Replace: asked again, about the file there now.
    const changed = it.replace === true && isFerryError(err, 'FERRY_ERR_PRECONDITION_FAILED') && err.details?.condition !== undefined;
    it.conflict = !this.options.dropBox && (changed || isFerryError(err, 'FERRY_ERR_ALREADY_EXISTS'));
    if (it.conflict) {
      const etag = (err as { details?: Record<string, unknown> }).details?.etag;
      it.replaces = typeof etag === 'string' ? etag : undefined;
      it.replace = false;
    }
    const advice = this.options.dropBox ? dropBoxAdvice(err) : ownUploadAdvice(err);
    it.final = advice?.final ?? false;
    if (it.final) this.options.onRefused?.();
    it.error = changed
      ? it.replaces !== undefined
        ? `${it.name} changed since you chose to replace it: replace the new version, or cancel this upload.`
        : `${it.name} was deleted or moved since you chose to replace it: upload yours (Replace), or cancel this upload.`
      : it.conflict
        ? `${it.name} already exists here: replace it, or cancel this upload.`
        : advice
          ? `${errorText(err)} ${advice.text}`
          : errorText(err);
  }

  /**
   * Small files in one session (src/client/blob-batch.ts). Names taken are asked about per
   * file first, as for a file alone; the others go together. The batch is committed whole or
   * not at all: when it is refused for something other than the network or the server (a
   * name taken meanwhile, the quota, a file that cannot be read), its files go again one by
   * one, so that each gets its own answer. A pause or cancel of one of them stops the batch;
   * the others go again in the next one (what was sent counts: the server has it).
   */
  private async runBatch(items: UploadItem[]): Promise<void> {
    const controller = new AbortController();
    const { signal } = controller;
    for (const it of items) {
      it.controller = controller;
      it.state = 'running';
      it.error = undefined;
    }
    this.changed();
    let going: UploadItem[] = [];
    try {
      const stale = new Set(items.map((i) => i.sessionId).filter((id) => id !== undefined));
      for (const it of items) it.sessionId = undefined;
      for (const id of stale) await this.api.abortUpload(id, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) }).catch(() => undefined);
      const saved = items.map((it): PendingUpload => ({ id: it.id, scope: this.scope, path: it.path, name: it.name, size: it.size, lastModified: it.lastModified, bytesDone: 0 }));
      await Promise.all(saved.map((s) => pendingUploads.put(s).catch(() => undefined)));
      // A drop box cannot look (its commit keeps a taken name's file beside). Its batch costs
      // one use a file, all or none: refused (used up), its files go alone, each answered.
      const free = await Promise.all(
        items.map((it) =>
          (this.options.dropBox ? Promise.resolve() : this.refuseTaken(it, signal)).then(
            () => true,
            (err: unknown) => {
              if (signal.aborted || isFerryError(err, 'FERRY_ERR_ABORTED')) throw err;
              this.fail(it, err);
              return false;
            },
          ),
        ),
      );
      going = items.filter((_, i) => free[i]);
      const savedOf = new Map(items.map((it, i) => [it, saved[i]]));
      if (going.length === 0) return;
      const others = `${going.length - 1} other file${going.length === 2 ? '' : 's'}`;
      for (const it of going) it.note = going.length > 1 ? `in one upload with ${others} (speed and time left: of all ${going.length})` : undefined;
      const { entries } = await uploadBlobBatch(
        this.api,
        going.map((it) => ({ blob: it.file!, path: it.path })),
        {
          signal,
          slots: this.slots,
          parallel: CHUNKS_IN_FLIGHT,
          noOverwrite: true,
          onSession: (id) => {
            for (const it of going) {
              it.sessionId = id;
              void pendingUploads.put({ ...savedOf.get(it)!, sessionId: id }).catch(() => undefined);
            }
          },
          // A file of a few KiB has no rate of its own: each shows its batch's, said as such.
          onProgress: (p) => {
            for (const it of going) {
              it.rate = p.rate;
              it.etaSeconds = p.etaMs === undefined ? undefined : p.etaMs / 1000;
            }
            this.changed();
          },
          onFileProgress: (i, bytes, sentBytes) => {
            const it = going[i];
            it.bytesDone = bytes;
            it.bytesSent = sentBytes;
            it.retrying = false;
            this.changed();
          },
        },
      );
      for (const [i, it] of going.entries()) {
        it.state = 'done';
        it.entry = entries[i];
        it.bytesDone = it.size;
        it.rate = 0;
        it.note = going.length > 1 ? `sent in one upload with ${others}` : undefined;
        it.sessionId = undefined;
        this.unreported.push(it);
      }
      await Promise.all(going.map((it) => pendingUploads.remove(it.id).catch(() => undefined)));
    } catch (err) {
      const running = items.filter((i) => i.state === 'running');
      for (const it of running) {
        it.sessionId = undefined;
        it.bytesDone = 0;
        it.note = undefined;
      }
      if (signal.aborted || isFerryError(err, 'FERRY_ERR_ABORTED')) {
        // One of them was paused or cancelled (or the page signed out): the others go on.
        for (const it of running) it.state = 'queued';
      } else if (running.length > 1 && !(isFerryError(err) && err.retryable)) {
        for (const it of running) {
          it.state = 'queued';
          it.alone = true;
        }
      } else {
        for (const it of running) this.fail(it, err);
      }
    } finally {
      this.lanes--;
      for (const it of items) {
        it.controller = undefined;
        it.retrying = false;
      }
      this.changed();
      this.pump();
      this.reportDone();
    }
  }

  private reportDone(): void {
    if (this.unreported.length === 0) return;
    const drained = !this.items.some((i) => i.state === 'running' || i.state === 'queued');
    if (!drained && Date.now() - this.reportedAt < DONE_REPORT_MS) return;
    const done = this.unreported;
    this.unreported = [];
    this.reportedAt = Date.now();
    this.options.onDone?.(done);
  }

  private async refuseTaken(it: UploadItem, signal: AbortSignal): Promise<void> {
    // An upload resumed after a reload has no batch: its folder alone is listed.
    it.destinations ??= new Destinations(this.api);
    const there = await it.destinations.at(it.e2e?.serverPath ?? it.path, signal);
    if (there !== undefined) throw new AlreadyExistsError(`${it.path}: already exists`, { details: { path: it.path, etag: there.hash === undefined ? null : etagOfHash(there.hash) } });
  }

  /**
   * An upload into a vault: each chunk is read, encrypted in this browser and sent once
   * (src/client/e2e/single-pass.ts); its progress is shown in plain bytes (the stored
   * file is 16 bytes a chunk and its header larger).
   */
  private async runEncrypted(it: UploadItem, e2e: NonNullable<UploadItem['e2e']>, common: Parameters<typeof uploadEncryptedBlob>[3]): ReturnType<typeof uploadEncryptedBlob> {
    it.note = 'encrypting in this browser';
    const before = it.bytesDone;
    this.changed();
    return uploadEncryptedBlob(this.api, it.file!, { keys: e2e.keys, kdf: e2e.kdf, serverPath: e2e.serverPath, name: baseName(it.path) }, {
      ...common,
      onProgress: (p) => {
        const scale = p.bytesTotal ? it.size / p.bytesTotal : 1;
        it.note = 'end-to-end encrypted';
        it.bytesDone = Math.max(before, Math.min(it.size, Math.round(p.bytesDone * scale)));
        it.bytesSent = p.bytesTransferred;
        it.rate = p.rate * scale;
        it.etaSeconds = p.etaMs === undefined ? undefined : p.etaMs / 1000;
        this.changed();
      },
    });
  }
}

/**
 * A drop box's refusals that sending the same file again cannot change (its visitor can change
 * neither the link nor its owner's space), each with what to do instead. Any other failure
 * (the network, the server, too many uploads through the link at once) keeps its Retry.
 */
const DROP_BOX_FINAL: Partial<Record<FerryErrorCode, string>> = {
  FERRY_ERR_QUOTA_EXCEEDED: "Sending it again will not help: ask the link's owner to make room, or send a smaller file.",
  FERRY_ERR_LINK_BYTES_EXCEEDED: "Sending it again will not help: ask the link's owner for room, or send a smaller file.",
  FERRY_ERR_PAYLOAD_TOO_LARGE: "Sending it again will not help: the file is larger than this server takes; ask the link's owner for another way.",
  FERRY_ERR_PATH_INVALID: 'Sending it again will not help: rename the file, then choose it again.',
  FERRY_ERR_GONE: 'This link takes no more files: ask whoever sent it to you for a new one.',
  FERRY_ERR_AUTH_INVALID: 'Open the link again (reload this page), then choose the file again.',
};

/** What to do about a drop box's refusal that a Retry cannot help, or undefined when one may. */
function dropBoxAdvice(err: unknown): { text: string; final: true } | undefined {
  if (!isFerryError(err)) return undefined;
  // Too many uploads through the owner's links at once: later, the same file goes through.
  if (err.code === 'FERRY_ERR_QUOTA_EXCEEDED' && err.details?.limit === 'sessions') return undefined;
  const text = DROP_BOX_FINAL[err.code];
  return text === undefined ? undefined : { text, final: true };
}

/**
 * What a signed-in person can do about a refusal of their own upload by their account's
 * limits (the server's message says only which limit): make room (Retry then goes through),
 * or, for a file over the largest their account may upload, ask the admin (no Retry).
 */
function ownUploadAdvice(err: unknown): { text: string; final: boolean } | undefined {
  if (isFerryError(err, 'FERRY_ERR_QUOTA_EXCEEDED') && (err.details?.limit === 'bytes' || err.details?.limit === 'files')) {
    return { text: 'Make room, then Retry: delete files you no longer need (the trash does not count against your quota), or ask your admin for a larger quota.', final: false };
  }
  if (isFerryError(err, 'FERRY_ERR_PAYLOAD_TOO_LARGE') && err.details?.max !== undefined) {
    return { text: 'Sending it again will not help: ask your admin to raise the largest file your account may upload.', final: true };
  }
  return undefined;
}

/**
 * Whether the destinations of a batch of uploads are taken, from one listing of each of their
 * folders that exists (a stat of each file was one request a file, and a browser logs each
 * 404 of a new file as an error in its console). A folder is listed only if its parent's
 * listing shows it, down from the folder the batch went into: a new folder costs nothing.
 * The answer may be old by the time a file is sent; the commit refuses a name taken since.
 */
export class Destinations {
  /** The entries of each folder asked about, by name; undefined for a folder that is not there. */
  private readonly folders = new Map<string, Promise<Map<string, Entry> | undefined>>();

  /**
   * @param into the folder the batch went into (it exists, so it is listed rather than
   *   looked for in its parent); without it, each file's folder is listed itself
   */
  constructor(
    private readonly api: FerryApi,
    private readonly into?: string,
  ) {}

  async taken(path: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.at(path, signal)) !== undefined;
  }

  /** The entry at `path` as the folder's listing showed it (its `hash`: what a Replace replaces), undefined when free. */
  async at(path: string, signal?: AbortSignal): Promise<Entry | undefined> {
    const names = await abortable(this.names(parentPath(path)), signal);
    return names?.get(baseName(path));
  }

  /** The listing is shared by the batch's files, so one file's pause does not abort it. */
  private names(dir: string): Promise<Map<string, Entry> | undefined> {
    let got = this.folders.get(dir);
    if (!got) {
      got = this.lookUp(dir);
      this.folders.set(dir, got);
      got.catch(() => this.folders.delete(dir)); // a failure is asked again on a retry
    }
    return got;
  }

  private async lookUp(dir: string): Promise<Map<string, Entry> | undefined> {
    if (this.into !== undefined && dir !== this.into && isWithin(dir, this.into)) {
      const inParent = await this.names(parentPath(dir));
      if (!inParent?.has(baseName(dir))) return undefined;
    }
    try {
      const names = new Map<string, Entry>();
      for await (const e of this.api.list(dir)) names.set(e.name, e);
      return names;
    } catch (err) {
      // Only the batch's own folder, gone since it was shown, or a folder with no batch.
      if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return undefined;
      throw err;
    }
  }
}

/** `p`, or its rejection with FERRY_ERR_ABORTED when `signal` aborts first. */
function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError('stopped'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The files of a drop (files and whole folders), with their paths relative to the drop, and
 * its empty folders (which hold no file to upload, yet are part of what was dropped).
 */
export async function droppedFiles(data: DataTransfer): Promise<{ files: Array<{ file: File; rel: string }>; emptyDirs: string[] }> {
  const out: Array<{ file: File; rel: string }> = [];
  const emptyDirs: string[] = [];
  const entries: FileSystemEntry[] = [];
  for (const item of Array.from(data.items)) {
    const e = item.kind === 'file' ? item.webkitGetAsEntry() : null;
    if (e) entries.push(e);
  }
  if (entries.length === 0) {
    for (const file of Array.from(data.files)) out.push({ file, rel: file.name });
    return { files: out, emptyDirs };
  }
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      out.push({ file, rel: prefix + entry.name });
      return;
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    let children = 0;
    // readEntries gives at most 100 entries a call: read until it gives none.
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      children += batch.length;
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
    }
    if (children === 0) emptyDirs.push(prefix + entry.name);
  };
  for (const e of entries) await walk(e, '');
  return { files: out, emptyDirs };
}
