/**
 * FerryClient: the SDK's entry point in Node.js. One instance per server and token; it owns
 * the connection pool (undici), the capabilities cache and the bandwidth limiter. The
 * protocol's routes come from FerryApi (./api.ts, the code the browser build runs too);
 * this class adds the transfer operations between local files and the server
 * (putFile/putStream/putTree, getFile/getStream/getTree).
 *
 * ```ts
 * const client = new FerryClient({ server: 'http://127.0.0.1:7373', token });
 * await client.putFile('./big.iso', '/isos/big.iso', { parallel: 8, onProgress: console.log });
 * await client.close();
 * ```
 */
import type { Readable, Writable } from 'node:stream';
import { AuthRequiredError, ConfigError } from '../core/errors.js';
import { TokenBucket } from '../core/token-bucket.js';
import { MAX_PARALLEL, MAX_RETRIES, intBetween, numberAtLeast } from '../core/option-values.js';
import type { RetryPolicy } from '../core/retry.js';
import { FerryApi, SDK_TOKEN_SOURCE } from './api.js';
import { HttpClient, type HttpClientOptions } from './http.js';
import { nodeSha256 } from './node-hashing.js';
import { compressChunk, decompressChunk } from '../algo/zstd-chunk.js';
import { applyDelta, joinSignatures, makeDelta, signatureOf } from '../algo/chunk-delta.js';
import { resolveConfig, type FerryConfig } from './config.js';
import { putFile, putStream, putTree, type PutFileOptions, type PutStreamOptions, type PutTreeOptions } from './put.js';
import { getFile, getStream, getTree, type GetFileOptions, type GetStreamOptions, type GetTreeOptions } from './get.js';
import { getVersionFile, getVersionStream, type GetVersionOptions } from './get-version.js';
import { restoreVersion, versionList, type VersionList } from './versions.js';
import type { Entry } from '../core/protocol.js';
import type { TransferResult } from './transfer.js';
import { get as getAny, namespaces, put as putAny, type ClientNamespaces, type GetDestination, type GetOptions, type PutOptions, type PutSource } from './one-style.js';

export interface FerryClientOptions {
  /** Base URL of the server. */
  server: string;
  token?: string;
  /** Default chunks in flight for transfers, an integer from 1 to 256 (default 4). */
  parallel?: number;
  /** Bandwidth limit in bytes per second (at least 1) for all transfers of this client, up and down; none when left out. */
  bwlimit?: number;
  /**
   * Send and take chunk bodies zstd-compressed where the server can (feature `zstd`) and it
   * pays (default true). Incompressible chunks go raw either way, judged on a sample.
   */
  compress?: boolean;
  /**
   * Send an edited chunk as a delta against the chunk it replaces, and take a chunk as a
   * delta against an older local copy's, where the server can (feature `chunk-delta`;
   * default true).
   */
  deltas?: boolean;
  retry?: RetryPolicy;
  /** Time allowed until a response's headers arrive, ms, at least 1 (default 60 s). */
  headersTimeoutMs?: number;
  /**
   * Where the token came from, for error messages ("env", "file", ...); without it a refused
   * `token` is named as the one given to FerryClient.
   */
  tokenSource?: string;
  onRetry?: HttpClientOptions['onRetry'];
  /** Told about things worth a warning (skipped symlinks, ...). */
  onWarning?: (message: string) => void;
  /** PEM text of a CA to trust for https (`--ca` reads the file). */
  ca?: string;
  /** Pinned SHA-256 fingerprint of the server's certificate. */
  fingerprint?: string;
}

/** The PEM text of a `--ca` file (FERRY_ERR_CONFIG if it cannot be read or holds no certificate). */
export async function readCaFile(file: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the CA file ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`${file} holds no PEM certificate`);
  return text;
}

/**
 * Refuses numeric options a client cannot work with (FERRY_ERR_USAGE naming the option and
 * what it allows), with the checks of the CLI's flags: `parallel: 0` was quietly 1 and
 * `bwlimit: 0` (or NaN) no limit, which the caller had not asked for.
 */
function checkNumbers(options: FerryClientOptions): void {
  if (options.parallel !== undefined) intBetween('parallel', options.parallel, 1, MAX_PARALLEL);
  if (options.bwlimit !== undefined) numberAtLeast('bwlimit', options.bwlimit, 1, 'bytes per second', 'leave it out for no limit');
  if (options.headersTimeoutMs !== undefined) numberAtLeast('headersTimeoutMs', options.headersTimeoutMs, 1, 'ms');
  const retry = options.retry;
  if (retry === undefined) return;
  intBetween('retry.retries', retry.retries, 0, MAX_RETRIES);
  for (const key of ['baseMs', 'capMs', 'maxRetryAfterMs'] as const) numberAtLeast(`retry.${key}`, retry[key], 0, 'ms');
}

export class FerryClient extends FerryApi<Buffer> {
  declare readonly http: HttpClient;
  readonly server: string;
  readonly limiter?: TokenBucket;

  constructor(options: FerryClientOptions) {
    if (!options.server) throw new ConfigError('no server given');
    checkNumbers(options);
    const parallel = options.parallel ?? 4;
    const limiter = options.bwlimit ? new TokenBucket(options.bwlimit) : undefined;
    const http = new HttpClient({
      server: options.server,
      token: options.token,
      // A few more connections than chunks in flight: manifest appends and commits must not
      // queue behind chunk bodies.
      connections: parallel + 4,
      headersTimeoutMs: options.headersTimeoutMs,
      retry: options.retry,
      limiter,
      onRetry: options.onRetry,
      tls: { ca: options.ca, fingerprint: options.fingerprint },
    });
    super({ http, sha: nodeSha256, parallel, tokenSource: options.tokenSource ?? (options.token === undefined ? undefined : SDK_TOKEN_SOURCE), onWarning: options.onWarning });
    this.server = options.server;
    this.limiter = limiter;
    if (options.compress !== false) this.zstd = { compress: compressChunk, decompress: (frame, size, into) => decompressChunk(frame, size, into as Buffer | undefined) };
    if (options.deltas !== false) this.deltas = { make: (t, sigs, max) => makeDelta(t, joinSignatures(sigs), max).delta, signature: signatureOf, apply: applyDelta };
  }

  /**
   * A client from the configuration (flags > FERRY_SERVER/FERRY_TOKEN > config file).
   * Fails with FERRY_ERR_CONFIG when no server is known and FERRY_ERR_AUTH_REQUIRED when
   * no token is (unless `requireToken` is false).
   */
  static async fromConfig(overrides: FerryConfig & Omit<FerryClientOptions, 'server' | 'token'> & { requireToken?: boolean } = {}): Promise<FerryClient> {
    const cfg = await resolveConfig({ server: overrides.server, token: overrides.token, ca: overrides.ca, fingerprint: overrides.fingerprint });
    if (!cfg.server) throw new ConfigError(`no server configured: run \`ferry login URL -u NAME\` (or \`--token T\`), set FERRY_SERVER or pass \`server\` (config file: ${cfg.file})`);
    if (!cfg.token && overrides.requireToken !== false) {
      if (cfg.withheldFor) {
        throw new AuthRequiredError(
          `no token for ${cfg.server}: the saved token belongs to ${cfg.withheldFor} and is only ever sent there; run \`ferry login ${cfg.server} --name NAME\` (then use NAME:/path) or pass \`token\``,
        );
      }
      // The server is known (saved, FERRY_SERVER, --server): the fix names it, as typed once before.
      throw new AuthRequiredError(`no token configured for ${cfg.server}: run \`ferry login ${cfg.server} -u NAME\` (or \`--token T\`), set FERRY_TOKEN or pass \`token\``);
    }
    const ca = cfg.ca === undefined ? undefined : await readCaFile(cfg.ca);
    // A token the caller names the source of (one that came with `NAME:/path`) is explained as that.
    const tokenSource = overrides.tokenSource !== undefined && cfg.sources.token === 'option' ? overrides.tokenSource : cfg.sources.token;
    return new FerryClient({ ...overrides, server: cfg.server, token: cfg.token, tokenSource, ca, fingerprint: cfg.fingerprint });
  }

  protected override received(bytes: number, signal?: AbortSignal): void | Promise<void> {
    if (this.limiter) return this.limiter.take(bytes, signal);
  }

  // ---- transfers -----------------------------------------------------------------------

  /** Uploads one local file to `remotePath`. See {@link putFile}. */
  putFile(localPath: string, remotePath: string, options: PutFileOptions = {}): Promise<TransferResult> {
    return this.call(() => putFile(this, localPath, remotePath, options));
  }

  /** Uploads a byte stream of unknown size (stdin) to `remotePath`. See {@link putStream}. */
  putStream(source: AsyncIterable<Uint8Array>, remotePath: string, options: PutStreamOptions = {}): Promise<TransferResult> {
    return this.call(() => putStream(this, source, remotePath, options));
  }

  /** Uploads the contents of a local directory into `remoteDir`. See {@link putTree}. */
  putTree(localDir: string, remoteDir: string, options: PutTreeOptions = {}): Promise<TransferResult> {
    return this.call(() => putTree(this, localDir, remoteDir, options));
  }

  /** Downloads one file to `localPath`, reusing what is already there. See {@link getFile}. */
  getFile(remotePath: string, localPath: string, options: GetFileOptions = {}): Promise<TransferResult> {
    return this.call(() => getFile(this, remotePath, localPath, options));
  }

  /** Writes a file's bytes, in order and verified, to a writable stream (stdout). */
  getStream(remotePath: string, out: Writable, options: GetStreamOptions = {}): Promise<TransferResult> {
    return this.call(() => getStream(this, remotePath, out, options));
  }

  /**
   * Writes old version `id` of a file (an id from `ferry versions`) to a writable stream,
   * without restoring it; count and hash are checked at the end. See {@link getVersionStream}.
   */
  getVersionStream(remotePath: string, id: number, out: Writable, options: GetVersionOptions = {}): Promise<TransferResult> {
    return this.call(() => getVersionStream(this, remotePath, id, out, options));
  }

  /** Downloads old version `id` of a file to `localPath` (through a part file). See {@link getVersionFile}. */
  getVersionFile(remotePath: string, id: number, localPath: string, options: GetVersionOptions = {}): Promise<TransferResult> {
    return this.call(() => getVersionFile(this, remotePath, id, localPath, options));
  }

  /**
   * The old versions the server keeps of a file, newest first (`ferry versions`), and the
   * retention rule of its path: `policy.enabled` false means versioning is off there, so an
   * empty list will stay empty; true with an empty list means none yet (kept from the next
   * overwrite on). FERRY_ERR_NOT_FOUND when there is neither such a file nor a version of it.
   */
  listVersions(remotePath: string, options: { signal?: AbortSignal } = {}): Promise<VersionList> {
    return this.call(() => versionList(this, remotePath, options));
  }

  /** Makes an old version current again (by id, or the one current at a time in ms); the content it replaces becomes a version in turn. */
  restoreVersion(remotePath: string, which: { version: number } | { at: number }): Promise<Entry> {
    return this.call(() => restoreVersion(this, remotePath, which));
  }

  /** Downloads the contents of a remote directory into `localDir`. See {@link getTree}. */
  getTree(remoteDir: string, localDir: string, options: GetTreeOptions = {}): Promise<TransferResult> {
    return this.call(() => getTree(this, remoteDir, localDir, options));
  }

  // ---- one style: put/get of anything, the account routes by subject ------------------

  /**
   * Uploads `source` to `remotePath`: a local file path (or `file:` URL), bytes, `{ data }`
   * (text or bytes), a Node or Web stream or any async iterable of bytes. See ./one-style.ts.
   */
  put(source: PutSource, remotePath: string, options: PutOptions = {}): Promise<TransferResult> {
    return putAny(this, source, remotePath, options);
  }

  /** The file's bytes as a Node Readable (verified as they come); `get(path, undefined, { signal })` to abort it. */
  get(remotePath: string, dest?: undefined, options?: GetOptions): Promise<Readable>;
  /** Downloads to a local path (or `file:` URL), a Node Writable or a Web WritableStream. */
  get(remotePath: string, dest: GetDestination, options?: GetOptions): Promise<TransferResult>;
  get(remotePath: string, dest?: GetDestination, options: GetOptions = {}): Promise<Readable | TransferResult> {
    return getAny(this, remotePath, dest, options);
  }

  #ns?: ClientNamespaces;
  /** `client.tokens.list()`, `.create({...})`, `.revoke(id)`. */
  get tokens(): ClientNamespaces['tokens'] {
    return (this.#ns ??= namespaces(this)).tokens;
  }
  /** `client.shares.create({path, ...})`, `.list()`, `.revoke(id)`. */
  get shares(): ClientNamespaces['shares'] {
    return (this.#ns ??= namespaces(this)).shares;
  }
  /** `client.users.list()`, `.add({...})`, `.update(name, {...})`, ... (admin). */
  get users(): ClientNamespaces['users'] {
    return (this.#ns ??= namespaces(this)).users;
  }
  /** `client.account.me()`, `.changePassword(current, next)`. */
  get account(): ClientNamespaces['account'] {
    return (this.#ns ??= namespaces(this)).account;
  }
  /** `client.admin.stats()`, `.audit({...})`, `.uploads()`, ... (admin). */
  get admin(): ClientNamespaces['admin'] {
    return (this.#ns ??= namespaces(this)).admin;
  }

}

