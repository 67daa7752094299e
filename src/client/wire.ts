/**
 * The HTTP core of the SDK, shared by Node.js and browsers (it imports nothing of Node):
 * requests described as {@link RequestSpec}, bearer auth, JSON error bodies turned into
 * FerryErrors, retries with backoff, and an AbortSignal everywhere. What actually moves the
 * bytes is a {@link Transport}: `fetch` (src/client/fetch-transport.ts: browsers, and any
 * runtime with fetch) or an undici Pool (src/client/http.ts: the Node CLI, which keeps its
 * connections and sends bodies without copies).
 *
 * Which failures are retried depends on what the request does:
 *   - `retry: 'always'` (reads, chunk PUTs, packs: idempotent): every retryable error and 5xx;
 *   - `retry: 'unprocessed'` (appends, moves: repeating them could apply them twice): only
 *     failures that prove the server never acted: connection refused, 429, 503;
 *   - `retry: 'never'`.
 */
import {
  AbortedError,
  AuthRequiredError,
  ConfigError,
  FerryError,
  ForbiddenError,
  HostUnknownError,
  InternalError,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  ProtocolError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  TlsMismatchError,
  ferryErrorOf,
  isErrorCode,
  throwIfAborted,
  type FerryErrorCode,
} from '../core/errors.js';
import { REQUEST_ID_HEADER } from '../core/protocol.js';
import { DEFAULT_RETRY_POLICY, retry, parseRetryAfter, type RetryPolicy } from '../core/retry.js';
import { trimTrailingSlashes } from '../core/path.js';

export type RetryMode = 'always' | 'unprocessed' | 'never';

/**
 * What is read of an error answer: a Ferry server's is a code, a message and details, a few
 * hundred bytes. The rest is not read (the connection is not reused): a hostile server, or
 * whatever answers at a mistyped address, could send without end, and reading it all grew
 * `ferry ls` to 22 GB before the kernel killed it.
 */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;
/**
 * The longest JSON answer read. The largest a Ferry server sends are manifests and upload
 * sessions' missing lists, about 90 bytes a chunk: 256 MiB is some 3 million chunks, a file of
 * at least 700 GiB even at the smallest chunk size (and V8 cannot make a string of twice that).
 * Past it the request fails (FERRY_ERR_PROTOCOL) instead of reading on.
 */
export const MAX_JSON_ANSWER_BYTES = 256 * 1024 * 1024;

/**
 * A body as UTF-8 text, read up to `limit` bytes; past that the rest is abandoned and `cut`
 * says so. Pieces are copied as they come (a transport may reuse its buffers).
 */
async function boundedText(body: WireResponseBody, limit: number): Promise<{ text: string; cut: boolean }> {
  const parts: Uint8Array[] = [];
  let n = 0;
  let cut = false;
  for await (const piece of body) {
    const keep = Math.min(piece.length, limit - n);
    parts.push(new Uint8Array(piece.subarray(0, keep)));
    n += keep;
    if (keep < piece.length) {
      cut = true;
      break;
    }
  }
  if (cut) body.destroy();
  const all = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return { text: new TextDecoder().decode(all), cut };
}
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * A request body: bytes, a Blob (browsers send a slice of a picked file without reading it
 * into memory), or a stream of bytes (Node: a Readable, e.g. bandwidth-limited).
 */
export type WireBody = Uint8Array | Blob | AsyncIterable<Uint8Array>;

export interface RequestSpec {
  method: HttpMethod;
  /** Path below the base URL, starting with `/` and already percent-encoded. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** A JSON body (serialized once, sent on every attempt). */
  json?: unknown;
  /** A raw body; a factory because a retry needs a fresh stream. */
  body?: () => WireBody;
  /** Required with a stream body. */
  contentLength?: number;
  contentType?: string;
  /** Extra headers, or a function of them called for each attempt (a ranged request resumes where the last attempt stopped). */
  headers?: Record<string, string> | (() => Record<string, string>);
  signal?: AbortSignal;
  retry?: RetryMode;
  /** Send the credentials (default true). */
  auth?: boolean;
  /** Statuses other than 2xx that are answers, not errors (e.g. 304). */
  accept?: number[];
  /**
   * A GET of many bytes whose body the caller reads with `readInto` where the transport
   * offers it (Node over plain http: ./raw-http.ts); other transports ignore it.
   */
  bulk?: boolean;
}

/** Where a response body goes, piece by piece (see {@link WireResponseBody.readInto}). */
export interface BodySink {
  /** Where the next bytes go: never empty while the body has bytes left. */
  room(): Uint8Array;
  /** `n` bytes landed at the start of the last `room()`. A promise holds further reads until it settles. */
  filled(n: number): void | Promise<void>;
}

/** The body of a response: its bytes as they arrive, or all of it as text, or nothing. */
export interface WireResponseBody extends AsyncIterable<Uint8Array> {
  /**
   * Reads the whole body straight into the sink's buffers (no copy, no buffer per read):
   * offered by some transports for requests marked `bulk`. Resolves at the body's end.
   */
  readInto?(sink: BodySink): Promise<void>;
  text(): Promise<string>;
  /** Reads and discards the rest (a connection can then be reused). */
  dump(): Promise<void>;
  /** Abandons the rest. */
  destroy(): void;
}

/** A response as the transports give it (undici's `ResponseData` has this shape). */
export interface WireResponse {
  statusCode: number;
  /** Lower-case names. */
  headers: Record<string, string | string[] | undefined>;
  body: WireResponseBody;
}

/** One attempt of a request, already built: what a transport sends. */
export interface WireRequest {
  method: HttpMethod;
  /** Absolute URL. */
  url: string;
  headers: Record<string, string>;
  body?: WireBody;
  signal?: AbortSignal;
  /** See {@link RequestSpec.bulk}. */
  bulk?: boolean;
}

/** Moves one request and its answer; throws its own errors, which {@link HttpCore} classifies. */
export interface Transport {
  send(request: WireRequest): Promise<WireResponse>;
  /** Closes the connections (waits for requests in flight). */
  close(): Promise<void>;
  /** Drops the connections at once. */
  destroy(): Promise<void>;
}

/** Where credentials come from: a fixed token, or a function (a web session renews its token). */
export type Credentials = string | (() => string | undefined | Promise<string | undefined>);

/** Marks errors after which we know the server did not act on the request. */
const NOT_PROCESSED = Symbol('ferry.notProcessed');

function markNotProcessed<E extends FerryError>(err: E): E {
  (err as unknown as Record<symbol, boolean>)[NOT_PROCESSED] = true;
  return err;
}

/** Marks errors of a request that never reached the server (see {@link connectFailure}). */
const CONNECT_FAILURE = Symbol('ferry.connectFailure');

function markConnectFailure<E extends FerryError>(err: E): E {
  (err as unknown as Record<symbol, boolean>)[CONNECT_FAILURE] = true;
  return err;
}

export function isConnectFailure(err: unknown): boolean {
  return err instanceof FerryError && (err as unknown as Record<symbol, boolean>)[CONNECT_FAILURE] === true;
}

export function isNotProcessed(err: unknown): boolean {
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
export function errorFromResponse(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  bodyText: string,
  what: string,
  target?: { server: string; tried: string },
): FerryError {
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
  if (target && status === 404 && typeof details?.apiPrefix === 'string') {
    err = notFerryServer(target, `HTTP 404: this server's API is at ${details.apiPrefix}/`);
  } else if (code !== undefined && isErrorCode(code)) {
    err = ferryErrorOf(code, message, opts);
  } else if (code === undefined && !message) {
    const text = `${what}: HTTP ${status}`;
    if (status === 401) err = new AuthRequiredError(text, opts);
    else if (status === 403) err = new ForbiddenError(text, opts);
    // A Ferry server says what was not found, in JSON: a bare 404 is most likely another web
    // server, or a wrong path in the server URL.
    else if (status === 404) err = target ? notFerryServer(target, `HTTP 404`) : new NotFoundError(text, opts);
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

/**
 * Translates a transport failure (undici or system error, or fetch's TypeError) into a
 * FerryError. A fetch that fails carries no code: it is a network error when it is
 * fetch's TypeError ("Failed to fetch"), otherwise a bug that is never retried.
 */
export function errorFromTransport(err: unknown, what: string, signal?: AbortSignal): FerryError {
  if (err instanceof FerryError) return err;
  if (signal?.aborted) return new AbortedError('aborted', { cause: signal.reason ?? err });
  const e = err as { code?: string; message?: string; cause?: { code?: string }; name?: string };
  const code = e?.code ?? e?.cause?.code;
  const message = e?.message ?? String(err);
  let out: FerryError;
  if (code && TIMEOUT_CODES.has(code)) out = new TimeoutError(`${what}: ${message}`, { cause: err });
  else if (code === 'UND_ERR_ABORTED' || e?.name === 'AbortError') out = new NetworkError(`${what}: request aborted (${message})`, { cause: err });
  else if (code === 'UND_ERR_INVALID_ARG') out = new ConfigError(`${what}: ${message} (a malformed token or server URL?)`, { cause: err });
  else if (code === undefined && e?.name === 'TypeError' && /fetch|network/i.test(message)) out = new NetworkError(`${what}: ${message}`, { cause: err });
  else if (code === undefined) out = new InternalError(`${what}: ${message}`, { cause: err }); // a bug, not the network: never retried
  else out = new NetworkError(`${what}: ${message}`, { cause: err });
  if (code && CONNECT_CODES.has(code)) markNotProcessed(out);
  return out;
}

/** The first system or undici code in an error's cause chain. */
function causeCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && !e.code.startsWith('FERRY_ERR_')) return e.code;
  }
  return undefined;
}

function causeText(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.message === 'string') parts.push(e.message);
  }
  return parts.join(' / ');
}

/** What to say when `server` answers as something other than a Ferry server. */
function notFerryHint(server: string): string {
  return `is ${server} the address of a Ferry server? (${CHECK_SERVER})`;
}

const CHECK_SERVER = 'check `server`, FERRY_SERVER or the saved login (ferry login URL)';

/**
 * `server` answered what no Ferry server answers there (a bare 404, a page where JSON was
 * expected, a Ferry server whose API is at another path): the server URL is wrong. A
 * configuration error (exit 2), never "not found" (exit 3), which a script would take for a
 * missing file. `tried` is the request with its full URL; `saw` what came back.
 */
export function notFerryServer(target: { server: string; tried: string }, saw: string, cause?: unknown): FerryError {
  return new ConfigError(`${target.server} did not answer as a Ferry server (${target.tried}: ${saw}): is Ferry mounted elsewhere, or on another port? (${CHECK_SERVER})`, {
    cause,
    details: { server: target.server },
  });
}

/**
 * A request that never reached the server, said in words that tell what to do, with the
 * server's address: connection refused (is it running?), a host name that does not resolve,
 * https against plain HTTP and the reverse. `firstContact`: nothing has come back from this
 * server yet, so a connection closed before any answer on a plain-HTTP URL most likely met a
 * TLS-only server. Undefined for every other failure.
 */
export function connectFailure(err: FerryError, origin: string, firstContact: boolean): FerryError | undefined {
  const code = causeCode(err.cause);
  const url = new URL(origin);
  const where = `${url.protocol}//${url.host}`;
  const fix = 'check `server`, FERRY_SERVER or the saved login (ferry login URL)';
  if (code === 'ECONNREFUSED') {
    return markNotProcessed(
      new NetworkError(`cannot connect to ${where}: connection refused (is the server running, on that port? ${fix})`, { cause: err, details: { server: where } }),
    );
  }
  if (code === 'ENOTFOUND') {
    return new HostUnknownError(`unknown host ${url.hostname}: the name does not resolve (${fix})`, { cause: err, details: { server: where } });
  }
  const text = causeText(err.cause);
  if (url.protocol === 'https:' && (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long|unknown protocol/i.test(text))) {
    return new TlsMismatchError(`${where} answered in plain HTTP, not TLS: use http://${url.host} (or start the server with TLS)`, {
      cause: err,
      details: { server: where },
    });
  }
  if (url.protocol === 'http:' && firstContact && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')) {
    return new TlsMismatchError(
      `${where} closed the connection without answering: if the server speaks TLS (ferry serve --tls-*), use https://${url.host}`,
      { cause: err, details: { server: where } },
    );
  }
  return undefined;
}

export interface HttpCoreOptions {
  /** Base URL, e.g. `http://127.0.0.1:7373` (a path prefix is kept: `https://host/ferry`). */
  server: string;
  transport: Transport;
  /** A bearer token, or a function giving the current one. */
  token?: Credentials;
  /** A whole `Authorization` value instead of a bearer token (share-link uploads). */
  authorization?: () => string | undefined;
  retry?: RetryPolicy;
  /** Told about every retry (the CLI prints it with --debug). */
  onRetry?: (info: { method: string; path: string; error: unknown; attempt: number; delayMs: number }) => void;
  /** Extra headers on every request (the CLI's user agent). */
  headers?: Record<string, string>;
  /** Bytes for {@link HttpCore.readExact}: Node gives Buffers, which its callers expect. */
  alloc?: (size: number) => Uint8Array;
}

/**
 * The server's base URL. One that is not a URL, or not http(s), is FERRY_ERR_CONFIG when the
 * client is made: it was a bare TypeError there (`new FerryClient({server: 'nas'})`), or, for
 * `ftp://…`, a FERRY_ERR_CONFIG naming undici's message at the first request.
 */
export function parseServerUrl(server: string): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch (err) {
    throw new ConfigError(`not a server URL: ${JSON.stringify(server)} (such as http://127.0.0.1:7373)`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`the server URL must be http or https, not ${url.protocol}`);
  return url;
}

/** Low-level HTTP client of one server. Public so that other programs can reach routes the SDK does not wrap. */
export class HttpCore {
  readonly base: URL;
  private readonly prefix: string;
  readonly transport: Transport;
  private readonly token?: Credentials;
  private readonly authorization?: () => string | undefined;
  readonly retryPolicy: RetryPolicy;
  private readonly onRetry?: HttpCoreOptions['onRetry'];
  private readonly extraHeaders: Record<string, string>;
  /** Allocates response buffers (Node: Buffers). */
  readonly alloc: (size: number) => Uint8Array;
  /**
   * Whether anything has come back from the server yet. Until then a connection refused is
   * not retried: nothing is listening there, and 8 retries with backoff only hid that for half
   * a minute. Once the server has answered, a refusal is a restart and is ridden out.
   */
  private reached = false;

  constructor(options: HttpCoreOptions) {
    this.base = parseServerUrl(options.server);
    this.prefix = trimTrailingSlashes(this.base.pathname);
    this.transport = options.transport;
    this.token = options.token;
    this.authorization = options.authorization;
    this.retryPolicy = options.retry ?? DEFAULT_RETRY_POLICY;
    this.onRetry = options.onRetry;
    this.extraHeaders = options.headers ?? {};
    this.alloc = options.alloc ?? ((n) => new Uint8Array(n));
  }

  get hasToken(): boolean {
    return (this.token !== undefined && this.token !== '') || this.authorization !== undefined;
  }

  /** Hook for bodies going up (Node applies its bandwidth limit here). */
  protected outgoing(body: WireBody, _signal?: AbortSignal): WireBody {
    return body;
  }

  /** Hook for each piece of a body coming down (Node applies its bandwidth limit here). */
  protected async incoming(_bytes: number, _signal?: AbortSignal): Promise<void> {}

  /**
   * Sends a request, retrying as `spec.retry` allows, and hands a successful response to
   * `consume` (inside the retry loop, so a body cut short is retried too). Error responses
   * throw FerryErrors; the body of every response is consumed or discarded.
   */
  async request<T>(spec: RequestSpec, consume: (res: WireResponse) => Promise<T>): Promise<T> {
    const mode = spec.retry ?? (spec.method === 'GET' || spec.method === 'HEAD' || spec.method === 'PUT' ? 'always' : 'unprocessed');
    const jsonBody = spec.json === undefined ? undefined : new TextEncoder().encode(JSON.stringify(spec.json));
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
        shouldRetry: (err) => {
          if (!this.reached && isConnectFailure(err)) return false;
          return mode === 'always' ? err instanceof FerryError && err.retryable : mode === 'unprocessed' && isNotProcessed(err);
        },
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
      const { text, cut } = await boundedText(res.body, MAX_JSON_ANSWER_BYTES);
      if (cut) throw new ProtocolError(`${spec.method} ${spec.path}: the answer is longer than ${MAX_JSON_ANSWER_BYTES / (1024 * 1024)} MiB, more than any Ferry server sends: ${notFerryHint(this.serverLabel())}`);
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        const type = res.headers['content-type'];
        const saw = `the answer is not JSON${typeof type === 'string' ? ` (${type.split(';')[0]})` : ''}`;
        throw notFerryServer(this.target(spec), saw, err);
      }
    });
  }

  /**
   * Reads a response body into one buffer of `expected` bytes (bandwidth-limited), failing
   * if it is longer or shorter. Memory is exactly the body's size, known in advance.
   */
  async readExact(res: WireResponse, expected: number, signal?: AbortSignal): Promise<Uint8Array> {
    const out = this.alloc(expected);
    let n = 0;
    for await (const piece of res.body) {
      if (n + piece.length > expected) throw new NetworkError(`the server sent more than the announced ${expected} bytes`);
      out.set(piece, n);
      n += piece.length;
      await this.incoming(piece.length, signal);
    }
    if (n !== expected) throw new NetworkError(`short body: ${n} of ${expected} bytes`);
    return out;
  }

  /** The absolute URL of a path below the base (for links a browser opens itself). */
  url(path: string, query?: RequestSpec['query']): string {
    let p = this.prefix + path;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
      const s = q.toString();
      if (s) p += `?${s}`;
    }
    return this.base.origin + p;
  }

  /**
   * The Authorization header requests carry now (undefined without credentials). Callers
   * that keep state per identity hash it (put's saved sessions); never log or store it as it is.
   */
  async authorizationNow(): Promise<string | undefined> {
    const authorization = this.authorization?.();
    if (authorization) return authorization;
    const token = typeof this.token === 'function' ? await this.token() : this.token;
    return token ? `Bearer ${token}` : undefined;
  }

  private async once(spec: RequestSpec, jsonBody: Uint8Array | undefined, what: string): Promise<WireResponse> {
    throwIfAborted(spec.signal);
    const headers: Record<string, string> = { ...this.extraHeaders, ...(typeof spec.headers === 'function' ? spec.headers() : spec.headers) };
    if (spec.auth !== false) {
      const authorization = await this.authorizationNow();
      if (authorization) headers.authorization = authorization;
    }
    let body: WireBody | undefined;
    if (jsonBody !== undefined) {
      headers['content-type'] = 'application/json';
      body = jsonBody;
    } else if (spec.body) {
      headers['content-type'] = spec.contentType ?? 'application/octet-stream';
      body = this.outgoing(spec.body(), spec.signal);
      if (spec.contentLength !== undefined) headers['content-length'] = String(spec.contentLength);
    }
    let res: WireResponse;
    try {
      res = await this.transport.send({ method: spec.method, url: this.url(spec.path, spec.query), headers, body, signal: spec.signal, ...(spec.bulk ? { bulk: true } : {}) });
    } catch (err) {
      const translated = errorFromTransport(err, what, spec.signal);
      if (translated.code === 'FERRY_ERR_ABORTED' || translated.code === 'FERRY_ERR_TLS_UNTRUSTED') throw translated;
      const failure = connectFailure(translated, this.base.origin, !this.reached);
      throw failure === undefined ? translated : markConnectFailure(failure);
    }
    this.reached = true;
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    if (spec.accept?.includes(res.statusCode)) return res;
    let text = '';
    try {
      text = (await boundedText(res.body, MAX_ERROR_BODY_BYTES)).text;
    } catch {
      // the error status is what matters; an unreadable body just loses the message
    }
    throw errorFromResponse(res.statusCode, res.headers, text, what, this.target(spec));
  }

  /** The server URL as given, and the request with its full URL, for "not a Ferry server" messages. */
  private target(spec: RequestSpec): { server: string; tried: string } {
    return { server: this.serverLabel(), tried: `${spec.method} ${this.url(spec.path)}` };
  }

  /** The server URL as given (origin and path prefix), for messages. */
  private serverLabel(): string {
    return this.base.origin + this.prefix;
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  async destroy(): Promise<void> {
    await this.transport.destroy();
  }
}
