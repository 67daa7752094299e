/**
 * What SFTP requests do in Ferry: the user's home is the root they see, every request is
 * decided by the one authorization module (./../authz.ts) with the connection's identity,
 * and files go through the metadata store, the chunk store and ingest() like every other
 * way in.
 *
 * Paths: `.` and `..` are resolved by name against the home (OpenSSH's client sends
 * `/dir/../x` as typed), and `..` stops at the home as at a chroot's root; `~` is the home.
 * What is left must be a valid Ferry path (no NUL or control characters, UTF-8, Linux
 * length limits), or the request fails with a message saying why. Nothing outside the
 * home can be named.
 *
 * Files being written (./upload.ts) are this session's business until they are closed:
 * the session's own STAT, FSTAT and READDIR show them as they grow (sshfs creates a file
 * and asks for its attributes before it writes a byte), nobody else sees them. A partial
 * upload (an interrupted one, kept for `reput`) shows only to its owner's STAT of that very
 * path, so that `reput` learns where to continue: never in a listing, never to a read.
 */
import { statfs } from 'node:fs/promises';
import type { FastifyBaseLogger } from 'fastify';
import { AlreadyExistsError, ForbiddenError, IsADirectoryError, NotADirectoryError, NotFoundError, UnavailableError, isFerryError, type FerryError } from '../../core/errors.js';
import { normalizePath, parentPath } from '../../core/path.js';
import type { Entry } from '../../core/protocol.js';
import type { PartialUpload } from '../../store/meta-store.js';
import type { ServerContext } from '../context.js';
import type { Front } from '../audit.js';
import { authorize, authorizeMove, authorizeTree, can, toUserError, toUserPath, type AuthContext } from '../authz.js';
import { partyOf, type BodyLease } from '../chunk-bodies.js';
import { admitIngest, ingestMinimum } from '../ingest.js';
import { attrsOf, longName, nameEntry } from './attrs.js';
import { ChunkContent } from './chunk-content.js';
import { ChunkReader } from './download.js';
import { OPEN, type Attrs, type NameEntry } from './sftp-packets.js';
import type { SftpDir, SftpFile, SftpFs, StatVfs } from './sftp-session.js';
import type { SpoolDir } from './spool.js';
import type { SshLogin } from './ssh-login.js';
import { Upload, type UploadEnv } from './upload.js';

const FRONT: Front = 'sftp';
/** How often READs and WRITEs of open files check that the login still holds. */
const RECHECK_MS = 1000;
/** Directory entries read from the store per page. */
const DIR_PAGE = 500;

/** A client's path -> a normalized user path (see the module comment). */
export function sftpPath(raw: string): string {
  let p = raw;
  if (p === '~' || p.startsWith('~/')) p = p.slice(1);
  const segments: string[] = [];
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segments.pop();
    else segments.push(s);
  }
  return normalizePath('/' + segments.join('/'));
}

export interface FerryFsOptions {
  ctx: ServerContext;
  login: SshLogin;
  spool: SpoolDir;
  log: FastifyBaseLogger;
  dataDir: string;
  /** The login stopped being valid (key removed, user disabled): end the connection. */
  onLoginEnded(err: unknown): void;
  /** Fires when the connection closes: ends a wait for memory (see {@link FerryFs.admitUpload}). */
  closed?: AbortSignal;
  /** A file open for reading or writing was closed or abandoned (the server's drain ends an idle connection). */
  fileClosed?(): void;
}

export class FerryFs implements SftpFs {
  /** Files this session is writing, by server path (the newest open one per path). */
  private readonly writing = new Map<string, Upload>();
  /** Files open for writing (several may be of one path). */
  private openUploads = 0;
  /** Files open for reading. */
  private openDownloads = 0;
  private readonly ctx: ServerContext;
  private recheckedAt = -Infinity;
  /** Rooms in the ingest memory this session's files hold now. */
  private rooms = 0;

  constructor(private readonly o: FerryFsOptions) {
    this.ctx = o.ctx;
  }

  /** Whether a file is open: an upload or a download in flight, which the server's drain lets finish. */
  get transferring(): boolean {
    return this.openUploads > 0 || this.openDownloads > 0;
  }

  /** The identity now; a login that ended ends the connection. */
  private async auth(): Promise<AuthContext> {
    try {
      return await this.o.login.current();
    } catch (err) {
      this.o.onLoginEnded(err);
      throw err;
    }
  }

  /** The login check of READs and WRITEs on open files: at most once a second. */
  private async recheck(): Promise<void> {
    const now = this.ctx.now();
    if (now - this.recheckedAt < RECHECK_MS) return;
    this.recheckedAt = now;
    await this.auth();
  }

  /** Runs a request, auditing refusals by authorization (as the HTTP front does). */
  private async guard<T>(what: string, fn: (auth: AuthContext) => Promise<T>): Promise<T> {
    const auth = await this.auth();
    try {
      return await fn(auth);
    } catch (err) {
      await this.auditRefusal(auth, what, err);
      throw err;
    }
  }

  /** Authorization and quota refusals are security events (as over HTTP). */
  private async auditRefusal(auth: AuthContext, what: string, err: unknown): Promise<void> {
    if (isFerryError(err, 'FERRY_ERR_FORBIDDEN')) await this.audit(auth, 'access.denied', false, what, { reason: err.message });
    if (isFerryError(err, 'FERRY_ERR_QUOTA_EXCEEDED') || (isFerryError(err, 'FERRY_ERR_PAYLOAD_TOO_LARGE') && err.details?.max !== undefined)) {
      await this.audit(auth, 'quota.exceeded', false, what, { reason: err.message, ...err.details });
    }
  }

  /** `path`: the file a file operation acted on (`admin audit --path`), by default its target. */
  private audit(auth: AuthContext, event: string, ok: boolean, target: string | null, details?: Record<string, unknown>, path = event.startsWith('file.') ? target : null): Promise<void> {
    return this.ctx.audit.record(null, { event, ok, front: FRONT, userId: auth.userId, userName: auth.userName, tokenId: auth.tokenId, ip: this.o.login.ip, target, path, details });
  }

  onInternalError(err: unknown, what: string): void {
    this.o.log.error({ err, user: this.o.login.known?.userName, ip: this.o.login.ip }, `sftp: ${what} failed`);
  }

  userError(err: FerryError): FerryError {
    return toUserError(this.o.login.known, err);
  }

  async realpath(raw: string): Promise<string> {
    return sftpPath(raw);
  }

  async stat(raw: string): Promise<Attrs> {
    return this.guard(`STAT ${raw}`, async (auth) => {
      const path = sftpPath(raw);
      const server = authorize(auth, 'list', path);
      const open = this.writing.get(server);
      if (open) return open.stat();
      const entry = await this.ctx.meta.stat(server).catch((err: unknown) => {
        if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return undefined;
        throw err;
      });
      if (entry?.type !== 'dir') {
        const partial = await this.newerPartial(auth, server, entry);
        if (partial) return attrsOf({ type: 'file', size: partial.size, mtime: partial.updatedAt });
      }
      if (!entry) throw new NotFoundError(`${path}: no such file or directory`);
      return attrsOf(entry);
    });
  }

  /** The user's partial upload of `server`, if it is newer than the file there (an interrupted upload of it). */
  private async newerPartial(auth: AuthContext, server: string, entry: Entry | undefined): Promise<PartialUpload | undefined> {
    const partial = await this.ctx.meta.findPartial(auth.userId, server);
    if (!partial || partial.size === 0) return undefined;
    if (!entry) return partial;
    const changed = await this.ctx.meta.changedAt(server);
    return changed !== undefined && partial.createdAt > changed ? partial : undefined;
  }

  async setstat(raw: string, attrs: Attrs): Promise<void> {
    return this.guard(`SETSTAT ${raw}`, async (auth) => {
      const path = sftpPath(raw);
      const server = authorize(auth, 'write', path);
      const open = this.writing.get(server);
      if (open) return open.setstat(attrs);
      if (attrs.size !== undefined) {
        // A truncation (or extension) by path: the file is rewritten through an upload.
        const upload = await this.openForWrite(auth, path, server, OPEN.WRITE, {});
        try {
          await upload.setstat(attrs);
        } catch (err) {
          // A refused size (quota, largest file, a hole too large) leaves the file as it was.
          await upload.abandon();
          throw err;
        }
        return upload.close();
      }
      const mode = attrs.permissions === undefined ? undefined : attrs.permissions & 0o7777;
      if (attrs.mtime === undefined && mode === undefined) {
        await this.ctx.meta.stat(server); // uid/gid only: Ferry keeps no owners; the file must exist
        return;
      }
      await this.ctx.meta.setAttributes(server, { mtime: attrs.mtime === undefined ? undefined : attrs.mtime * 1000, mode });
    });
  }

  async open(raw: string, flags: number, attrs: Attrs): Promise<SftpFile> {
    return this.guard(`OPEN ${raw}`, async (auth) => {
      const path = sftpPath(raw);
      if (path === '/') throw new IsADirectoryError('/ is a directory');
      // A trailing slash names a directory, as in open(2) (EISDIR): `scp f host:newdir/`
      // into a directory that does not exist must fail, not make a file called newdir.
      if (/\/\.?$/.test(raw)) throw new IsADirectoryError(`${raw}: a name ending in "/" names a directory, not a file`);
      if ((flags & (OPEN.WRITE | OPEN.APPEND)) === 0) return this.openForRead(auth, path);
      return this.openForWrite(auth, path, authorize(auth, 'write', path), flags, attrs);
    });
  }

  private async openForRead(auth: AuthContext, path: string): Promise<SftpFile> {
    const server = authorize(auth, 'read', path);
    const { entry, chunks } = await this.ctx.meta.fileContent(server).catch((err: unknown) => {
      if (isFerryError(err, 'FERRY_ERR_IS_A_DIRECTORY')) throw new IsADirectoryError(`${path} is a directory`);
      if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) throw new NotFoundError(`${path}: no such file`);
      throw err;
    });
    const reader = new ChunkReader(this.ctx.chunks, chunks, entry.size);
    let finished = false;
    // Bytes read for copy-data: the copy is audited (as a file.copy, by its destination), not a download.
    let copied = 0;
    this.openDownloads++;
    const finish = async (complete: boolean) => {
      if (finished) return;
      finished = true;
      reader.close();
      try {
        const bytes = reader.bytesRead - copied;
        if (copied > 0 && bytes === 0) return;
        if (bytes > 0 || complete) await this.audit(auth, 'file.download', true, server, { bytes, size: entry.size, ...(complete ? {} : { interrupted: true }) });
      } finally {
        this.openDownloads--;
        this.o.fileClosed?.();
      }
    };
    return {
      origin: server,
      read: async (offset, length, forCopy) => {
        await this.recheck();
        const pieces = await reader.read(offset, length);
        if (forCopy && pieces) for (const p of pieces) copied += p.length;
        return pieces;
      },
      stat: async () => attrsOf(entry),
      setstat: (a) => this.setstat(path, a),
      close: () => finish(true),
      abandon: () => finish(false),
    };
  }

  /** OPEN for writing (and setstat of a size): an Upload over the content the file keeps. */
  /** A new name needs its directory, as in POSIX: ENOENT (NO_SUCH_FILE) when it is missing. */
  private async requireParentDir(auth: AuthContext, server: string): Promise<void> {
    const parent = await this.ctx.meta.stat(parentPath(server)).catch(() => undefined);
    if (!parent) throw new NotFoundError(`${toUserPath(auth, parentPath(server))}: no such directory`);
    if (parent.type !== 'dir') throw new NotADirectoryError(`${toUserPath(auth, parentPath(server))} is not a directory`);
  }

  private async openForWrite(auth: AuthContext, path: string, server: string, flags: number, attrs: Attrs): Promise<Upload> {
    // As the HTTP front refuses new upload sessions: the uploads open go on, no new one starts.
    if (this.ctx.draining) throw new UnavailableError('the server is shutting down: upload again in a moment');
    if (flags & OPEN.READ) authorize(auth, 'read', path);
    const entry = await this.ctx.meta.stat(server).catch((err: unknown) => {
      if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return undefined;
      throw err;
    });
    if (entry?.type === 'dir') throw new IsADirectoryError(`${path} is a directory`);
    const create = (flags & OPEN.CREAT) !== 0;
    if (entry && create && flags & OPEN.EXCL) throw new AlreadyExistsError(`${path} already exists`);
    if (!entry) {
      if (!create) throw new NotFoundError(`${path}: no such file`);
      await this.requireParentDir(auth, server);
    }
    // A partial upload of the path that this OPEN continues (`reput`) is superseded by it: not
    // one more session at the user's limit.
    const partial = flags & OPEN.TRUNC ? undefined : await this.newerPartial(auth, server, entry);
    await this.ctx.quota.checkCreate(auth, [{ path: server }], partial?.id);
    let base = ChunkContent.empty(this.ctx.chunks);
    let baseIsOwn = true;
    if (!(flags & OPEN.TRUNC)) {
      if (partial) {
        base = new ChunkContent(this.ctx.chunks, [{ chunks: partial.chunks, at: 0, from: 0, to: partial.size }]);
      } else if (entry && entry.size > 0) {
        // Keeping a file's bytes (an append, an edit in place) reads them: the new file's
        // chunks would be the uploader's to reuse, so they must be theirs to read.
        if (!can(auth, 'read', path)) throw new ForbiddenError(`changing ${path} in place (without truncating it) needs the 'read' permission; upload it anew instead`);
        const { chunks } = await this.ctx.meta.fileContent(server);
        base = new ChunkContent(this.ctx.chunks, [{ chunks, at: 0, from: 0, to: entry.size }]);
        baseIsOwn = false;
      }
    }
    const upload = new Upload(this.uploadEnv(path), {
      auth,
      path: server,
      base,
      baseIsOwn,
      ...(partial ? { partial: partial.id } : {}),
      append: (flags & OPEN.APPEND) !== 0,
      noOverwrite: create && (flags & OPEN.EXCL) !== 0,
      mustCommit: !entry || (flags & OPEN.TRUNC) !== 0,
      // As open(2): OPEN's mode applies to a file it creates; a rewritten file keeps its own
      // (sshfs sends mode 0 with every OPEN of an existing file).
      ...(entry ? (entry.mode !== undefined ? { mode: entry.mode } : {}) : attrs.permissions !== undefined ? { mode: attrs.permissions & 0o7777 } : {}),
    });
    this.writing.set(server, upload);
    this.openUploads++;
    return upload;
  }

  private uploadEnv(path: string): UploadEnv {
    return {
      ctx: this.ctx,
      auth: () => this.auth(),
      recheck: () => this.recheck(),
      refused: (err) => this.auditRefusal(this.o.login.known, `WRITE ${path}`, err),
      spool: this.o.spool,
      admit: (bytes) => this.admitUpload(bytes),
      committed: async (entry, upload) => {
        const auth = this.o.login.known;
        const from = upload.copyOf;
        // A copy within the server (OpenSSH's `cp`) is one copy, as the API's: path the source, target the copy.
        if (from !== undefined) return this.audit(auth, 'file.copy', true, entry.path, { from, to: entry.path, type: 'file' }, from);
        await this.audit(auth, 'file.upload', true, entry.path, { size: entry.size, received: upload.received, ...(upload.resumedFrom > 0 ? { resumedFrom: upload.resumedFrom } : {}) });
      },
      ended: (upload) => {
        if (this.writing.get(upload.path) === upload) this.writing.delete(upload.path);
        this.openUploads--;
        this.o.fileClosed?.();
      },
    };
  }

  /**
   * Room for a file's stream in the server's ingest memory (ServerContext.ingestMemory, the
   * budget every streamed upload takes from): `bytes`, or the most one party can ever hold
   * when less. It waits, without a time limit, until the budget has it: the WRITE waiting
   * is not answered and the session reads no more requests, so the client's SSH window
   * fills and it stops sending (SFTP has no "busy, try later"). A wait ends early only when
   * the connection closes (FERRY_ERR_ABORTED).
   *
   * Only while no other file of this session holds room: the session handles its requests
   * in order, so a file waiting would stop the writes of its session's other files, which
   * may be what holds the room it waits for. Such a file takes room only when there is some
   * now (null otherwise: it goes on unadmitted, storing one chunk at a time, as every SFTP
   * upload did before). OpenSSH's sftp and scp write one file at a time.
   */
  private async admitUpload(bytes: number): Promise<BodyLease | null> {
    const memory = this.ctx.ingestMemory;
    const want = Math.min(bytes, memory.largestWhole - ingestMinimum(this.ctx.config.chunking));
    const party = partyOf(this.o.login.known);
    const lease = this.rooms === 0 ? await admitIngest(memory, want, party, this.o.closed, Infinity) : memory.tryReserve(want, party);
    if (!lease) return null;
    this.rooms++;
    let held = true;
    return {
      kind: lease.kind,
      release: () => {
        if (!held) return;
        held = false;
        this.rooms--;
        lease.release();
      },
    };
  }

  async opendir(raw: string): Promise<SftpDir> {
    return this.guard(`OPENDIR ${raw}`, async (auth) => {
      const path = sftpPath(raw);
      const server = authorize(auth, 'list', path);
      const dir = await this.ctx.meta.stat(server);
      if (dir.type !== 'dir') throw new NotADirectoryError(`${path} is not a directory`);
      let cursor: string | undefined;
      let done = false;
      const listed = new Set<string>();
      let openShown = false;
      return {
        next: async (): Promise<NameEntry[] | null> => {
          const now = this.ctx.now();
          if (!done) {
            const page = await this.ctx.meta.list(server, { limit: DIR_PAGE, cursor });
            cursor = page.next;
            done = page.next === undefined;
            for (const e of page.entries) listed.add(e.path);
            if (page.entries.length > 0 || !done) return page.entries.map((e) => nameEntry(e, auth.userName, now));
          }
          if (openShown) return null;
          openShown = true;
          // Files this session is writing there and that are not committed yet.
          const mine: NameEntry[] = [];
          for (const [p, u] of this.writing) {
            if (parentPath(p) !== server || listed.has(p)) continue;
            const a = await u.stat();
            const name = p.slice(p.lastIndexOf('/') + 1);
            mine.push({ filename: name, longname: longName(name, a, auth.userName, now), attrs: a });
          }
          return mine.length > 0 ? mine : null;
        },
        close: async () => undefined,
      };
    });
  }

  async remove(raw: string): Promise<void> {
    return this.guard(`REMOVE ${raw}`, async (auth) => {
      const path = sftpPath(raw);
      const server = authorize(auth, 'delete', path);
      const entry = await this.ctx.meta.stat(server).catch((err: unknown) => {
        if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return undefined;
        throw err;
      });
      if (!entry) {
        // Removing an interrupted upload's partial: `rm` is how a user gives up on `reput`.
        const dropped = await this.ctx.meta.dropPartials(auth.userId, server);
        if (dropped === 0) throw new NotFoundError(`${path}: no such file`);
        await this.audit(auth, 'file.delete', true, server, { partial: true });
        return;
      }
      if (entry.type === 'dir') throw new IsADirectoryError(`${path} is a directory: remove it with rmdir`);
      const removed = await this.ctx.meta.remove(server);
      await this.ctx.meta.dropPartials(auth.userId, server);
      await this.audit(auth, 'file.delete', true, server, { recursive: false, ...removed });
    });
  }

  async mkdir(raw: string): Promise<void> {
    return this.guard(`MKDIR ${raw}`, async (auth) => {
      const path = sftpPath(raw);
      const server = authorize(auth, 'mkdir', path);
      await this.ctx.meta.mkdir(server);
      await this.audit(auth, 'file.mkdir', true, server);
    });
  }

  async rmdir(raw: string): Promise<void> {
    return this.guard(`RMDIR ${raw}`, async (auth) => {
      const path = sftpPath(raw);
      if (path === '/') throw new ForbiddenError('your root cannot be removed');
      const server = authorizeTree(auth, 'delete', path);
      const entry = await this.ctx.meta.stat(server);
      if (entry.type !== 'dir') throw new NotADirectoryError(`${path} is not a directory`);
      const removed = await this.ctx.meta.remove(server, { recursive: false });
      await this.audit(auth, 'file.delete', true, server, { recursive: false, ...removed });
    });
  }

  async rename(rawFrom: string, rawTo: string, overwrite: boolean): Promise<void> {
    return this.guard(`RENAME ${rawFrom}`, async (auth) => {
      const from = sftpPath(rawFrom);
      const to = sftpPath(rawTo);
      if (from === '/' || to === '/') throw new ForbiddenError('your root cannot be moved or replaced');
      // Moving takes the source away (delete) and writes the destination, as over the native API.
      const { src, dst } = authorizeMove(auth, from, to);
      // The native API's move makes missing parents; rename(2) and OpenSSH's server do not.
      await this.requireParentDir(auth, dst);
      const replaced = overwrite && (await this.removeEmptyDirTarget(auth, src, to, dst));
      const entry = await this.ctx.meta.move(src, dst, { overwrite });
      // A move, as the native API's and WebDAV's are (webhooks and hooks see `move`); the path is the source.
      await this.audit(auth, 'file.move', true, dst, { from: src, to: dst, type: entry.type, overwrite, ...(replaced ? { replacedDir: true } : {}) }, src);
    });
  }

  async ownerName(): Promise<string> {
    return (await this.auth()).userName;
  }

  /**
   * posix-rename of a directory onto an empty directory replaces it, as rename(2) does (the
   * store's move never replaces a directory): the empty one is removed first, with `delete`
   * there; one that is not empty stays, "directory not empty". Two steps, not one: a name
   * made in it meanwhile fails the move, and what went was empty. A move the vault guard
   * refuses is refused before anything is removed (as WebDAV's MOVE does).
   */
  private async removeEmptyDirTarget(auth: AuthContext, src: string, to: string, dst: string): Promise<boolean> {
    const [from, at] = await Promise.all([src, dst].map((p) => this.ctx.meta.stat(p).catch(() => undefined)));
    if (from?.type !== 'dir' || at?.type !== 'dir' || src === dst) return false;
    authorizeTree(auth, 'delete', to);
    await this.ctx.meta.checkMoveOrCopy('move', src, dst);
    await this.ctx.meta.remove(dst, { recursive: false });
    return true;
  }

  async statvfs(raw: string): Promise<StatVfs> {
    return this.guard(`STATVFS ${raw}`, async (auth) => {
      authorize(auth, 'list', sftpPath(raw));
      const blockSize = 4096;
      const fsStat = await statfs(this.o.dataDir);
      const diskBytes = fsStat.blocks * fsStat.bsize;
      const diskFree = fsStat.bavail * fsStat.bsize;
      const { quotaBytes, quotaFiles } = auth.limits;
      const usage = quotaBytes !== null || quotaFiles !== null ? await this.ctx.meta.usage(auth.home) : { bytes: 0, files: 0 };
      const total = quotaBytes ?? diskBytes;
      const free = quotaBytes === null ? diskFree : Math.min(diskFree, Math.max(0, quotaBytes - usage.bytes));
      return {
        blockSize,
        blocks: Math.floor(total / blockSize),
        freeBlocks: Math.floor(free / blockSize),
        files: quotaFiles ?? fsStat.files,
        freeFiles: quotaFiles === null ? fsStat.ffree : Math.max(0, quotaFiles - usage.files),
        maxNameLength: 255,
      };
    });
  }
}
