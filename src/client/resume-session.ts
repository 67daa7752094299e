/**
 * Upload sessions kept across runs. A run killed mid-way (kill -9, Ctrl-C, a lost network)
 * leaves its session open on the server until the upload TTL (a day by default), and that
 * session counts against the user's live sessions (`--max-sessions`): a second session for
 * the same file, run again, was refused at the limit, and the first one's chunks could not
 * be collected meanwhile. So a caller that can keep state (the CLI's `put`) saves the
 * session's id under a key naming the upload (server, local file, remote path), and the run
 * after continues that session: it sends only what the session still lacks, and commits it.
 * `put -r` keeps each batch session of small files so too (under its first file's key).
 *
 * The server decides whose a session is: the saved id is only asked about with the caller's
 * own credentials, and a session the server does not give them (another user's, one a
 * narrower token may not reach, one gone) is forgotten, never used. The browser does not
 * keep sessions across reloads this way (it aborts the old one: web/src/uploads.ts).
 */
import { isFerryError } from '../core/errors.js';
import type { UploadStatus } from '../core/protocol.js';
import type { FerryApi } from './api.js';

/** What is kept for one upload between runs. */
export interface SavedSession {
  id: string;
  /** What made the upload the one it was (the local file's identity, its options, the chunking): another stamp is another upload. */
  stamp: string;
  /** The file hash a session made with its whole manifest was created with (such a session's commit does not check it again). */
  hash?: string;
}

/** Where sessions are kept between runs. A memo only saves work: its callers ignore its failures. */
export interface SessionMemo {
  /** The session saved under `key`, or undefined. */
  recall(key: string): Promise<SavedSession | undefined>;
  /** Saves `saved` under `key`, replacing what was there. */
  remember(key: string, saved: SavedSession): Promise<void>;
  /** Removes what is saved under `key` (nothing saved is not an error). */
  forget(key: string): Promise<void>;
}

/** How one upload keeps its session: where, under which key, and the stamp of this run's upload. */
export interface ResumeSpec {
  memo: SessionMemo;
  key: string;
  stamp: string;
}

/** A session an earlier run left, as the server gives it now. */
export type PriorSession = UploadStatus & { hash?: string };

/** One upload's saved session, as the upload flow uses it. `stamp`: the spec's, with what the flow adds (the chunking). */
export class SessionKeeper {
  /** The last {@link remember} under way: {@link forget} waits for it, so a late write cannot bring back what was forgotten. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: Pick<FerryApi<Uint8Array>, 'uploadStatus' | 'abortUpload'>,
    private readonly spec: ResumeSpec,
    private readonly stamp: string,
  ) {}

  /**
   * The open session an earlier run of this same upload left, or undefined. One the server
   * does not give the caller (unknown, expired, another user's or beyond this token: a 4xx)
   * is forgotten; one saved for another version of the upload (the file or its options
   * changed) is aborted, as is one this client cannot continue (another number of files than
   * `files`, or an older server that does not say how many manifest entries it has).
   */
  async recall(signal: AbortSignal, files = 1): Promise<PriorSession | undefined> {
    const saved = await this.spec.memo.recall(this.spec.key).catch(() => undefined);
    if (!saved) return undefined;
    if (saved.stamp !== this.stamp) return void (await this.giveUp(saved.id));
    let status: UploadStatus;
    try {
      status = await this.client.uploadStatus(saved.id, { signal });
    } catch (err) {
      if (!isFerryError(err) || err.retryable) throw err;
      return void (await this.forget());
    }
    if (status.files !== files || (!status.sealed && status.entries?.length !== files)) return void (await this.giveUp(saved.id));
    return saved.hash === undefined ? status : { ...status, hash: saved.hash };
  }

  /**
   * Saves session `id` of this upload for the next run. Never rejects. The upload flow does
   * not wait for it before sending: the write (a file written, fsynced and renamed, ~10 calls
   * through libuv's pool) took 220–270 ms of a 256 MiB put's start while the chunkers' first
   * records waited (benchmarks/results/issue-15-speed.md, branch speed16). A run killed
   * before it lands starts a new session, as one killed during the write did; the chunks it
   * sent count all the same. A failed attempt waits for it ({@link saved}) before it throws,
   * and {@link forget} does.
   */
  remember(id: string, hash?: string): Promise<void> {
    const write = this.writing.then(() => this.spec.memo.remember(this.spec.key, { id, stamp: this.stamp, ...(hash === undefined ? {} : { hash }) })).catch(() => undefined);
    this.writing = write;
    return write;
  }

  /** Resolves once every {@link remember} begun so far has ended (written or failed). */
  saved(): Promise<void> {
    return this.writing;
  }

  async forget(): Promise<void> {
    await this.writing;
    await this.spec.memo.forget(this.spec.key).catch(() => undefined);
  }

  /** Aborts session `id` (best effort, never with the operation's signal) and forgets it. */
  async giveUp(id: string): Promise<void> {
    await this.client.abortUpload(id, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
    await this.forget();
  }
}
