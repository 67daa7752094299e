/**
 * The HTTP layer of the SDK: one undici Pool per server (keep-alive, several connections),
 * bearer auth, JSON error bodies turned into FerryErrors, retries with backoff, the
 * bandwidth limit on bodies, a headers timeout per request and an AbortSignal everywhere.
 *
 * Which failures are retried depends on what the request does:
 *   - `retry: 'always'` (reads, chunk PUTs, packs: idempotent): every retryable error and 5xx;
 *   - `retry: 'unprocessed'` (appends, moves: repeating them could apply them twice): only
 *     failures that prove the server never acted: connection refused, 429, 503;
 *   - `retry: 'never'`.
 */
import { Pool, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import {
  AbortedError,
  AuthInvalidError,
  AuthRequiredError,
  ConfigError,
  FerryError,
  ForbiddenError,
  InternalError,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  ProtocolError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  isErrorCode,
  throwIfAborted,
  type FerryErrorCode,
} from '../core/errors.js';
import { REQUEST_ID_HEADER } from '../core/protocol.js';
import { VERSION } from '../core/version.js';
import { DEFAULT_RETRY_POLICY, retry, parseRetryAfter, type RetryPolicy } from '../core/retry.js';
import { tlsDispatcherOptions, untrustedCertificateError, type TlsTrust } from './tls.js';
import type { TokenBucket } from '../core/token-bucket.js';

export type RetryMode = 'always' | 'unprocessed' | 'never';
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:7373` (a path prefix is kept: `https://host/ferry`). */
  server: string;
  token?: string;
  /** Connections kept open to the server (default 8). */
  connections?: number;
  /** Time allowed until a response's headers arrive, ms (default 60 s). */
  headersTimeoutMs?: number;
  /** Time allowed between two pieces of a response body, ms (default 60 s). */
  bodyTimeoutMs?: number;
  retry?: RetryPolicy;
  limiter?: TokenBucket;
  /** Told about every retry (the CLI prints it with --debug). */
  onRetry?: (info: { method: string; path: string; error: unknown; attempt: number; delayMs: number }) => void;
  /** Extra trust for https: a CA (PEM) and/or a pinned certificate fingerprint. */
  tls?: TlsTrust;
}

export interface RequestSpec {
  method: HttpMethod;
  /** Path below the base URL, starting with `/` and already percent-encoded. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** A JSON body (serialized once, sent on every attempt). */
  json?: unknown;
  /** A raw body; a factory because a retry needs a fresh stream. */
  body?: () => Uint8Array | Readable;
  /** Required with a stream body. */
  contentLength?: number;
  contentType?: string;
  /** Extra headers, or a function of them called for each attempt (a ranged request resumes where the last attempt stopped). */
  headers?: Record<string, string> | (() => Record<string, string>);
  signal?: AbortSignal;
  retry?: RetryMode;
  /** Send the bearer token (default true). */
  auth?: boolean;
  /** Statuses other than 2xx that are answers, not errors (e.g. 304). */
  accept?: number[];
}

export type Response = Dispatcher.ResponseData;

/** Marks errors after which we know the server did not act on the request. */
const NOT_PROCESSED = Symbol('ferry.notProcessed');

function markNotProcessed<E extends FerryError>(err: E): E {
  (err as unknown as Record<symbol, boolean>)[NOT_PROCESSED] = true;
  return err;
}

function isNotProcessed(err: unknown): boolean {
  return err instanceof FerryError && (err as unknown as Record<symbol, boolean>)[NOT_PROCESSED] === true;
}

/** Statuses that a retry can fix. 501 and 507 (and a corrupt chunk) will fail again. */
function retryableStatus(status: number, code: string | undefined): boolean {
  if (status === 429 || status === 408) return true;
  if (status < 500) return false;
  if (status === 501 || status === 507) return false;
  return code !== 'FERRY_ERR_CHUNK_CORRUPT' && code !== 'FERRY_ERR_NO_SPACE' && code !== 'FERRY_ERR_NOT_IMPLEMENTED';
}

/**
 * Turns an error response into a FerryError: the body's code when we know it, otherwise
 * FERRY_ERR_SERVER for 5xx and FERRY_ERR_PROTOCOL for the rest; well-known statuses without
 * a JSON body (a proxy's 401/404/413/429 page) get their obvious codes.
 */
export function errorFromResponse(status: number, headers: Record<string, string | string[] | undefined>, bodyText: string, what: string): FerryError {
  let code: string | undefined;
  let message: string | undefined;
  let details: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(bodyText) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    if (parsed && typeof parsed.error === 'object' && parsed.error !== null) {
      if (typeof parsed.error.code === 'string') code = parsed.error.code;
      if (typeof parsed.error.message === 'string') message = parsed.error.message;
      if (parsed.error.details && typeof parsed.error.details === 'object') details = parsed.error.details as Record<string, unknown>;
    }
  } catch {
    // not JSON: a proxy or a crash page; decided by status below
  }
  const retryAfterMs = parseRetryAfter(headers['retry-after']);
  const requestId = headers[REQUEST_ID_HEADER];
  const extra = requestId ? { ...(details ?? {}), requestId } : details;
  const retryable = retryableStatus(status, code);
  const opts = { details: extra, retryAfterMs, retryable };
  let err: FerryError;
  if (code !== undefined && isErrorCode(code)) {
    err = new FerryError(code as FerryErrorCode, message, opts);
  } else if (code === undefined && !message) {
    const text = `${what}: HTTP ${status}`;
    if (status === 401) err = new AuthRequiredError(text, opts);
    else if (status === 403) err = new ForbiddenError(text, opts);
    else if (status === 404) err = new NotFoundError(text, opts);
    else if (status === 413) err = new PayloadTooLargeError(text, opts);
    else if (status === 429) err = new RateLimitedError(text, opts);
    else if (status >= 500) err = new ServerError(text, opts);
    else err = new ProtocolError(`${text} (unexpected answer)`, opts);
  } else {
    const text = `${what}: HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`;
    err = status >= 500 ? new ServerError(text, opts) : new ProtocolError(text, opts);
  }
  if (status === 429 || status === 503) markNotProcessed(err);
  return err;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** Translates a transport failure (undici or system error) into a FerryError. */
export function errorFromTransport(err: unknown, what: string, signal?: AbortSignal): FerryError {
  if (err instanceof FerryError) return err;
  if (signal?.aborted) return new AbortedError('aborted', { cause: signal.reason ?? err });
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code;
  const message = e?.message ?? String(err);
  let out: FerryError;
  if (code && TIMEOUT_CODES.has(code)) out = new TimeoutError(`${what}: ${message}`, { cause: err });
  else if (code === 'UND_ERR_ABORTED' || (err as Error)?.name === 'AbortError') out = new NetworkError(`${what}: request aborted (${message})`, { cause: err });
  else if (code === 'UND_ERR_INVALID_ARG') out = new ConfigError(`${what}: ${message} (a malformed token or server URL?)`, { cause: err });
  else if (code === undefined) out = new InternalError(`${what}: ${message}`, { cause: err }); // a bug, not the network: never retried
  else out = new NetworkError(`${what}: ${message}`, { cause: err });
  if (code && CONNECT_CODES.has(code)) markNotProcessed(out);
  return out;
}

/** Low-level HTTP client of one server. Public so that other programs can reach routes the SDK does not wrap. */
export class HttpClient {
  readonly base: URL;
  private readonly prefix: string;
  private readonly pool: Pool;
  private readonly token?: string;
  private readonly headersTimeoutMs: number;
  private readonly bodyTimeoutMs: number;
  readonly retryPolicy: RetryPolicy;
  readonly limiter?: TokenBucket;
  private readonly onRetry?: HttpClientOptions['onRetry'];

  constructor(options: HttpClientOptions) {
    this.base = new URL(options.server);
    this.prefix = this.base.pathname.replace(/\/+$/, '');
    this.token = options.token;
    this.headersTimeoutMs = options.headersTimeoutMs ?? 60_000;
    this.bodyTimeoutMs = options.bodyTimeoutMs ?? 60_000;
    this.retryPolicy = options.retry ?? DEFAULT_RETRY_POLICY;
    this.limiter = options.limiter;
    this.onRetry = options.onRetry;
    this.pool = new Pool(this.base.origin, {
      connections: options.connections ?? 8,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: this.headersTimeoutMs,
      bodyTimeout: this.bodyTimeoutMs,
      ...tlsDispatcherOptions(options.tls ?? {}),
    });
  }

  get hasToken(): boolean {
    return this.token !== undefined && this.token !== '';
  }

  /**
   * Sends a request, retrying as `spec.retry` allows, and hands a successful response to
   * `consume` (inside the retry loop, so a body cut short is retried too). Error responses
   * throw FerryErrors; the body of every response is consumed or discarded.
   */
  async request<T>(spec: RequestSpec, consume: (res: Response) => Promise<T>): Promise<T> {
    const mode = spec.retry ?? (spec.method === 'GET' || spec.method === 'HEAD' || spec.method === 'PUT' ? 'always' : 'unprocessed');
    const jsonBody = spec.json === undefined ? undefined : Buffer.from(JSON.stringify(spec.json));
    const what = `${spec.method} ${spec.path}`;
    return retry(
      async () => {
        const res = await this.once(spec, jsonBody, what);
        try {
          return await consume(res);
        } catch (err) {
          res.body.destroy();
          throw errorFromTransport(err, what, spec.signal);
        }
      },
      {
        policy: mode === 'never' ? { ...this.retryPolicy, retries: 0 } : this.retryPolicy,
        signal: spec.signal,
        shouldRetry: (err) => (mode === 'always' ? err instanceof FerryError && err.retryable : mode === 'unprocessed' && isNotProcessed(err)),
        onRetry: (error, attempt, delayMs) => this.onRetry?.({ method: spec.method, path: spec.path, error, attempt, delayMs }),
      },
    );
  }

  /** Sends a request and parses its JSON answer (undefined for 204). */
  async json<T>(spec: RequestSpec): Promise<T> {
    return this.request(spec, async (res) => {
      if (res.statusCode === 204 || spec.method === 'HEAD') {
        await res.body.dump();
        return undefined as T;
      }
      const text = await res.body.text();
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new ProtocolError(`${spec.method} ${spec.path}: the answer is not JSON`, { cause: err });
      }
    });
  }

  /**
   * Reads a response body into one buffer of `expected` bytes (bandwidth-limited), failing
   * if it is longer or shorter. Memory is exactly the body's size, known in advance.
   */
  async readExact(res: Response, expected: number, signal?: AbortSignal): Promise<Buffer> {
    const out = Buffer.allocUnsafe(expected);
    let n = 0;
    for await (const piece of res.body as AsyncIterable<Buffer>) {
      if (n + piece.length > expected) throw new NetworkError(`the server sent more than the announced ${expected} bytes`);
      piece.copy(out, n);
      n += piece.length;
      if (this.limiter) await this.limiter.take(piece.length, signal);
    }
    if (n !== expected) throw new NetworkError(`short body: ${n} of ${expected} bytes`);
    return out;
  }

  private async once(spec: RequestSpec, jsonBody: Buffer | undefined, what: string): Promise<Response> {
    throwIfAborted(spec.signal);
    const headers: Record<string, string> = { 'user-agent': `ferry/${VERSION}`, ...(typeof spec.headers === 'function' ? spec.headers() : spec.headers) };
    if (this.token && spec.auth !== false) headers.authorization = `Bearer ${this.token}`;
    let body: Uint8Array | Readable | undefined;
    if (jsonBody) {
      headers['content-type'] = 'application/json';
      body = jsonBody;
    } else if (spec.body) {
      headers['content-type'] = spec.contentType ?? 'application/octet-stream';
      body = spec.body();
      if (spec.contentLength !== undefined) headers['content-length'] = String(spec.contentLength);
    }
    let path = this.prefix + spec.path;
    if (spec.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(spec.query)) if (v !== undefined) q.set(k, String(v));
      const s = q.toString();
      if (s) path += `?${s}`;
    }
    let res: Response;
    try {
      res = await this.pool.request({
        method: spec.method,
        path,
        headers,
        body: body as Buffer | Readable | undefined,
        signal: spec.signal,
        headersTimeout: this.headersTimeoutMs,
        bodyTimeout: this.bodyTimeoutMs,
      });
    } catch (err) {
      // A certificate we do not trust is not a network hiccup: say what to do, never retry.
      throw untrustedCertificateError(err, this.base.origin) ?? errorFromTransport(err, what, spec.signal);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    if (spec.accept?.includes(res.statusCode)) return res;
    let text = '';
    try {
      text = await res.body.text();
    } catch {
      // the error status is what matters; an unreadable body just loses the message
    }
    throw errorFromResponse(res.statusCode, res.headers, text, what);
  }

  /** Closes the connections (waits for requests in flight). */
  async close(): Promise<void> {
    await this.pool.close();
  }

  /** Drops the connections at once, failing requests in flight. */
  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}

/** Message helper for auth failures: says which setting to fix. */
export function explainAuth(err: FerryError, tokenSource: string | undefined): FerryError {
  if (err.code === 'FERRY_ERR_AUTH_INVALID') {
    return new AuthInvalidError(`the server refused the token${tokenSource ? ` (from ${tokenSource})` : ''}: run \`ferry login\` again or check FERRY_TOKEN`, { cause: err, details: err.details });
  }
  if (err.code === 'FERRY_ERR_AUTH_REQUIRED') {
    return new AuthRequiredError('the server wants a token: run `ferry login URL --token T` or set FERRY_TOKEN', { cause: err, details: err.details });
  }
  return err;
}
