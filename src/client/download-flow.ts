/**
 * Manifest-based downloads: the chunks a client lacks, fetched in runs of neighbours (one
 * ranged `GET /files` per run, several runs at once), each chunk verified before it is
 * handed over. Shared by Node.js (./get.ts writes them into a part file) and browsers (the
 * web app's previews): it imports nothing of Node.
 *
 * One request per chunk cost the server more than reading, verifying and sending the chunk;
 * one request for the whole file cannot use several connections. Runs are the middle way.
 */
import { chunkOffsets, type ChunkRef } from '../core/chunk-refs.js';
import type { ManifestResponse } from '../core/protocol.js';
import { forEachConcurrent } from './concurrency.js';
import type { TransferContext } from './transfer.js';

/** Smallest and largest run of chunks asked for in one request (see {@link runBytes}). */
const RUN_MIN_BYTES = 8 * 1024 * 1024;
const RUN_MAX_BYTES = 256 * 1024 * 1024;

/**
 * How many bytes of chunks one ranged request asks for: a quarter of each connection's share,
 * so that `parallel` requests stay busy to the end and a slow one is not left alone at the
 * end; at least a few MiB (the cost of a request vanishes), at most a few hundred (each
 * request makes the server read the file's manifest).
 */
export function runBytes(total: number, parallel: number): number {
  return Math.min(RUN_MAX_BYTES, Math.max(RUN_MIN_BYTES, Math.ceil(total / (4 * parallel))));
}

/**
 * Groups chunk indexes (ascending) into runs of neighbours (`i`, `i+1`, ...) of at most
 * `maxBytes` (a single larger chunk makes a run of its own).
 */
export function chunkRuns(indexes: readonly number[], chunks: readonly ChunkRef[], maxBytes: number): number[][] {
  const runs: number[][] = [];
  let run: number[] = [];
  let bytes = 0;
  for (const i of indexes) {
    if (run.length > 0 && (run[run.length - 1] !== i - 1 || bytes + chunks[i].size > maxBytes)) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(i);
    bytes += chunks[i].size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/**
 * Fetches every chunk of `manifest` whose index is not marked in `have`: each distinct chunk
 * once (where it first occurs), in runs, `ctx.parallel` requests at once. `write` receives a
 * verified chunk's pieces and every offset the chunk occupies in the file; the pieces are
 * the caller's to keep, or with `lent` only until the promise `write` returns settles (their
 * buffers are then reused). Counts the bytes in `ctx.result` and the progress.
 */
export async function fetchMissingChunks<B extends Uint8Array>(
  ctx: TransferContext<B>,
  manifest: ManifestResponse,
  have: Uint8Array,
  write: (pieces: B[], offsets: readonly number[], size: number) => Promise<void>,
  onDone: (bytes: number) => void,
  options: { lent?: boolean } = {},
): Promise<void> {
  const { client, signal } = ctx;
  const chunks = manifest.chunks;
  const offsets = chunkOffsets(chunks);
  const wanted = new Map<string, number[]>();
  const fetchAt: number[] = [];
  for (let i = 0; i < chunks.length; i++) {
    if (have[i]) continue;
    const list = wanted.get(chunks[i].hash);
    if (list) list.push(i);
    else {
      wanted.set(chunks[i].hash, [i]);
      fetchAt.push(i);
    }
  }
  let wantedBytes = 0;
  for (const i of fetchAt) wantedBytes += chunks[i].size;
  const runs = chunkRuns(fetchAt, chunks, runBytes(wantedBytes, ctx.parallel));
  await forEachConcurrent(
    runs,
    ctx.parallel,
    async (run) => {
      const onChunk = async (k: number, pieces: B[]): Promise<void> => {
        const { hash, size } = chunks[run[k]];
        ctx.result.bytesTransferred += size;
        ctx.result.chunksTransferred += 1;
        ctx.progress.transferred(size);
        const at = wanted.get(hash)!.map((i) => offsets[i]);
        await write(pieces, at, size);
        onDone(size * at.length);
      };
      const refs = run.map((i) => chunks[i]);
      await ctx.slots.run(() => client.getChunkRun(manifest.path, manifest.hash, offsets[run[0]], refs, onChunk, { signal, lent: options.lent, onWire: ctx.onWire }), signal);
    },
    signal,
  );
}
