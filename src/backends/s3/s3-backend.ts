/**
 * S3Backend: objects in an S3 bucket (AWS or any S3-compatible server) under an optional prefix.
 *
 * - Writes go through lib-storage's `Upload`: one PutObject for bodies up to `partSize`,
 *   a multipart upload past it, so bodies of unknown size stream with at most
 *   `(queueSize + 1) × partSize` bytes in memory. A failed or aborted write aborts its
 *   multipart upload: S3 never shows an unfinished object, and a PUT replaces the old object
 *   atomically, so readers see the old object or the new one.
 * - Modification times live in user metadata (`x-amz-meta-mtime`, decimal seconds, as rclone
 *   writes them); objects without it report LastModified. Listings carry no user metadata, so
 *   list entries have no mtime (stat has it).
 * - MD5 comes from the ETag only when the ETag is a plain MD5: real S3's multipart ETags
 *   (`md5-of-md5s-N`) and SSE-KMS/SSE-C ETags are not, and are never reported as hashes.
 *   `md5FromEtag: false` turns the guess off for servers whose plain-looking ETags are not MD5s.
 * - Directories are virtual: prefixes in keys. Keys that are not valid Ferry keys (`a//b`,
 *   console "folder" markers ending in `/`) are not listed.
 * - Server-side copy is CopyObject, or UploadPartCopy in `copyPartSize` parts past
 *   `copyCutoff` (CopyObject stops at 5 GiB). There is no server-side move on S3: callers
 *   fall back to copy + delete (`moveObject`).
 */
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  UploadPartCopyCommand,
  type HeadObjectCommandOutput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ConfigError, FerryError, PathInvalidError, RangeNotSatisfiableError, throwIfAborted, ValidationError, ferryErrorOf } from '../../core/errors.js';
import { normalizeKey, trimTrailingSlashes } from '../../core/path.js';
import type {
  BackendFeatures,
  Copier,
  DirEntry,
  HashName,
  Hasher,
  Identifier,
  KeyIdentity,
  ListOptions,
  MtimeSetter,
  ObjectInfo,
  OpOptions,
  RangeReader,
  ReadOptions,
  StorageBackend,
  WriteBody,
  WriteOptions,
} from '../../core/storage.js';
import { bodyChunks, checkOffset, checkSize, collectRange, discardBody, failOnAbort, hashByReading } from '../shared.js';
import { fromS3Error } from './s3-errors.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** How long an S3 request may go without a byte sent or received (the `idleTimeoutMs` option's default). */
export const S3_IDLE_TIMEOUT_MS = 60_000;
/** How long connecting to the S3 endpoint may take. */
export const S3_CONNECT_TIMEOUT_MS = 10_000;

export interface S3BackendOptions {
  bucket: string;
  /** Key prefix inside the bucket (`photos/2024`); objects live below it. */
  prefix?: string;
  /** AWS region; default `AWS_REGION`/`AWS_DEFAULT_REGION`, else us-east-1 (S3-compatible servers ignore it). */
  region?: string;
  /** Endpoint URL of an S3-compatible server (`http://127.0.0.1:9000`); default AWS's. */
  endpoint?: string;
  /** Path-style requests (`endpoint/bucket/key`), which most S3-compatible servers need. */
  forcePathStyle?: boolean;
  /** Credentials; absent: the SDK's default chain (`AWS_ACCESS_KEY_ID`..., `~/.aws`, instance roles). */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Multipart part size (default 16 MiB, at least 5 MiB): also the largest single PUT. */
  partSize?: number;
  /** Parts uploaded at once (default 4). */
  queueSize?: number;
  /** Keys asked for per ListObjectsV2 page (1..1000, default 1000). */
  maxKeys?: number;
  /** Objects larger than this are copied with UploadPartCopy (default 5 GiB, CopyObject's limit). */
  copyCutoff?: number;
  /** Part size of a multipart copy (default 1 GiB). */
  copyPartSize?: number;
  /** Report plain-MD5-looking ETags as MD5 hashes (default true). */
  md5FromEtag?: boolean;
  /** Attempts per request, the SDK's own retries included (default 3). */
  maxAttempts?: number;
  /**
   * A request that sends or receives no byte for this long fails (and is retried as the SDK
   * retries: `maxAttempts`); default {@link S3_IDLE_TIMEOUT_MS}.
   */
  idleTimeoutMs?: number;
  /** A ready client (tests, custom middleware); the connection options above are then ignored. */
  client?: S3Client;
}

const PLAIN_MD5 = /^[0-9a-f]{32}$/;

/** `"abc…"` → the MD5 it is, or undefined when it is not a plain MD5 (multipart, encrypted). */
function md5OfEtag(etag: string | undefined): string | undefined {
  const value = etag?.replace(/^W\//, '').replace(/"/g, '').toLowerCase();
  return value !== undefined && PLAIN_MD5.test(value) ? value : undefined;
}

/** rclone's `mtime` metadata: decimal seconds since the epoch. */
function formatMtime(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function parseMtime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) ? Math.round(seconds * 1000) : undefined;
}

/** `x-amz-copy-source`: `bucket/key`, URL-encoded except for the slashes (S3's rule). */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** Copies each chunk: lib-storage keeps references to chunks until a part is full. */
async function* copied(chunks: AsyncIterable<Uint8Array>, counter: { bytes: number }): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    counter.bytes += chunk.byteLength;
    yield Buffer.from(chunk);
  }
}

export class S3Backend implements StorageBackend, Copier, MtimeSetter, Hasher, RangeReader, Identifier {
  readonly name: string;
  readonly client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #queueSize: number;
  readonly #maxKeys: number;
  readonly #copyCutoff: number;
  readonly #copyPartSize: number;
  readonly #md5FromEtag: boolean;
  readonly #ownsClient: boolean;
  #closed = false;

  constructor(options: S3BackendOptions) {
    if (typeof options.bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket)) {
      throw new ConfigError(`s3: ${JSON.stringify(options.bucket)} is not a bucket name (3-63 lowercase letters, digits, '.', '-')`);
    }
    this.#bucket = options.bucket;
    this.#prefix = normalizeKey(options.prefix ?? '');
    this.name = `s3:${this.#bucket}${this.#prefix ? '/' + this.#prefix : ''}`;
    this.#partSize = options.partSize ?? 16 * MiB;
    if (!(this.#partSize >= 5 * MiB)) throw new ConfigError('s3: partSize must be at least 5 MiB (S3 refuses smaller parts)');
    this.#queueSize = Math.max(1, Math.floor(options.queueSize ?? 4));
    this.#maxKeys = Math.min(1000, Math.max(1, Math.floor(options.maxKeys ?? 1000)));
    this.#copyCutoff = Math.min(5 * GiB, options.copyCutoff ?? 5 * GiB);
    this.#copyPartSize = Math.min(5 * GiB, Math.max(5 * MiB, options.copyPartSize ?? GiB));
    this.#md5FromEtag = options.md5FromEtag ?? true;
    if (options.client) {
      this.client = options.client;
      this.#ownsClient = false;
    } else {
      const config: S3ClientConfig = {
        region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
        forcePathStyle: options.forcePathStyle ?? false,
        maxAttempts: options.maxAttempts ?? 3,
        // The SDK sets no timeout of its own: a server that accepted a request and then went
        // silent held a transfer (and the upload session behind it) forever. No byte either
        // way for this long ends the request, then the SDK retries it; a connection not made
        // within S3_CONNECT_TIMEOUT_MS the same.
        requestHandler: { socketTimeout: options.idleTimeoutMs ?? S3_IDLE_TIMEOUT_MS, connectionTimeout: S3_CONNECT_TIMEOUT_MS },
        // Checksums only where S3 requires them: S3-compatible servers often reject the
        // newer default trailers, and Ferry verifies content by its own hashes.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      };
      if (options.endpoint) config.endpoint = options.endpoint;
      if (options.accessKeyId || options.secretAccessKey) {
        if (!options.accessKeyId || !options.secretAccessKey) throw new ConfigError('s3: accessKeyId and secretAccessKey go together');
        config.credentials = { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey, sessionToken: options.sessionToken };
      }
      // The SDK prints a multi-line NodeVersionSupportWarning on its first client under Node
      // 20 (its releases after January 2027 need Node 22; Ferry pins versions that run on 20).
      // Its own switch turns off that one warning, nothing else; a value the user set stays.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      this.client = new S3Client(config);
      this.#ownsClient = true;
    }
  }

  /** Copy (server-side), range reads, MD5 from plain ETags, mtimes in metadata (ms), unknown sizes (multipart). */
  features(): BackendFeatures {
    return {
      copy: true,
      move: false,
      rangeRead: true,
      hashes: this.#md5FromEtag ? ['md5'] : [],
      mtime: true,
      setMtime: true,
      mtimePrecisionMs: 1,
      unknownSizeWrite: true,
      caseSensitive: true,
      directories: 'virtual',
      persistent: true,
      network: true,
    };
  }

  // ---- keys -----------------------------------------------------------------------------

  #objectKey(key: string): string {
    const k = normalizeKey(key);
    if (k === '') throw new PathInvalidError('the root is a directory, not an object', { details: { reason: 'root' } });
    return k;
  }

  /**
   * Identifier: the endpoint (AWS's region when none was given) and bucket, and the S3 key
   * (prefix included, `a//b` normalized): two remote names for one bucket compare equal.
   */
  async identityOf(key: string): Promise<KeyIdentity> {
    const k = normalizeKey(key);
    const config = this.client.config as { endpoint?: () => Promise<{ protocol: string; hostname: string; port?: number; path: string }>; region: () => Promise<string> };
    const e = await config.endpoint?.();
    const where = e ? `${e.protocol}//${e.hostname.toLowerCase()}${e.port ? ':' + e.port : ''}${trimTrailingSlashes(e.path)}` : `aws:${await config.region()}`;
    return { store: `s3:${where}/${this.#bucket}`, path: '/' + (k === '' ? this.#prefix : this.#s3Key(k)) };
  }

  #s3Key(k: string): string {
    return this.#prefix === '' ? k : `${this.#prefix}/${k}`;
  }

  /** An S3 key below the prefix → its Ferry key, or undefined when it is not a valid one. */
  #ferryKey(s3Key: string): string | undefined {
    const base = this.#prefix === '' ? '' : this.#prefix + '/';
    if (!s3Key.startsWith(base)) return undefined;
    const rel = s3Key.slice(base.length);
    try {
      return rel !== '' && normalizeKey(rel) === rel ? rel : undefined;
    } catch {
      return undefined;
    }
  }

  /** An object's place in error messages: the store and the key (`s3:bucket/prefix/key`), so a failure says which store failed. */
  #where(k: string): string {
    return k === '' ? this.name : `${this.name}/${k}`;
  }

  #hashes(etag: string | undefined, head?: HeadObjectCommandOutput): Partial<Record<HashName, string>> | undefined {
    if (!this.#md5FromEtag) return undefined;
    if (head && (head.ServerSideEncryption === 'aws:kms' || head.ServerSideEncryption === 'aws:kms:dsse' || head.SSECustomerAlgorithm)) return undefined;
    const md5 = md5OfEtag(etag);
    return md5 === undefined ? undefined : { md5 };
  }

  async #head(k: string, signal?: AbortSignal): Promise<HeadObjectCommandOutput> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#s3Key(k) }), { abortSignal: signal });
    } catch (err) {
      throw fromS3Error(err, this.#where(k));
    }
  }

  #infoOf(k: string, head: HeadObjectCommandOutput): ObjectInfo {
    const info: ObjectInfo = {
      key: k,
      size: head.ContentLength ?? 0,
      mtime: parseMtime(head.Metadata?.mtime) ?? head.LastModified?.getTime(),
    };
    const hashes = this.#hashes(head.ETag, head);
    if (hashes) info.hashes = hashes;
    return info;
  }

  // ---- required methods -----------------------------------------------------------------

  /** HeadObject. A "directory" (a prefix of other keys) has no object: FERRY_ERR_NOT_FOUND. */
  async stat(key: string, options: OpOptions = {}): Promise<ObjectInfo> {
    const k = this.#objectKey(key);
    throwIfAborted(options.signal);
    return this.#infoOf(k, await this.#head(k, options.signal));
  }

  /**
   * GetObject, with a `Range` header for offset/length. S3 answers 416 for a range starting
   * at the end (and for any range of an empty object), where the contract wants an empty
   * stream: a HEAD then decides between "empty" and FERRY_ERR_RANGE_NOT_SATISFIABLE.
   */
  async read(key: string, options: ReadOptions = {}): Promise<Readable> {
    const k = this.#objectKey(key);
    const { offset = 0, length, signal } = options;
    checkOffset(offset, 'offset', k);
    checkOffset(length, 'length', k);
    throwIfAborted(signal);
    if (length === 0) {
      await this.#checkOffsetAgainstSize(k, offset, signal);
      return Readable.from([]);
    }
    const range = offset > 0 || length !== undefined ? `bytes=${offset}-${length === undefined ? '' : offset + length - 1}` : undefined;
    let body: Readable;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#s3Key(k), Range: range }), { abortSignal: signal });
      body = out.Body as Readable;
    } catch (err) {
      const translated = fromS3Error(err, this.#where(k));
      if (translated instanceof RangeNotSatisfiableError) {
        await this.#checkOffsetAgainstSize(k, offset, signal);
        return Readable.from([]);
      }
      throw translated;
    }
    return failOnAbort(body, signal, k);
  }

  /** Empty when `offset` is the size, FERRY_ERR_RANGE_NOT_SATISFIABLE when past it. */
  async #checkOffsetAgainstSize(k: string, offset: number, signal?: AbortSignal): Promise<void> {
    const size = (await this.#head(k, signal)).ContentLength ?? 0;
    if (offset > size) throw new RangeNotSatisfiableError(`${k}: offset ${offset} is past the end (${size} bytes)`, { details: { offset, size } });
  }

  /**
   * lib-storage `Upload`: a single PutObject up to `partSize`, multipart past it; failures
   * and aborts abort the multipart upload, so nothing partial ever becomes an object.
   */
  async write(key: string, body: WriteBody, options: WriteOptions = {}): Promise<ObjectInfo> {
    let k: string;
    try {
      k = this.#objectKey(key);
      checkSize(options.size, k);
      if (options.mtime !== undefined && !Number.isFinite(options.mtime)) throw new ValidationError(`${k}: mtime must be a number of ms`);
    } catch (err) {
      discardBody(body);
      throw err;
    }
    const { signal } = options;
    const counter = { bytes: 0 };
    const source = Readable.from(copied(bodyChunks(body, { size: options.size, signal, what: k }), counter), { objectMode: false });
    const abort = new AbortController();
    const onAbort = () => abort.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const mtime = options.mtime === undefined ? undefined : Math.round(options.mtime);
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.#bucket,
        Key: this.#s3Key(k),
        Body: source,
        ContentType: 'application/octet-stream',
        Metadata: mtime === undefined ? undefined : { mtime: formatMtime(mtime) },
      },
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      leavePartsOnError: false,
      abortController: abort,
    });
    let etag: string | undefined;
    try {
      const result = await upload.done();
      etag = result.ETag;
    } catch (err) {
      source.destroy();
      if (signal?.aborted) throw err instanceof FerryError && err.code === 'FERRY_ERR_ABORTED' ? err : fromS3Error({ name: 'AbortError', cause: err }, this.#where(k));
      throw fromS3Error(err, this.#where(k));
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    throwIfAborted(signal);
    const info: ObjectInfo = { key: k, size: counter.bytes, mtime: mtime ?? Date.now() };
    const hashes = this.#hashes(etag);
    if (hashes) info.hashes = hashes;
    return info;
  }

  /** DeleteObject, which S3 makes idempotent. */
  async delete(key: string, options: OpOptions = {}): Promise<void> {
    const k = this.#objectKey(key);
    throwIfAborted(options.signal);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#s3Key(k) }), { abortSignal: options.signal });
    } catch (err) {
      const translated = fromS3Error(err, this.#where(k));
      if (translated.code !== 'FERRY_ERR_NOT_FOUND') throw translated;
    }
  }

  /**
   * ListObjectsV2, page by page (`maxKeys` per page, continuation tokens), with `/` as the
   * delimiter when not recursive so that common prefixes become directory entries.
   */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<DirEntry> {
    const start = normalizeKey(prefix);
    const { recursive = false, signal } = options;
    throwIfAborted(signal);
    const base = start === '' ? this.#s3Key('') : this.#s3Key(start);
    const s3Prefix = base === '' ? '' : base.endsWith('/') ? base : base + '/';
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: s3Prefix || undefined,
            Delimiter: recursive ? undefined : '/',
            ContinuationToken: token,
            MaxKeys: this.#maxKeys,
          }),
          { abortSignal: signal },
        );
      } catch (err) {
        throw fromS3Error(err, `${this.name}: list ${start || '/'}`);
      }
      for (const common of page.CommonPrefixes ?? []) {
        const key = common.Prefix === undefined ? undefined : this.#ferryKey(common.Prefix.replace(/\/$/, ''));
        if (key !== undefined) yield { key, type: 'dir' };
      }
      for (const object of page.Contents ?? []) {
        const key = object.Key === undefined ? undefined : this.#ferryKey(object.Key);
        if (key === undefined) continue;
        const entry: DirEntry = { key, type: 'file', size: object.Size ?? 0 };
        const hashes = this.#hashes(object.ETag);
        if (hashes) entry.hashes = hashes;
        yield entry;
      }
      throwIfAborted(signal);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) this.client.destroy();
  }

  // ---- abilities ------------------------------------------------------------------------

  /**
   * Server-side copy keeping the metadata (mtime): CopyObject, or a multipart copy past
   * `copyCutoff`. Onto itself: nothing to do (S3 refuses such a copy without new metadata).
   */
  async copy(from: string, to: string, options: OpOptions = {}): Promise<ObjectInfo> {
    const src = this.#objectKey(from);
    const dst = this.#objectKey(to);
    throwIfAborted(options.signal);
    const head = await this.#head(src, options.signal);
    if (src === dst) return this.#infoOf(src, head);
    const size = head.ContentLength ?? 0;
    let etag: string | undefined;
    if (size > this.#copyCutoff) {
      etag = await this.#multipartCopy(src, dst, size, head, options.signal);
    } else {
      try {
        const out = await this.client.send(
          new CopyObjectCommand({ Bucket: this.#bucket, Key: this.#s3Key(dst), CopySource: copySource(this.#bucket, this.#s3Key(src)), MetadataDirective: 'COPY' }),
          { abortSignal: options.signal },
        );
        etag = out.CopyObjectResult?.ETag;
      } catch (err) {
        throw fromS3Error(err, `${this.name}: copy ${src} to ${dst}`);
      }
    }
    const info: ObjectInfo = { key: dst, size, mtime: parseMtime(head.Metadata?.mtime) ?? head.LastModified?.getTime() };
    const hashes = this.#hashes(etag ?? head.ETag, head);
    if (hashes) info.hashes = hashes;
    return info;
  }

  /** CreateMultipartUpload + UploadPartCopy per `copyPartSize` range + Complete; aborted on any failure. */
  async #multipartCopy(src: string, dst: string, size: number, head: HeadObjectCommandOutput, signal?: AbortSignal): Promise<string | undefined> {
    const what = `copy ${src} to ${dst}`;
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.#bucket,
          Key: this.#s3Key(dst),
          ContentType: head.ContentType,
          Metadata: head.Metadata,
        }),
        { abortSignal: signal },
      );
      uploadId = created.UploadId;
      const parts: { ETag?: string; PartNumber: number }[] = [];
      const ranges: [number, number][] = [];
      for (let at = 0; at < size; at += this.#copyPartSize) ranges.push([at, Math.min(size, at + this.#copyPartSize) - 1]);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < ranges.length) {
          const index = next++;
          const [first, last] = ranges[index];
          const out = await this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.#bucket,
              Key: this.#s3Key(dst),
              UploadId: uploadId,
              PartNumber: index + 1,
              CopySource: copySource(this.#bucket, this.#s3Key(src)),
              CopySourceRange: `bytes=${first}-${last}`,
              CopySourceIfMatch: head.ETag,
            }),
            { abortSignal: signal },
          );
          parts[index] = { ETag: out.CopyPartResult?.ETag, PartNumber: index + 1 };
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.#queueSize, ranges.length) }, worker));
      const done = await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#s3Key(dst), UploadId: uploadId, MultipartUpload: { Parts: parts } }),
        { abortSignal: signal },
      );
      return done.ETag;
    } catch (err) {
      if (uploadId !== undefined) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#s3Key(dst), UploadId: uploadId })).catch(() => {});
      }
      throw fromS3Error(err, `${this.name}: ${what}`);
    }
  }

  /** Copies the object onto itself with replaced metadata (S3 objects are immutable otherwise). */
  async setMtime(key: string, mtime: number, options: OpOptions = {}): Promise<void> {
    const k = this.#objectKey(key);
    if (!Number.isFinite(mtime)) throw new ValidationError(`${k}: mtime must be a number of ms`);
    throwIfAborted(options.signal);
    const head = await this.#head(k, options.signal);
    if ((head.ContentLength ?? 0) > this.#copyCutoff) {
      throw ferryErrorOf('FERRY_ERR_UNSUPPORTED', `${k}: changing the mtime of an object past ${this.#copyCutoff} bytes would rewrite it`);
    }
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.#bucket,
          Key: this.#s3Key(k),
          CopySource: copySource(this.#bucket, this.#s3Key(k)),
          CopySourceIfMatch: head.ETag,
          MetadataDirective: 'REPLACE',
          ContentType: head.ContentType,
          Metadata: { ...head.Metadata, mtime: formatMtime(Math.round(mtime)) },
        }),
        { abortSignal: options.signal },
      );
    } catch (err) {
      throw fromS3Error(err, this.#where(k));
    }
  }

  /** MD5 from a plain ETag when there is one; anything else by reading the object. */
  async hash(key: string, algorithm: HashName, options: OpOptions = {}): Promise<string> {
    const k = this.#objectKey(key);
    if (algorithm !== 'md5' && algorithm !== 'sha1' && algorithm !== 'sha256') throw new ValidationError(`unknown hash algorithm ${String(algorithm)}`);
    if (algorithm === 'md5') {
      const known = (await this.stat(k, options)).hashes?.md5;
      if (known !== undefined) return known;
    }
    return hashByReading(this, k, algorithm, options.signal);
  }

  /** A ranged GET collected into one buffer. */
  async readRange(key: string, offset: number, length: number, options: OpOptions = {}): Promise<Buffer> {
    return collectRange(this, key, offset, length, options.signal);
  }
}
