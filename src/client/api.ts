/**
 * What the transfer engine (put.ts, get.ts, transfer.ts) needs of a client: the protocol's
 * calls (docs/protocol.md) and a few settings, nothing of the transfers built on them.
 * FerryClient implements it; the engine depends on this, not on the whole client class, so
 * the two do not depend on each other and a test can hand the engine a client of its own.
 */
import type { ChunkRef } from '../core/manifest.js';
import type {
  AppendChunksResponse,
  Capabilities,
  ChunkPutResponse,
  CommitRequest,
  CommitResponse,
  CreateUploadRequest,
  Entry,
  ManifestResponse,
  PackPutResponse,
  UploadStatus,
} from '../core/protocol.js';
import type { RetryPolicy } from '../core/retry.js';

type Signal = { signal?: AbortSignal };

export interface FerryApi {
  /** Default chunk requests in flight for a transfer. */
  readonly parallel: number;
  /** The policy of the client's requests (the commit's own recovery loop follows it). */
  readonly retryPolicy: RetryPolicy;
  /** Told about things worth a warning (skipped symlinks, ...). */
  onWarning(message: string): void;

  capabilities(options?: Signal): Promise<Capabilities>;
  stat(path: string, options?: Signal): Promise<Entry>;
  statIfExists(path: string, options?: Signal): Promise<Entry | undefined>;
  list(path: string, options?: { recursive?: boolean; pageSize?: number; chunks?: boolean } & Signal): AsyncIterable<Entry>;
  mkdir(path: string, options?: { parents?: boolean } & Signal): Promise<Entry>;
  manifest(path: string, options?: Signal): Promise<ManifestResponse>;

  createUpload(body: CreateUploadRequest, options?: Signal): Promise<UploadStatus>;
  appendChunks(id: string, chunks: ChunkRef[], options?: { file?: number } & Signal): Promise<AppendChunksResponse>;
  putChunk(id: string, hash: string, data: Buffer, options?: Signal): Promise<ChunkPutResponse>;
  putPack(id: string, pack: Buffer, options?: Signal): Promise<PackPutResponse>;
  uploadStatus(id: string, options?: Signal): Promise<UploadStatus>;
  commitUpload(id: string, body?: CommitRequest, options?: Signal): Promise<CommitResponse>;

  getChunk(hash: string, size: number, options?: { path?: string } & Signal): Promise<Buffer>;
  getChunkRun(path: string, fileHash: string, offset: number, chunks: readonly ChunkRef[], onChunk: (index: number, pieces: Buffer[]) => Promise<void>, options?: Signal): Promise<void>;
  getChunkBatch(chunks: readonly ChunkRef[], options?: { paths?: readonly string[] } & Signal): Promise<Map<string, Buffer>>;
  getFileBytes(path: string, size: number, options?: Signal): Promise<Buffer>;
}
