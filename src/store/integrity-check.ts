/**
 * `ferry admin check`, after restic's: the metadata against the chunk store, and with
 * `readData` every chunk's bytes against its SHA-256 name.
 *
 *   1. every chunk a manifest names is in the chunk index        (else: missing-index)
 *   2. every indexed chunk has its object: a loose chunk's object exists with its size, a
 *      packed chunk's pack exists and is long enough            (else: missing)
 *   3. with readData, every chunk's bytes hash to its name        (else: corrupt)
 *   4. every chunk and pack object in the stores is in the index (else: counted as
 *      unreferenced, with its bytes: not damage, space garbage collection frees)
 *
 * Walks the index and the manifests a page at a time (memory stays bounded whatever the
 * store's size). Each damaged chunk is reported with files that need it (current files,
 * old versions, the trash) and, unless told otherwise, quarantined (see QuarantineStore):
 * a loose corrupt object is moved aside to `quarantine/<hash>`, and the next upload of the
 * right bytes repairs it.
 */
import { ChunkCorruptError, isCryptoDamage, NotFoundError } from '../core/errors.js';
import { toLocation, type ChunkLocation } from './meta-store.js';
import { ChunkStore, type UnreferencedObjects } from './chunk-store.js';
import { decodeChunkList } from './chunk-list-codec.js';
import { batches } from './batches.js';
import type { MetaStore } from './meta-store.js';
import type { QuarantineStore } from './quarantine-store.js';

export type ProblemKind = 'missing-index' | 'missing' | 'corrupt';

export interface CheckProblem {
  kind: ProblemKind;
  hash: string;
  message: string;
  /** Some files (server paths) that need this chunk; `version:` and `trash:` mark old ones. */
  files: string[];
  quarantined: boolean;
}

export interface CheckReport {
  manifests: number;
  chunks: number;
  /**
   * Chunk and pack objects in the stores that the index does not point at, last modified
   * more than `unreferencedAge` ago (ChunkStore.sweepUnreferenced): space nothing uses, which
   * garbage collection frees. Not damage: `ok` does not depend on it.
   */
  unreferenced: UnreferencedObjects;
  /** Chunks whose bytes were read and verified (readData). */
  chunksRead: number;
  bytesRead: number;
  problems: CheckProblem[];
  ok: boolean;
}

export interface CheckOptions {
  readData: boolean;
  /** Move damaged chunks aside and let uploads repair them (default true). */
  quarantine?: boolean;
  now: number;
  /** Objects without a row count as unreferenced when last modified more than this (ms; the server's gcGrace) ago... */
  unreferencedAge: number;
  /** ...on this clock for each store (ChunkStore.sweepUnreferenced's `storeNow`). */
  storeNow: (store: string | null) => number;
  signal?: AbortSignal;
  /** Called every page with the counts so far (the route streams them as progress). */
  progress?: (p: { chunks: number; chunksRead: number; bytesRead: number }) => void;
}

const PAGE = 500;
const FILES_PER_PROBLEM = 10;

export async function checkIntegrity(meta: MetaStore, chunks: ChunkStore, quarantine: QuarantineStore, options: CheckOptions): Promise<CheckReport> {
  const report: CheckReport = { manifests: 0, chunks: 0, unreferenced: { chunks: 0, packs: 0, bytes: 0 }, chunksRead: 0, bytesRead: 0, problems: [], ok: true };
  const problems = new Map<string, Omit<CheckProblem, 'files' | 'quarantined'>>();
  const db = meta.db;

  // 1. Manifests against the index.
  let afterManifest = '';
  for (;;) {
    const rows = await db.selectFrom('manifests').select(['hash', 'chunks']).where('hash', '>', afterManifest).orderBy('hash').limit(PAGE).execute();
    if (rows.length === 0) break;
    afterManifest = rows[rows.length - 1].hash;
    report.manifests += rows.length;
    const wanted = new Set<string>();
    for (const r of rows) for (const c of decodeChunkList(r.chunks)) wanted.add(c.hash);
    const present = await meta.presentChunks([...wanted]);
    for (const h of wanted) if (!present.has(h)) problems.set(h, { kind: 'missing-index', hash: h, message: `chunk ${h} is in a manifest but not in the chunk index` });
  }

  // 2 and 3. The index against the objects.
  const packSizes = new Map<string, number | null>();
  let afterChunk = '';
  for (;;) {
    options.signal?.throwIfAborted();
    const rows = await db
      .selectFrom('chunks as c')
      .leftJoin('packs as p', 'p.id', 'c.pack')
      .select(['c.hash', 'c.size', 'c.pack', 'c.pack_offset', 'c.store', 'p.store as pack_store', 'c.stored_size'])
      .where('c.hash', '>', afterChunk)
      .orderBy('c.hash')
      .limit(PAGE)
      .execute();
    if (rows.length === 0) break;
    afterChunk = rows[rows.length - 1].hash;
    for (const row of rows) {
      report.chunks++;
      const loc: ChunkLocation = toLocation(row);
      const problem = options.readData ? await readProblem(chunks, loc, report, options.signal) : await objectProblem(chunks, loc, packSizes);
      if (problem) problems.set(row.hash, { kind: problem.kind, hash: row.hash, message: problem.message });
    }
    options.progress?.({ chunks: report.chunks, chunksRead: report.chunksRead, bytesRead: report.bytesRead });
  }

  // 4. The objects against the index.
  report.unreferenced = await chunks.sweepUnreferenced(options.unreferencedAge, { remove: false, storeNow: options.storeNow, signal: options.signal });

  // Quarantined chunks read sound now were repaired by an upload since.
  if (options.readData) for (const q of await quarantine.list()) if (!problems.has(q.hash)) await quarantine.release(q.hash);
  if (problems.size === 0) return report;
  const files = await filesNeeding(meta, new Set(problems.keys()));
  for (const p of problems.values()) {
    let quarantined = false;
    if (options.quarantine !== false && p.kind !== 'missing-index') {
      quarantined = await quarantineChunk(meta, chunks, quarantine, p.hash, p.kind, options.now);
    }
    report.problems.push({ ...p, files: files.get(p.hash) ?? [], quarantined });
  }
  report.ok = false;
  return report;
}

async function readProblem(chunks: ChunkStore, loc: ChunkLocation, report: CheckReport, signal?: AbortSignal): Promise<{ kind: ProblemKind; message: string } | undefined> {
  try {
    const [buf] = await chunks.readMany([loc], signal);
    report.chunksRead++;
    report.bytesRead += buf.length;
    return undefined;
  } catch (err) {
    if (err instanceof ChunkCorruptError) {
      const missing = err.cause instanceof NotFoundError;
      return { kind: missing ? 'missing' : 'corrupt', message: err.message };
    }
    if (isCryptoDamage(err)) return { kind: 'corrupt', message: `${err.message} (${err.code})` };
    throw err;
  }
}

async function objectProblem(chunks: ChunkStore, loc: ChunkLocation, packSizes: Map<string, number | null>): Promise<{ kind: ProblemKind; message: string } | undefined> {
  const backend = chunks.backendOf(loc.store);
  if (loc.pack) {
    let size = packSizes.get(loc.pack);
    if (size === undefined) {
      size = await backend.stat(ChunkStore.packKey(loc.pack)).then(
        (i) => i.size ?? null,
        (err: unknown) => {
          if (err instanceof NotFoundError) return null;
          throw err;
        },
      );
      packSizes.set(loc.pack, size);
    }
    if (size === null) return { kind: 'missing', message: `chunk ${loc.hash}: its pack ${loc.pack} is missing` };
    if (size < (loc.offset ?? 0) + (loc.stored ?? loc.size)) return { kind: 'corrupt', message: `chunk ${loc.hash}: its pack ${loc.pack} is too short` };
    return undefined;
  }
  const key = ChunkStore.chunkKey(loc.hash);
  try {
    const info = await backend.stat(key);
    // A chunk stored before the object format has no recorded object size: its object is its plain bytes.
    const expected = loc.stored ?? loc.size;
    if (info.size !== undefined && info.size !== expected) return { kind: 'corrupt', message: `chunk ${loc.hash}: its object ${key} has ${info.size} bytes, not ${expected}` };
    return undefined;
  } catch (err) {
    if (err instanceof NotFoundError) return { kind: 'missing', message: `chunk ${loc.hash}: its object ${key} is missing` };
    throw err;
  }
}

/** Moves a damaged loose object aside and records the quarantine; true when recorded. */
async function quarantineChunk(meta: MetaStore, chunks: ChunkStore, quarantine: QuarantineStore, hash: string, kind: ProblemKind, now: number): Promise<boolean> {
  const loc = await meta.chunkLocation(hash);
  if (!loc) return false;
  let objectKey: string | null = null;
  if (!loc.pack && kind === 'corrupt') {
    const backend = chunks.backendOf(loc.store);
    const from = ChunkStore.chunkKey(hash);
    objectKey = `quarantine/${hash}-${now}`;
    // An encrypted object that fails to open cannot be copied through the decryption: it stays
    // where it is (as evidence) until a verified upload replaces it.
    try {
      await backend.write(objectKey, await backend.read(from), {});
      await backend.delete(from);
    } catch (err) {
      if (!isCryptoDamage(err) && !isCryptoDamage((err as Error).cause)) throw err;
      objectKey = null;
    }
  }
  await quarantine.add({ hash, reason: kind === 'missing' ? 'missing' : 'corrupt', objectKey, at: now });
  return true;
}

/** For each bad chunk, up to FILES_PER_PROBLEM files (current, versions, trash) that need it. */
async function filesNeeding(meta: MetaStore, bad: Set<string>): Promise<Map<string, string[]>> {
  const db = meta.db;
  const manifestsOf = new Map<string, string[]>();
  let after = '';
  for (;;) {
    const rows = await db.selectFrom('manifests').select(['hash', 'chunks']).where('hash', '>', after).orderBy('hash').limit(PAGE).execute();
    if (rows.length === 0) break;
    after = rows[rows.length - 1].hash;
    for (const r of rows) {
      for (const c of decodeChunkList(r.chunks)) {
        if (!bad.has(c.hash)) continue;
        const list = manifestsOf.get(c.hash) ?? [];
        if (!list.includes(r.hash)) list.push(r.hash);
        manifestsOf.set(c.hash, list);
      }
    }
  }
  // Files by manifest, a few hundred manifests to a query: no index leads with `files.manifest`
  // (every commit would write its pages, see migration 0025), so each query reads the table.
  const filesOf = new Map<string, string[]>();
  for (const part of batches([...new Set([...manifestsOf.values()].flat())])) {
    const rows = await db.selectFrom('files').select(['path', 'manifest']).where('manifest', 'in', part).execute();
    for (const r of rows) {
      const list = filesOf.get(r.manifest!) ?? [];
      if (list.length < FILES_PER_PROBLEM) list.push(r.path);
      filesOf.set(r.manifest!, list);
    }
  }
  const out = new Map<string, string[]>();
  for (const [hash, manifests] of manifestsOf) {
    const names: string[] = [];
    for (const m of manifests) {
      if (names.length >= FILES_PER_PROBLEM) break;
      names.push(...(filesOf.get(m) ?? []));
      const versions = await db.selectFrom('versions').select('path').where('manifest', '=', m).limit(FILES_PER_PROBLEM).execute();
      names.push(...versions.map((v) => `version:${v.path}`));
      const trash = await db.selectFrom('trash').select('path').where('manifest', '=', m).limit(FILES_PER_PROBLEM).execute();
      names.push(...trash.map((v) => `trash:${v.path}`));
    }
    out.set(hash, [...new Set(names)].slice(0, FILES_PER_PROBLEM));
  }
  return out;
}
