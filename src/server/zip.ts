/**
 * Zip archives of folders and selections, streamed as they are read: no temporary file of
 * the archive, memory bounded by a few chunks. Entries are stored, not deflated: the files
 * people zip for a download are mostly compressed already (photos, video, archives), and
 * deflate would cost the server a core per download for a few percent. Stored entries of
 * known sizes also let the archive's length be known before the first byte, so the
 * browser shows a real progress bar (`Content-Length`).
 *
 * yazl writes the format (ZIP64 when an entry or the archive passes 4 GiB or 65,535
 * entries, UTF-8 names); this module lists what goes in, within what the caller may read,
 * and feeds it each file's verified chunks in order. yazl is loaded by the first archive
 * (./lazy.ts: a server that never zips never loads it).
 *
 * The listing is read twice, a page at a time, and never held: once to count the entries
 * and the archive's length ({@link ZipLength}), once to feed yazl as it writes, a few
 * hundred entries ahead of it. (yazl itself keeps a small record per entry for the central
 * directory at the end: names, sizes, CRCs.) A folder that changes between the two reads
 * makes an archive of another length than announced: the download is cut, never a
 * well-formed archive of other files.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError } from '../core/errors.js';
import type { ChunkRef } from '../core/chunk-refs.js';
import type { Entry } from '../core/protocol.js';
import type { ServerContext } from './context.js';
import { can, toUserPath, type AuthContext } from './authz.js';
import { contentDisposition } from './mime.js';
import { onFirstUse } from './lazy.js';

export interface ZipItem {
  /** Server path of a file or directory. */
  server: string;
  /** Its name in the archive (directories: the prefix of their entries). */
  name: string;
}

interface ZipEntry {
  name: string;
  entry: Entry;
}

/** Most entries one archive may hold (yazl keeps a record of each until the archive's end). */
export const MAX_ZIP_ENTRIES = 200_000;

/** Entries yazl is given ahead of the one it writes: the listing is read as the archive goes. */
const ENTRIES_AHEAD = 256;

/**
 * yazl (3.3) looks for the entry to write next by scanning its list of entries from the first,
 * each time it moves on: the written ones too, so an archive of n entries cost O(n²)
 * (60,000 small files: 11 s of the server's CPU; 200,000, the limit, about 2 minutes, open
 * to anyone with a link to such a folder). The written entries are taken out of that list as
 * the archive goes ({@link WrittenEntries}) and put back, in order, before the central
 * directory is written from it: then 60,000 take 1.2 s, 200,000 take 4 s (measured 2026-12-05).
 */
const FORGET_WRITTEN_AFTER = 512;
/** yazl's `Entry.FILE_DATA_DONE`: the entry's header, bytes and data descriptor are written. */
const YAZL_FILE_DATA_DONE = 3;

interface YazlEntries {
  entries: { state: number }[];
}

/** The entries of a yazl archive already written, held aside while it writes the others. */
export class WrittenEntries {
  private readonly written: { state: number }[] = [];

  constructor(private readonly zip: YazlEntries) {}

  /** Takes the written entries at the head of yazl's list out of it, once there are enough of them. */
  forget(): void {
    const list = this.zip.entries;
    if (list.length < FORGET_WRITTEN_AFTER) return;
    let done = 0;
    while (done < list.length && list[done].state >= YAZL_FILE_DATA_DONE) done++;
    if (done < FORGET_WRITTEN_AFTER) return;
    for (const e of list.splice(0, done)) this.written.push(e);
  }

  /** Puts them back at the head of the list, as before: the central directory and its count are made from it. */
  restore(): void {
    this.zip.entries = this.written.concat(this.zip.entries);
    this.written.length = 0;
  }
}

/** What goes into an archive, listed again each time it is called (see {@link zipEntries}). */
export type ZipListing = () => AsyncIterable<ZipEntry>;

/**
 * What goes into the archive: every readable file (and directory) below the items, in path
 * order, read a page at a time each time the listing is iterated. FERRY_ERR_NOT_FOUND past
 * {@link MAX_ZIP_ENTRIES}.
 */
export function zipEntries(ctx: ServerContext, auth: AuthContext, items: readonly ZipItem[], max = MAX_ZIP_ENTRIES): ZipListing {
  return async function* listing() {
    let count = 0;
    const counted = (e: ZipEntry): ZipEntry => {
      if (++count > max) throw new NotFoundError(`more than ${max} entries: download smaller folders`);
      return e;
    };
    for (const item of items) {
      const entry = await ctx.meta.stat(item.server);
      if (entry.type === 'file') {
        if (can(auth, 'read', toUserPath(auth, entry.path))) yield counted({ name: item.name, entry });
        continue;
      }
      yield counted({ name: item.name + '/', entry });
      let cursor: string | undefined;
      do {
        const page = await ctx.meta.list(item.server, { recursive: true, limit: ctx.limits.maxListLimit, cursor });
        for (const e of page.entries) {
          const user = toUserPath(auth, e.path);
          if (!can(auth, e.type === 'file' ? 'read' : 'list', user)) continue;
          const rel = e.path.slice(item.server === '/' ? 1 : item.server.length + 1);
          yield counted({ name: `${item.name}/${rel}${e.type === 'dir' ? '/' : ''}`, entry: e });
        }
        cursor = page.next;
      } while (cursor);
    }
  };
}

const ZIP64_LIMIT = 0xfffffffe;

/**
 * The length of the archive yazl writes for a run of entries, counted without keeping them:
 * stored entries of known size (files: local header, name, bytes and a data descriptor;
 * directories: header and name), their central directory records (with the extended-
 * timestamp field yazl adds) and the end records, ZIP64 where an offset, a size or the entry
 * count asks for it. This is yazl 3.3's `calculateTotalSize` but for one condition: yazl
 * counts ZIP64 end records once the central directory reaches 64 KiB, and writes them only
 * from 4 GiB, so its own total (the `Content-Length` sent before) was 76 bytes too long for
 * folders of about 900 files and more, and such downloads hung until the connection's
 * timeout. Tests check this against the bytes yazl writes.
 */
export class ZipLength {
  private cursor = 0;
  private central = 0;
  entries = 0;

  add(name: string, size: number, dir: boolean): void {
    const nameBytes = Buffer.byteLength(name);
    const zip64 = size > ZIP64_LIMIT || this.cursor > ZIP64_LIMIT;
    this.cursor += 30 + nameBytes + size + (dir ? 0 : zip64 ? 24 : 16);
    this.central += 46 + nameBytes + 9 + (zip64 ? 28 : 0);
    this.entries++;
  }

  get total(): number {
    const zip64End = this.entries >= 0xffff || this.central >= 0xffffffff || this.cursor >= 0xffffffff;
    return this.cursor + this.central + (zip64End ? 56 + 20 : 0) + 22;
  }
}

/** An entry's member name and time as they go into the archive. */
function member(stored: string, entry: Entry): { name: string; mtime: Date } {
  return { name: safeMemberName(stored), mtime: new Date(entry.mtime) };
}

/** Counts the archive of a listing: its entries and length (FERRY_ERR_NOT_FOUND past the limit). */
export async function zipLength(listing: ZipListing): Promise<ZipLength> {
  const length = new ZipLength();
  for await (const { name, entry } of listing()) length.add(member(name, entry).name, entry.type === 'dir' ? 0 : entry.size, entry.type === 'dir');
  return length;
}

/** Files whose chunk lists one query fetches (the entries yazl has been given, at most). */
const LISTS_PER_QUERY = ENTRIES_AHEAD;
/** Small files whose bytes are read ahead of the one yazl writes, at most, and their bytes together. */
export const READ_AHEAD_FILES = 32;
const READ_AHEAD_BYTES = 1024 * 1024;
/** Files up to this size are read ahead whole (see {@link ArchiveReader}). */
const SMALL_FILE_BYTES = 128 * 1024;

interface ZipFile {
  path: string;
  /** The manifest the listing gave it, and its size. */
  hash?: string;
  size: number;
  chunks?: Promise<ChunkRef[]>;
  /** A small file's verified chunks, read ahead. */
  bytes?: Promise<Buffer[]>;
}

/**
 * The files of an archive, read in the order yazl writes them. One file after another, each
 * chunk read (a query for its place, then open, stat, read and close in the thread pool) with
 * nothing else in flight, a folder of 20,000 one-byte files took 10 s, most of it waiting; so
 * the chunk lists of the files given to yazl are fetched together, one query for up to
 * {@link LISTS_PER_QUERY} of them, and the small files next in line are read ahead while yazl
 * writes the one before (at most {@link READ_AHEAD_FILES} files and {@link READ_AHEAD_BYTES}
 * bytes held). Every chunk is verified by the chunk store as before. A file's chunk list is
 * the one of the manifest the listing found, so the archive holds what was counted; a
 * manifest gone since (the file deleted or replaced, and collected) is asked for by path,
 * which then fails or has another size, and the archive is cut as before.
 */
class ArchiveReader {
  private readonly queue: ZipFile[] = [];
  private aheadBytes = 0;

  constructor(
    private readonly ctx: ServerContext,
    private readonly signal: AbortSignal,
  ) {}

  /** A file given to yazl, to be read in turn. */
  add(path: string, entry: Entry): ZipFile {
    const file: ZipFile = { path, size: entry.size, ...(entry.hash ? { hash: entry.hash } : {}) };
    this.queue.push(file);
    return file;
  }

  /** `file`'s bytes, chunk by chunk; yazl has started it, the first of the queue. */
  async *bytes(file: ZipFile): AsyncGenerator<Buffer> {
    // yazl starts its files in the order it was given them: this one is at the head.
    const at = this.queue.indexOf(file);
    if (at >= 0) this.queue.splice(at, 1);
    const ahead = file.bytes;
    const chunks = ahead ? undefined : this.chunksOf(file);
    // yazl keeps `file` (in the function that started this) until the archive ends: it must
    // not keep the bytes read ahead, nor the chunk list, once they are written.
    file.bytes = undefined;
    file.chunks = undefined;
    if (ahead) this.aheadBytes -= file.size;
    this.readAhead();
    if (ahead) {
      for (const b of await ahead) yield b;
      return;
    }
    for (const c of await chunks!) {
      if (this.signal.aborted) return;
      yield await this.ctx.chunks.read(c.hash, this.signal);
    }
  }

  /** Starts reading the small files next in line, within the bounds. */
  private readAhead(): void {
    for (let i = 0; i < Math.min(this.queue.length, READ_AHEAD_FILES); i++) {
      const f = this.queue[i];
      if (f.bytes || f.size > SMALL_FILE_BYTES) continue;
      if (this.aheadBytes + f.size > READ_AHEAD_BYTES || this.signal.aborted) return;
      this.aheadBytes += f.size;
      f.bytes = this.chunksOf(f).then((chunks) => Promise.all(chunks.map((c) => this.ctx.chunks.read(c.hash, this.signal))));
      // Failures are met when yazl reaches the file (the archive is then cut), or never if it stopped first.
      f.bytes.catch(() => undefined);
    }
  }

  private chunksOf(file: ZipFile): Promise<ChunkRef[]> {
    if (!file.chunks) this.fetchLists(file);
    return file.chunks!;
  }

  /** The chunk lists of `first` and of the files queued after it that have none yet, in one query. */
  private fetchLists(first: ZipFile): void {
    const batch = [first, ...this.queue.filter((f) => f !== first && !f.chunks && f.hash).slice(0, LISTS_PER_QUERY - 1)];
    const hashes = batch.flatMap((f) => (f.hash ? [f.hash] : []));
    const lists = hashes.length > 0 ? this.ctx.meta.manifestChunkLists(hashes) : Promise.resolve(new Map<string, ChunkRef[]>());
    for (const f of batch) {
      f.chunks = lists.then(async (m) => (f.hash && m.get(f.hash)) || (await this.ctx.meta.fileContent(f.path)).chunks);
      f.chunks.catch(() => undefined);
    }
  }
}

/**
 * Streams the archive of a listing, whose length {@link zipLength} counted: entries are
 * given to yazl as it writes, at most {@link ENTRIES_AHEAD} files ahead. The stream fails
 * (so the download is cut) if the listing no longer makes an archive of `expected` bytes.
 * Aborting `signal` (the client went away) stops reading.
 */
export async function zipStream(ctx: ServerContext, listing: ZipListing, expected: ZipLength, signal: AbortSignal): Promise<Readable> {
  const { ZipFile } = await loadYazl();
  const zip = new ZipFile();
  const stream = zip.outputStream as unknown as Readable;
  signal.addEventListener('abort', () => stream.destroy(), { once: true });
  if (signal.aborted) stream.destroy(); // while yazl was loading
  // yazl's own refusal (a file whose bytes no longer match its listed size) and a file's
  // failed read (a damaged chunk, the client gone) end the archive: unheard, either would
  // be an uncaught 'error' event.
  const fail = (err: unknown) => stream.destroy(err instanceof Error ? err : new Error(String(err)));
  zip.on('error', fail);
  // Files yazl has been given and not yet started (it opens each file's bytes in turn).
  let waiting = 0;
  let started: (() => void) | undefined;
  stream.once('close', () => started?.());
  const written = new WrittenEntries(zip as unknown as YazlEntries);
  const reader = new ArchiveReader(ctx, signal);
  const feed = async () => {
    const length = new ZipLength();
    for await (const { name: stored, entry } of listing()) {
      if (signal.aborted || stream.destroyed) return;
      const { name, mtime } = member(stored, entry);
      length.add(name, entry.type === 'dir' ? 0 : entry.size, entry.type === 'dir');
      if (entry.type === 'dir') {
        zip.addEmptyDirectory(name, { mtime });
        continue;
      }
      const mode = 0o100000 | (entry.mode ?? 0o644);
      // yazl keeps this function with its record of the entry: it holds the file, not the listing's entry.
      const file = reader.add(entry.path, entry);
      waiting++;
      zip.addReadStreamLazy(name, { mtime, mode, compress: false, size: entry.size }, (cb) => {
        waiting--;
        started?.();
        cb(null, Readable.from(reader.bytes(file)).on('error', fail));
      });
      while (waiting > ENTRIES_AHEAD && !signal.aborted && !stream.destroyed) await new Promise<void>((resolve) => (started = resolve));
      written.forget();
    }
    if (length.entries !== expected.entries || length.total !== expected.total) {
      throw new Error(`the folder changed while it was zipped (${length.entries} entries of ${length.total} bytes, not ${expected.entries} of ${expected.total})`);
    }
    written.restore();
    zip.end();
  };
  feed().catch(fail);
  return stream;
}

/**
 * A member name an extractor cannot read as a way out of its folder. Ferry names may hold
 * `\` and `:` (only `/` separates), but Windows' extractors split on `\` and take `C:` for
 * a drive, so `..\..\x` would climb out of the target folder there (zip slip); yazl refuses
 * such names, which made every archive of a folder holding one fail (a drop-box visitor
 * could break the owner's folder downloads). Each `\` becomes `_`, as does the colon of a
 * leading drive letter; the bytes are unchanged.
 */
export function safeMemberName(name: string): string {
  return name.replace(/\\/g, '_').replace(/^([a-zA-Z]):/, '$1_');
}

const loadYazl = onFirstUse(async () => (await import('yazl')).default);

/** Archive member name of a path's last segment ('/' becomes `fallback`). */
export function memberName(path: string, fallback: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return name === '' ? fallback : name;
}

/**
 * Streams a zip of a listing as an attachment named `fileName`, with its length (counted
 * first by {@link zipLength} where the caller has not: refusals such as too many entries
 * come before the answer starts).
 */
export async function sendZip(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, listing: ZipListing, fileName: string, counted?: ZipLength): Promise<FastifyReply> {
  const length = counted ?? (await zipLength(listing));
  const stop = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) stop.abort();
  });
  const stream = await zipStream(ctx, listing, length, stop.signal);
  reply.header('content-type', 'application/zip');
  reply.header('content-disposition', contentDisposition(fileName));
  reply.header('x-content-type-options', 'nosniff');
  reply.header('cache-control', 'private, no-store');
  reply.header('content-length', String(length.total));
  reply.hijack();
  reply.raw.writeHead(200, reply.getHeaders() as OutgoingHttpHeaders);
  stream.on('error', (err) => {
    request.log.error({ err }, 'zip cut short');
    reply.raw.destroy();
  });
  stream.pipe(reply.raw);
  return reply;
}
