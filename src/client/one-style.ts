/**
 * The SDK's one style (issue 12): `client.put(source, path)` and `client.get(path, dest?)`
 * take whatever a caller holds, and the account routes as namespaces of the client
 * (`client.shares.create(...)`, `client.tokens.list()`, `client.users.add(...)`,
 * `client.admin.stats()`), instead of a free function per route taking the client first
 * (those stay in ./account-api.ts: the CLI and the web app use them).
 *
 * Sources of `put`: a string (a local file path; its mtime and mode are kept) or a `file:`
 * URL; bytes (Buffer, Uint8Array); `{ data }` (a string's UTF-8 bytes, or bytes); a Node
 * readable stream, a Web ReadableStream or any async iterable of bytes (text pieces as UTF-8; streamed, size
 * unknown up front). Destinations of `get`: a local path or `file:` URL (resumed, verified,
 * moved into place atomically), a Node Writable or a Web WritableStream; or none, and `get`
 * returns a Node Readable of the file's bytes (verified as they come; a stream that fails
 * verification is destroyed with the error).
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../core/errors.js';
import { failOnAbort } from '../backends/shared.js';
import type { FerryApi } from './api.js';
import * as account from './account-api.js';
// Named here so that the declarations emitted for `namespaces` refer to the protocol's types
// through this module, not through the package root (which would drag every entry's types,
// the server's included, into a `ferry/client` user's compile).
import type * as protocol from '../core/protocol.js';
import type { PutFileOptions, PutStreamOptions } from './put.js';
import type { GetFileOptions } from './get.js';
import type { TransferResult } from './transfer.js';

/** What `put` uploads. A string is a local file path: text goes as `{ data: 'text' }`. */
export type PutSource = string | URL | Uint8Array | { data: string | Uint8Array } | AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;

/** Where `get` writes: a local path or `file:` URL, a Node Writable or a Web WritableStream. */
export type GetDestination = string | URL | Writable | WritableStream<Uint8Array>;

export type PutOptions = PutFileOptions & PutStreamOptions;
export type GetOptions = GetFileOptions;

/** The transfer methods `put`/`get` are made of (FerryClient has them). */
export interface Transfers {
  putFile(localPath: string, remotePath: string, options?: PutFileOptions): Promise<TransferResult>;
  putStream(source: AsyncIterable<Uint8Array>, remotePath: string, options?: PutStreamOptions): Promise<TransferResult>;
  getFile(remotePath: string, localPath: string, options?: GetFileOptions): Promise<TransferResult>;
  getStream(remotePath: string, out: Writable, options?: GetFileOptions): Promise<TransferResult>;
  stat(path: string, options?: { signal?: AbortSignal }): Promise<unknown>;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/**
 * A local path from a string or URL: a `file://` string is a URL too (as a relative path it
 * only made a folder named `file:` in the working directory, or was not found).
 */
function localPath(where: string | URL): string {
  return where instanceof URL || where.startsWith('file://') ? fileURLToPath(where) : where;
}

function isAsyncIterable(x: unknown): x is AsyncIterable<Uint8Array> {
  return typeof x === 'object' && x !== null && Symbol.asyncIterator in x;
}

/** `put(source, path)`: see the module comment for the sources. */
export function put(t: Transfers, source: PutSource, remotePath: string, options: PutOptions = {}): Promise<TransferResult> {
  if (typeof source === 'string' || source instanceof URL) return t.putFile(localPath(source), remotePath, options);
  if (source instanceof Uint8Array) return t.putStream(once(source), remotePath, options);
  if (typeof source === 'object' && source !== null && 'data' in source) {
    const bytes = typeof source.data === 'string' ? new TextEncoder().encode(source.data) : source.data;
    return t.putStream(once(bytes), remotePath, options);
  }
  // Node streams and Web ReadableStreams (Node 20) are async iterables of bytes.
  if (isAsyncIterable(source)) return t.putStream(source, remotePath, options);
  throw new UsageError('put: the source must be a file path, bytes, {data}, a stream or an async iterable of bytes');
}

/** `get(path)`: a Readable of the file (after a stat, so that a missing file fails here). `get(path, dest)`: the transfer. */
export async function get(t: Transfers, remotePath: string, dest?: GetDestination, options: GetOptions = {}): Promise<Readable | TransferResult> {
  if (dest === undefined) {
    await t.stat(remotePath, { signal: options.signal });
    const out = new PassThrough();
    // The transfer writes with backpressure into `out`; its failure is the stream's error.
    t.getStream(remotePath, out, options).then(
      () => out.end(),
      (err: unknown) => out.destroy(err as Error),
    );
    // An abort fails the stream even once the transfer has finished into its buffer, as a
    // backend's read does: the caller said it wants no more.
    return failOnAbort(out, options.signal, remotePath);
  }
  if (typeof dest === 'string' || dest instanceof URL) return t.getFile(remotePath, localPath(dest), options);
  if (dest instanceof Writable) return t.getStream(remotePath, dest, options);
  if (typeof (dest as WritableStream).getWriter === 'function') {
    const w = Writable.fromWeb(dest as WritableStream<Uint8Array>);
    const r = await t.getStream(remotePath, w, options);
    await new Promise<void>((resolve, reject) => w.end((err?: Error | null) => (err ? reject(err) : resolve())));
    return r;
  }
  throw new UsageError('get: the destination must be a file path, a Writable or a WritableStream (or none, for a stream)');
}

/** Binds the free functions of ./account-api.ts to `api`, by subject. */
export function namespaces(api: FerryApi) {
  return {
    /** Your own account: who you are, your password. */
    account: {
      me: () => account.me(api),
      changePassword: (current: string | undefined, next: string) => account.changePassword(api, current, next),
    },
    tokens: {
      list: (...a: Tail<typeof account.listTokens>) => account.listTokens(api, ...a),
      create: (...a: Tail<typeof account.createToken>) => account.createToken(api, ...a),
      revoke: (...a: Tail<typeof account.revokeToken>) => account.revokeToken(api, ...a),
    },
    shares: {
      list: (...a: Tail<typeof account.listShares>) => account.listShares(api, ...a),
      create: (...a: Tail<typeof account.createShare>) => account.createShare(api, ...a),
      revoke: (id: string) => account.revokeShare(api, id),
    },
    users: {
      list: () => account.listUsers(api),
      get: (name: string) => account.getUser(api, name),
      add: (...a: Tail<typeof account.addUser>) => account.addUser(api, ...a),
      update: (...a: Tail<typeof account.updateUser>) => account.updateUser(api, ...a),
      remove: (name: string) => account.removeUser(api, name),
      setPassword: (name: string, password: string) => account.setUserPassword(api, name, password),
      grant: (...a: Tail<typeof account.setGrant>) => account.setGrant(api, ...a),
      sshKeys: {
        list: (user: string) => account.listSshKeys(api, user),
        add: (...a: Tail<typeof account.addSshKeys>) => account.addSshKeys(api, ...a),
        remove: (user: string, idOrFingerprint: string) => account.removeSshKey(api, user, idOrFingerprint),
      },
    },
    admin: {
      stats: () => account.stats(api),
      audit: (...a: Tail<typeof account.auditLog>) => account.auditLog(api, ...a),
      bans: () => account.bans(api),
      unban: (ip: string) => account.unban(api, ip),
      uploads: (...a: Tail<typeof account.listUploads>) => account.listUploads(api, ...a),
      abortUpload: (id: string) => account.abortUploadAsAdmin(api, id),
    },
  };
}

/** The parameters of a free function after its first (the client). */
type Tail<F> = F extends (first: never, ...rest: infer R) => unknown ? R : never;

export type ClientNamespaces = ReturnType<typeof namespaces>;
