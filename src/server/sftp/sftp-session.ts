/**
 * One SFTP session: the requests of one `sftp` subsystem channel, read in order and answered
 * through an {@link SftpFs}, which decides what each one does (Ferry's: ./ferry-fs.ts).
 *
 * Requests are handled one at a time, in the order they arrive: writes to a file are seen
 * in the order the client sent them, and while a request waits (a slow commit, a chunk read
 * from S3), no more are read off the channel, so its SSH window fills and the client stops
 * sending: backpressure, with memory bounded by the window. Answers that would exceed the
 * channel's buffer wait for it to drain before the next request is read.
 *
 * Bad input never ends the process and never reaches the file system: a request whose
 * fields do not add up is answered SSH_FX_BAD_MESSAGE; a packet length outside 1..256 KiB,
 * after which the stream cannot be followed any more, ends the channel. The client's EOF
 * ends our side too (OpenSSH's client waits for that before it exits).
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isFerryError, type FerryError } from '../../core/errors.js';
import { internalMessage, isServerFault } from '../http-errors.js';
import { OWNER_ID } from './attrs.js';
import {
  MAX_DATA,
  MAX_PACKET,
  MalformedPacket,
  PKT,
  PacketFramer,
  PacketReader,
  STATUS,
  attrsReply,
  dataReplyHeader,
  extendedReply,
  handleReply,
  nameEntryLength,
  nameReply,
  statusReply,
  u64s,
  versionReply,
  type Attrs,
  type NameEntry,
  type StatusCode,
} from './sftp-packets.js';

/** An open file. Only the methods its open mode allows are present. */
export interface SftpFile {
  /**
   * The bytes at `offset`: exactly `length` of them unless the file ends first (OpenSSH's
   * client takes a short read in the middle of a file for a reordered one and, copying
   * in place, truncates its copy there); null at or past the end. In pieces, valid until
   * the next call. `forCopy`: read by the server for copy-data, not sent to the client.
   */
  read?(offset: number, length: number, forCopy?: boolean): Promise<Buffer[] | null>;
  /**
   * `data` is a view of a buffer the session reuses once the call resolves; a file that
   * keeps it longer (queued for the chunker) calls `hold()` first and the function it gets
   * back once done with it. `copiedFrom`: the bytes are copy-data's, read from that file
   * within the server (not sent by the client).
   */
  write?(offset: number, data: Buffer, hold: () => () => void, copiedFrom?: SftpFile): Promise<void>;
  /** The server path of a file opened for reading: what a copy made from it by copy-data names as its source. */
  readonly origin?: string;
  stat(): Promise<Attrs>;
  setstat(attrs: Attrs): Promise<void>;
  /** CLOSE: a file being written is complete now. */
  close(): Promise<void>;
  /** The session ended without CLOSE (the connection dropped, the client was killed). */
  abandon(): Promise<void>;
}

export interface SftpDir {
  /** The next entries, or null when there are no more. */
  next(): Promise<NameEntry[] | null>;
  close(): Promise<void>;
}

export interface StatVfs {
  blockSize: number;
  blocks: number;
  freeBlocks: number;
  files: number;
  freeFiles: number;
  maxNameLength: number;
}

/**
 * What the requests do. Paths are as the client sent them (UTF-8 checked); throwing a
 * FerryError answers with the matching status (see {@link statusOf}).
 */
export interface SftpFs {
  realpath(path: string): Promise<string>;
  stat(path: string): Promise<Attrs>;
  setstat(path: string, attrs: Attrs): Promise<void>;
  open(path: string, flags: number, attrs: Attrs): Promise<SftpFile>;
  opendir(path: string): Promise<SftpDir>;
  remove(path: string): Promise<void>;
  mkdir(path: string, attrs: Attrs): Promise<void>;
  rmdir(path: string): Promise<void>;
  /** `overwrite`: posix-rename@openssh.com (replace the target); plain RENAME refuses an existing target. */
  rename(from: string, to: string, overwrite: boolean): Promise<void>;
  statvfs(path: string): Promise<StatVfs>;
  /** The name of the owner and group of every entry (uid and gid {@link OWNER_ID}): the user's. */
  ownerName(): Promise<string>;
  /** A request failed unexpectedly (not a FerryError): for the server's log. */
  onInternalError(err: unknown, what: string): void;
  /** A refusal as the client should read it: errors are written with server paths, the client names paths from its own root. */
  userError(err: FerryError): FerryError;
}

/** Open handles per session: OpenSSH's client keeps 64 requests in flight, so this must not be lower. */
export const MAX_HANDLES = 256;

const EXTENSIONS: [string, string][] = [
  ['posix-rename@openssh.com', '1'],
  ['statvfs@openssh.com', '2'],
  ['fstatvfs@openssh.com', '2'],
  ['limits@openssh.com', '1'],
  ['expand-path@openssh.com', '1'],
  ['lsetstat@openssh.com', '1'],
  ['users-groups-by-id@openssh.com', '1'],
  ['copy-data', '1'],
];
/** Ids one users-groups-by-id@openssh.com request may ask about (OpenSSH's `ls -l` asks for a directory's few). */
const MAX_IDS = 1024;

/** NOT_FOUND -> NO_SUCH_FILE, FORBIDDEN (and a plain write into a vault, a rename in one, or removing a key marker in use) -> PERMISSION_DENIED, UNSUPPORTED -> OP_UNSUPPORTED, other refusals -> FAILURE with the reason; the server's own failures -> undefined (the caller logs them and answers generic words). */
export function statusOf(err: unknown): { code: StatusCode; message: string } | undefined {
  if (!isFerryError(err)) return undefined;
  // The server's own failure (EXDEV, EINVAL, EACCES, a store's error): its words (absolute
  // paths, system text) go to the log only, as over HTTP.
  if (isServerFault(err.code)) return undefined;
  switch (err.code) {
    case 'FERRY_ERR_NOT_FOUND':
      return { code: STATUS.NO_SUCH_FILE, message: err.message };
    case 'FERRY_ERR_FORBIDDEN':
    case 'FERRY_ERR_E2E_PLAIN_IN_VAULT':
    case 'FERRY_ERR_E2E_NEEDS_KEY':
    case 'FERRY_ERR_E2E_MARKER_IN_USE':
      return { code: STATUS.PERMISSION_DENIED, message: err.message };
    case 'FERRY_ERR_UNSUPPORTED':
    case 'FERRY_ERR_NOT_IMPLEMENTED':
      return { code: STATUS.OP_UNSUPPORTED, message: err.message };
    default:
      return { code: STATUS.FAILURE, message: err.message };
  }
}

const noop = (): void => undefined;

class BadRequest extends Error {
  constructor(
    readonly code: StatusCode,
    message: string,
  ) {
    super(message);
  }
}

export class SftpSession {
  private readonly handles = new Map<number, { file?: SftpFile; dir?: SftpDir; pending?: NameEntry[] }>();
  private nextHandle = 1;
  private initialized = false;
  private congested = false;

  private corked = false;
  /** The buffer DATA answers are built in (see READ). */
  private replyBuffer: Buffer | undefined;

  constructor(
    private readonly channel: Duplex,
    private readonly fs: SftpFs,
    /** Sends the exit status before the channel ends (OpenSSH's scp fails without one). */
    private readonly exit: (code: number) => void = () => undefined,
    /**
     * The connection's socket. Answers sent in one tick are corked into one write(2): a
     * 255 KiB DATA answer is eight SSH packets, and each went out in a system call of its
     * own (32,768 of them per GiB downloaded). Its 'close' tells that the client is gone.
     */
    private readonly socket?: Pick<Socket, 'cork' | 'uncork' | 'once' | 'off' | 'destroyed'>,
  ) {}

  /** Serves the channel until the client ends it (or sends what cannot be followed). */
  async run(): Promise<void> {
    try {
      await this.serve();
    } catch (err) {
      if (!(err instanceof MalformedPacket)) this.fs.onInternalError(err, 'sftp session');
    } finally {
      await this.abandonAll();
      if (!this.channel.destroyed && !this.channel.writableEnded) this.exit(0);
      this.channel.end();
    }
  }

  /**
   * Reads the channel's pieces as 'data' events, pausing it while requests are handled.
   * (Not an async iterator: its read() joins every piece waiting in the stream into a new
   * buffer, a copy of the whole upload; and ending the loop destroys the stream, which for
   * ssh2 closes the channel before the exit status could go out.)
   */
  private serve(): Promise<void> {
    const framer = new PacketFramer();
    const ch = this.channel;
    return new Promise<void>((resolve, reject) => {
      let working = false;
      let ended = false;
      const finish = (err?: unknown) => {
        ch.off('data', onData);
        ch.off('end', onEnd);
        ch.off('close', onEnd);
        ch.off('error', onError);
        if (err === undefined) resolve();
        else reject(err);
      };
      const work = async () => {
        working = true;
        try {
          for (let p = framer.next(); p !== undefined; p = framer.next()) {
            let held = false;
            const recycle = p.recycle ?? noop;
            const hold = () => {
              held = true;
              return recycle;
            };
            // The client is gone: what it had sent is dropped unanswered (reading the files
            // its READs named would only fill a buffer that never drains).
            if (this.socket?.destroyed) {
              recycle();
              continue;
            }
            try {
              await this.dispatch(p.data, hold);
            } finally {
              if (!held) recycle();
            }
            if (this.congested) await this.drained();
          }
        } finally {
          working = false;
        }
      };
      const onData = (piece: Buffer) => {
        try {
          framer.push(piece);
        } catch (err) {
          return finish(err);
        }
        if (working) return;
        ch.pause();
        work().then(
          () => (ended ? finish() : ch.resume()),
          (err: unknown) => finish(err),
        );
      };
      const onEnd = () => {
        ended = true;
        if (!working) finish();
      };
      const onError = (err: unknown) => finish(err);
      ch.on('data', onData);
      ch.once('end', onEnd);
      ch.once('close', onEnd);
      ch.once('error', onError);
    });
  }

  private send(buf: Buffer): void {
    if (this.channel.writableEnded || this.channel.destroyed) return;
    if (this.socket && !this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket!.uncork();
      });
    }
    if (!this.channel.write(buf)) this.congested = true;
  }

  /**
   * Waits until the channel takes answers again. When the connection dies, ssh2 ends the
   * channel's readable side but emits its 'close' only after 'end', which a paused channel
   * (this session, while it waits here) never reaches, and no 'drain' ever comes: so the
   * socket's 'close' ends the wait too. Without it a client killed mid-download held its
   * session, and the server's shutdown that waits for sessions, for ever.
   */
  private drained(): Promise<void> {
    this.congested = false;
    const socket = this.socket;
    if (!this.channel.writableNeedDrain || this.channel.destroyed || socket?.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.channel.off('drain', done);
        this.channel.off('close', done);
        socket?.off('close', done);
        resolve();
      };
      this.channel.on('drain', done);
      this.channel.on('close', done);
      socket?.once('close', done);
    });
  }

  private async abandonAll(): Promise<void> {
    const open = [...this.handles.values()];
    this.handles.clear();
    for (const h of open) {
      try {
        if (h.file) await h.file.abandon();
        else await h.dir?.close();
      } catch (err) {
        if (!statusOf(err)) this.fs.onInternalError(err, 'closing an abandoned handle');
      }
    }
  }

  private async dispatch(packet: Buffer, hold: () => () => void): Promise<void> {
    const r = new PacketReader(packet);
    if (!this.initialized) {
      if (r.type !== PKT.INIT) throw new MalformedPacket(`expected INIT, got packet type ${r.type}`);
      const version = r.u32();
      if (version < 3) throw new MalformedPacket(`SFTP version ${version} is not supported (3 or later)`);
      this.initialized = true;
      this.send(versionReply(EXTENSIONS));
      return;
    }
    if (packet.length < 5) throw new MalformedPacket('a request without an id');
    const id = packet.readUInt32BE(1);
    try {
      await this.request(r, id, hold);
    } catch (err) {
      if (err instanceof MalformedPacket) return this.send(statusReply(id, STATUS.BAD_MESSAGE, err.message));
      if (err instanceof BadRequest) return this.send(statusReply(id, err.code, err.message));
      const s = statusOf(isFerryError(err) ? this.fs.userError(err) : err);
      if (s) return this.send(statusReply(id, s.code, s.message));
      const ref = randomBytes(8).toString('hex');
      this.fs.onInternalError(err, `SFTP request type ${r.type} (request ${ref})`);
      this.send(statusReply(id, isFerryError(err, 'FERRY_ERR_PERMISSION') ? STATUS.PERMISSION_DENIED : STATUS.FAILURE, internalMessage(isFerryError(err) ? err.code : 'FERRY_ERR_INTERNAL', ref)));
    }
  }

  private handleOf(r: PacketReader): { file?: SftpFile; dir?: SftpDir; pending?: NameEntry[]; key: number } {
    const raw = r.bytes();
    const key = raw.length === 4 ? raw.readUInt32BE(0) : -1;
    const h = this.handles.get(key);
    if (!h) throw new BadRequest(STATUS.FAILURE, 'no such handle (closed or never opened)');
    return Object.assign(h, { key });
  }

  private fileOf(r: PacketReader): SftpFile {
    const h = this.handleOf(r);
    if (!h.file) throw new BadRequest(STATUS.FAILURE, 'the handle is a directory, not a file');
    return h.file;
  }

  private newHandle(entry: { file?: SftpFile; dir?: SftpDir }): Buffer {
    const key = this.nextHandle++ >>> 0;
    this.handles.set(key, entry);
    const buf = Buffer.allocUnsafe(4);
    buf.writeUInt32BE(key, 0);
    return buf;
  }

  private checkRoom(): void {
    if (this.handles.size >= MAX_HANDLES) throw new BadRequest(STATUS.FAILURE, `too many open handles (at most ${MAX_HANDLES} per session)`);
  }

  private ok(id: number): void {
    this.send(statusReply(id, STATUS.OK));
  }

  // One case per request type; each reads exactly its fields (r.u32() etc. throw MalformedPacket).
  // eslint-disable-next-line complexity
  private async request(r: PacketReader, id: number, hold: () => () => void): Promise<void> {
    r.u32(); // the id, read above
    switch (r.type) {
      case PKT.READ: {
        const file = this.fileOf(r);
        const offset = r.u64();
        const length = Math.min(r.u32(), MAX_DATA);
        if (!file.read) throw new BadRequest(STATUS.PERMISSION_DENIED, 'the file was not opened for reading');
        const pieces = await file.read(offset, length);
        if (pieces === null) return this.send(statusReply(id, STATUS.EOF, 'end of file'));
        // One buffer per answer (a separate 13-byte header would cost an SSH packet of its
        // own), and the same one for the next answer when ssh2 copied this one into its SSH
        // packets at once (it did unless the client's window was full): a GiB of answers
        // allocated afresh was a GiB for the collector.
        const total = pieces.reduce((n, p) => n + p.length, 0);
        // The bytes start where their address agrees with the first piece's modulo 8. Chunk
        // bytes are shared memory, which V8 copies from with relaxed atomics: a word at a
        // time only then, else byte by byte (measured here, a GiB of 255 KiB answers: 1.36 s
        // of copying against 0.08 s). A second piece (an answer across a chunk boundary)
        // lands where it must, at whichever speed that gives.
        const reply = (this.replyBuffer ??= Buffer.allocUnsafeSlow(13 + MAX_DATA + 8));
        const pad = pieces.length > 0 ? (pieces[0].byteOffset - reply.byteOffset - 13) & 7 : 0;
        const out = reply.subarray(pad, pad + 13 + total);
        dataReplyHeader(id, total).copy(out, 0);
        let at = 13;
        for (const p of pieces) at += p.copy(out, at);
        this.send(out);
        if (this.channel.writableLength > 0) this.replyBuffer = undefined; // still held: not ours to reuse
        return;
      }
      case PKT.WRITE: {
        const file = this.fileOf(r);
        const offset = r.u64();
        const data = r.bytes();
        if (!file.write) throw new BadRequest(STATUS.PERMISSION_DENIED, 'the file was not opened for writing');
        await file.write(offset, data, hold);
        return this.ok(id);
      }
      case PKT.OPEN: {
        const path = r.text();
        const flags = r.u32();
        const attrs = r.attrs();
        this.checkRoom();
        const file = await this.fs.open(path, flags, attrs);
        return this.send(handleReply(id, this.newHandle({ file })));
      }
      case PKT.CLOSE: {
        const h = this.handleOf(r);
        this.handles.delete(h.key);
        if (h.file) await h.file.close();
        else await h.dir?.close();
        return this.ok(id);
      }
      case PKT.OPENDIR: {
        const path = r.text();
        this.checkRoom();
        const dir = await this.fs.opendir(path);
        return this.send(handleReply(id, this.newHandle({ dir })));
      }
      case PKT.READDIR: {
        const h = this.handleOf(r);
        if (!h.dir) throw new BadRequest(STATUS.FAILURE, 'the handle is a file, not a directory');
        if (!h.pending || h.pending.length === 0) h.pending = (await h.dir.next()) ?? [];
        if (h.pending.length === 0) return this.send(statusReply(id, STATUS.EOF, 'no more entries'));
        h.pending = this.sendNames(id, h.pending);
        return;
      }
      case PKT.STAT:
      case PKT.LSTAT:
        // Ferry stores no symbolic links: lstat is stat.
        return this.send(attrsReply(id, await this.fs.stat(r.text())));
      case PKT.FSTAT:
        return this.send(attrsReply(id, await this.fileOf(r).stat()));
      case PKT.SETSTAT: {
        const path = r.text();
        await this.fs.setstat(path, r.attrs());
        return this.ok(id);
      }
      case PKT.FSETSTAT: {
        const file = this.fileOf(r);
        await file.setstat(r.attrs());
        return this.ok(id);
      }
      case PKT.REMOVE:
        await this.fs.remove(r.text());
        return this.ok(id);
      case PKT.MKDIR: {
        const path = r.text();
        await this.fs.mkdir(path, r.attrs());
        return this.ok(id);
      }
      case PKT.RMDIR:
        await this.fs.rmdir(r.text());
        return this.ok(id);
      case PKT.REALPATH: {
        const path = await this.fs.realpath(r.text());
        return this.send(nameReply(id, [{ filename: path, longname: path, attrs: {} }]));
      }
      case PKT.RENAME: {
        const from = r.text();
        await this.fs.rename(from, r.text(), false);
        return this.ok(id);
      }
      case PKT.READLINK:
      case PKT.SYMLINK:
        throw new BadRequest(STATUS.OP_UNSUPPORTED, 'Ferry stores no symbolic links');
      case PKT.EXTENDED:
        return this.extended(r, id);
      default:
        throw new BadRequest(STATUS.OP_UNSUPPORTED, `SFTP request type ${r.type} is not supported`);
    }
  }

  /** One NAME reply of at most MAX_PACKET bytes; returns the entries that did not fit (for the next READDIR). */
  private sendNames(id: number, names: NameEntry[]): NameEntry[] {
    let bytes = 64;
    let n = 0;
    while (n < names.length && bytes + nameEntryLength(names[n]) < MAX_PACKET) bytes += nameEntryLength(names[n++]);
    if (n === 0) throw new BadRequest(STATUS.FAILURE, 'a directory entry too long to send');
    this.send(nameReply(id, names.slice(0, n)));
    return names.slice(n);
  }

  /**
   * copy-data (OpenSSH's `cp` in sftp): bytes of one open handle written into another, in
   * the server, through the same reads and writes as requests would make them (so a copy is
   * an upload like any other: cut, hashed, deduplicated, committed at CLOSE; audited as one
   * `file.copy`, not a download and an upload, as the API's copy is). A length of 0
   * copies to the end of the source (then OK at its end, as OpenSSH's server; EOF when a
   * length was given and the source ends first).
   */
  private async copyData(r: PacketReader, id: number): Promise<void> {
    const from = this.fileOf(r);
    const readAt = r.u64();
    const length = r.u64();
    const to = this.fileOf(r);
    const writeAt = r.u64();
    if (from === to) throw new BadRequest(STATUS.FAILURE, 'copy-data within one handle is not supported');
    if (!from.read) throw new BadRequest(STATUS.PERMISSION_DENIED, 'the source was not opened for reading');
    if (!to.write) throw new BadRequest(STATUS.PERMISSION_DENIED, 'the destination was not opened for writing');
    const unowned = () => () => undefined; // each piece below is a buffer of its own
    for (let done = 0; length === 0 || done < length; ) {
      const pieces = await from.read(readAt + done, length === 0 ? MAX_DATA : Math.min(MAX_DATA, length - done), true);
      if (pieces === null) {
        if (length === 0) break;
        return this.send(statusReply(id, STATUS.EOF, 'end of file'));
      }
      const data = Buffer.concat(pieces);
      if (data.length === 0) break;
      await to.write(writeAt + done, data, unowned, from);
      done += data.length;
    }
    return this.ok(id);
  }

  private async extended(r: PacketReader, id: number): Promise<void> {
    const name = r.text();
    switch (name) {
      case 'posix-rename@openssh.com': {
        const from = r.text();
        await this.fs.rename(from, r.text(), true);
        return this.ok(id);
      }
      case 'lsetstat@openssh.com': {
        const path = r.text();
        await this.fs.setstat(path, r.attrs());
        return this.ok(id);
      }
      case 'expand-path@openssh.com': {
        const path = await this.fs.realpath(r.text());
        return this.send(nameReply(id, [{ filename: path, longname: path, attrs: {} }]));
      }
      case 'limits@openssh.com':
        // max packet, max read, max write, max open handles
        return this.send(extendedReply(id, u64s([MAX_PACKET, MAX_DATA, MAX_DATA, MAX_HANDLES])));
      case 'statvfs@openssh.com':
        return this.send(extendedReply(id, statvfsPayload(await this.fs.statvfs(r.text()))));
      case 'users-groups-by-id@openssh.com': {
        // OpenSSH's `ls -l` of a glob has attributes but no long names: it asks for the names
        // of the ids it shows. Ids come packed (uint32 each), names go back as strings in the
        // same order, empty for an id nobody has.
        const uids = r.bytes();
        const gids = r.bytes();
        if (uids.length % 4 !== 0 || gids.length % 4 !== 0) throw new BadRequest(STATUS.BAD_MESSAGE, 'ids must be uint32 values');
        if (uids.length + gids.length > MAX_IDS * 4) throw new BadRequest(STATUS.FAILURE, `at most ${MAX_IDS} ids at once`);
        const owner = Buffer.from(await this.fs.ownerName());
        const namesOf = (ids: Buffer): Buffer => {
          const parts: Buffer[] = [];
          for (let at = 0; at < ids.length; at += 4) parts.push(sshString(ids.readUInt32BE(at) === OWNER_ID ? owner : Buffer.alloc(0)));
          return Buffer.concat(parts);
        };
        return this.send(extendedReply(id, Buffer.concat([sshString(namesOf(uids)), sshString(namesOf(gids))])));
      }
      case 'copy-data':
        return this.copyData(r, id);
      case 'fstatvfs@openssh.com':
        this.fileOf(r);
        return this.send(extendedReply(id, statvfsPayload(await this.fs.statvfs('/'))));
      default:
        throw new BadRequest(STATUS.OP_UNSUPPORTED, `the extension ${name} is not supported`);
    }
  }
}

/** An SSH string: uint32 length, then the bytes. */
function sshString(b: Buffer): Buffer {
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(b.length, 0);
  return Buffer.concat([len, b]);
}

/** statvfs@openssh.com's reply: bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax. */
function statvfsPayload(s: StatVfs): Buffer {
  return u64s([s.blockSize, s.blockSize, s.blocks, s.freeBlocks, s.freeBlocks, s.files, s.freeFiles, s.freeFiles, 0, 0, s.maxNameLength]);
}
