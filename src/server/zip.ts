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
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type yazl from 'yazl';
import { NotFoundError } from '../core/errors.js';
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

/** Most entries one archive may hold (a listing of everything is held while the archive is written). */
export const MAX_ZIP_ENTRIES = 200_000;

/** What goes into the archive: every readable file (and directory) below the items, in path order. */
export async function zipEntries(ctx: ServerContext, auth: AuthContext, items: readonly ZipItem[]): Promise<ZipEntry[]> {
  const out: ZipEntry[] = [];
  for (const item of items) {
    const entry = await ctx.meta.stat(item.server);
    if (entry.type === 'file') {
      if (can(auth, 'read', toUserPath(auth, entry.path))) out.push({ name: item.name, entry });
      continue;
    }
    out.push({ name: item.name + '/', entry });
    let cursor: string | undefined;
    do {
      const page = await ctx.meta.list(item.server, { recursive: true, limit: ctx.limits.maxListLimit, cursor });
      for (const e of page.entries) {
        const user = toUserPath(auth, e.path);
        if (!can(auth, e.type === 'file' ? 'read' : 'list', user)) continue;
        const rel = e.path.slice(item.server === '/' ? 1 : item.server.length + 1);
        out.push({ name: `${item.name}/${rel}${e.type === 'dir' ? '/' : ''}`, entry: e });
      }
      if (out.length > MAX_ZIP_ENTRIES) throw new NotFoundError(`more than ${MAX_ZIP_ENTRIES} entries: download smaller folders`);
      cursor = page.next;
    } while (cursor);
  }
  return out;
}

/** A file's bytes, chunk by chunk, each verified by the chunk store; stops when `signal` aborts. */
async function* fileBytes(ctx: ServerContext, server: string, signal: AbortSignal): AsyncGenerator<Buffer> {
  const { chunks } = await ctx.meta.fileContent(server);
  for (const c of chunks) {
    if (signal.aborted) return;
    yield await ctx.chunks.read(c.hash, signal);
  }
}

/**
 * Starts an archive of `entries`. Resolves once its total length is known, with the stream
 * to send; aborting `signal` (the client went away) stops reading.
 */
export async function zipStream(ctx: ServerContext, entries: readonly ZipEntry[], signal: AbortSignal): Promise<{ stream: Readable; size: number | undefined }> {
  const { ZipFile } = await loadYazl();
  const zip = new ZipFile();
  for (const { name: stored, entry } of entries) {
    const mtime = new Date(entry.mtime);
    const name = safeMemberName(stored);
    if (entry.type === 'dir') {
      zip.addEmptyDirectory(name, { mtime });
      continue;
    }
    const mode = 0o100000 | (entry.mode ?? 0o644);
    zip.addReadStreamLazy(name, { mtime, mode, compress: false, size: entry.size }, (cb) => cb(null, Readable.from(fileBytes(ctx, entry.path, signal))));
  }
  const stream = zip.outputStream as unknown as Readable;
  signal.addEventListener('abort', () => stream.destroy(), { once: true });
  if (signal.aborted) stream.destroy(); // while yazl was loading
  // @types/yazl omits the callback's argument: the archive's length, -1 when unknown.
  const end = zip.end.bind(zip) as unknown as (options: yazl.EndOptions, cb: (total: number) => void) => void;
  return new Promise((resolve) => end({ forceZip64Format: false, comment: '' }, (total) => resolve({ stream, size: total >= 0 ? total : undefined })));
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

/** Streams a zip of `entries` as an attachment named `fileName`. */
export async function sendZip(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, entries: readonly ZipEntry[], fileName: string): Promise<FastifyReply> {
  const stop = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) stop.abort();
  });
  const { stream, size } = await zipStream(ctx, entries, stop.signal);
  reply.header('content-type', 'application/zip');
  reply.header('content-disposition', contentDisposition(fileName));
  reply.header('x-content-type-options', 'nosniff');
  reply.header('cache-control', 'private, no-store');
  if (size !== undefined) reply.header('content-length', String(size));
  reply.hijack();
  reply.raw.writeHead(200, reply.getHeaders() as OutgoingHttpHeaders);
  stream.on('error', (err) => {
    request.log.error({ err }, 'zip cut short');
    reply.raw.destroy();
  });
  stream.pipe(reply.raw);
  return reply;
}
