/**
 * The Ferry client SDK: talk to a Ferry server from any Node.js program.
 *
 * ```ts
 * import { FerryClient } from './client/index.js'; // from src/
 * const client = await FerryClient.fromConfig();           // or new FerryClient({ server, token })
 * await client.putFile('./big.iso', '/isos/big.iso', { parallel: 8 });
 * for await (const e of client.list('/isos')) console.log(e.name, e.size);
 * await client.close();
 * ```
 */
export { FerryClient, type FerryClientOptions } from './client.js';
export type { ClientNamespaces, GetDestination, GetOptions, PutOptions, PutSource } from './one-style.js';
// The errors the SDK throws, each code's class with them (`err instanceof NotFoundError`), so that
// a program importing only `ferry/client` can tell them apart (the module is loaded anyway).
export * from '../core/errors.js';
// The shapes the client's calls return (`Entry` of `stat` and `list`, `ShareInfo`, `TokenInfo`, ...).
export type * from '../core/protocol.js';
// Conditional writes: the ETag a file has (`ifMatch` of putFile, putStream, move, copy, remove).
export { etagOfHash } from '../core/write-conditions.js';
export { HttpClient, errorFromResponse, errorFromTransport, type HttpClientOptions, type RequestSpec, type RetryMode } from './http.js';
export { parseRate } from './bandwidth.js';
export { TokenBucket } from '../core/token-bucket.js';
export { DEFAULT_RETRY_POLICY, backoffDelay, retry, parseRetryAfter, type RetryPolicy } from '../core/retry.js';
export { configPath, readConfigFile, writeConfigFile, resolveConfig, normalizeServerUrl, type FerryConfig, type ResolvedConfig } from './config.js';
export type { TransferOptions, TransferResult } from './transfer.js';
export type { Progress, ProgressCallback } from '../core/progress.js';
export type { PutFileOptions, PutStreamOptions, PutTreeOptions } from './put.js';
export type { SavedSession, SessionMemo } from './resume-session.js';
export { FileSessionMemo } from './session-memo-file.js';
export { PART_SUFFIX, type GetFileOptions, type GetStreamOptions, type GetTreeOptions } from './get.js';
export type { GetVersionOptions } from './get-version.js';
export type { VersionEntry, VersionList, VersionPolicy } from './versions.js';
export * as account from './account.js';
export { normalizeFingerprint, tlsConnector, untrustedCertificateError, type TlsTrust } from './tls.js';
