/**
 * The Node.js transport of the SDK: one undici Pool per server (keep-alive, several
 * connections, bodies sent without copies), a headers timeout per request, the TLS trust
 * options (`--ca`, `--fingerprint`) and the bandwidth limit on bodies. Everything else
 * (retries, errors, auth) is the shared HTTP core in ./wire.ts, which browsers use too.
 */
import type { Pool } from 'undici';
import type { Readable } from 'node:stream';
import { UsageError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import type { RetryPolicy } from '../core/retry.js';
import { tlsConnector, untrustedCertificateError, type TlsTrust } from './tls.js';
import type { TokenBucket } from '../core/token-bucket.js';
import { limitedBody } from './bandwidth.js';
import { loadUndici } from './undici-pool.js';
import { withParserBudget } from './parser-budget.js';
import { RawHttpPool } from './raw-http.js';
import { HttpCore, errorFromTransport, parseServerUrl, type Credentials, type Transport, type WireBody, type WireRequest, type WireResponse } from './wire.js';

export { errorFromResponse, errorFromTransport, type HttpMethod, type RequestSpec, type RetryMode, type WireResponse as Response } from './wire.js';

export interface HttpClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:7373` (a path prefix is kept: `https://host/ferry`). */
  server: string;
  token?: Credentials;
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

/**
 * Requests over an undici Pool. The pool (and undici itself) is made on the first request,
 * not when the SDK is imported or a client built: importing `ferry/client` stays light.
 */
export class UndiciTransport implements Transport {
  #pool?: Promise<Pool>;
  #closed = false;
  /** Bulk GETs over plain http (./raw-http.ts); https ones go through undici. */
  #raw?: RawHttpPool;
  private readonly origin: string;
  private readonly timeouts: { headersTimeout: number; bodyTimeout: number };
  private readonly options: { connections?: number; headersTimeoutMs: number; bodyTimeoutMs: number; tls?: TlsTrust };

  constructor(base: URL, options: { connections?: number; headersTimeoutMs: number; bodyTimeoutMs: number; tls?: TlsTrust }) {
    this.origin = base.origin;
    this.options = options;
    this.timeouts = { headersTimeout: options.headersTimeoutMs, bodyTimeout: options.bodyTimeoutMs };
    if (base.protocol === 'http:' && process.env.FERRY_RAW_HTTP !== '0') this.#raw = new RawHttpPool(base, this.timeouts);
  }

  private pool(): Promise<Pool> {
    this.#pool ??= loadUndici().then(({ Pool, buildConnector }) => {
      const o = this.options;
      return new Pool(this.origin, {
        connections: o.connections ?? 8,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        headersTimeout: o.headersTimeoutMs,
        bodyTimeout: o.bodyTimeoutMs,
        connect: withParserBudget(tlsConnector(o.tls ?? {}, buildConnector) ?? buildConnector({})),
      });
    });
    return this.#pool;
  }

  async send(request: WireRequest): Promise<WireResponse> {
    // Not a network error: retrying cannot help, and undici's "client is destroyed" said nothing of why.
    if (this.#closed) throw new UsageError(`${request.method} ${request.url}: the client is closed (make a new one)`);
    if (request.bulk && this.#raw && request.method === 'GET' && request.body === undefined) {
      try {
        return await this.#raw.send(request);
      } catch (err) {
        throw errorFromTransport(err, `${request.method} ${request.url}`, request.signal);
      }
    }
    try {
      const pool = await this.pool();
      return await pool.request({
        method: request.method,
        path: request.url.slice(this.origin.length),
        headers: request.headers,
        body: request.body as Buffer | Readable | undefined,
        signal: request.signal,
        ...this.timeouts,
      });
    } catch (err) {
      // A certificate we do not trust is not a network hiccup: say what to do, never retry.
      throw untrustedCertificateError(err, this.origin) ?? errorFromTransport(err, `${request.method} ${request.url}`, request.signal);
    }
  }

  /**
   * Idempotent, as `destroy`: undici's Pool fails a second close with UND_ERR_DESTROYED,
   * which `client.close()` twice (a `finally` after an explicit close) threw at the caller.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#raw?.close();
    const pool = this.#pool && (await this.#pool);
    if (pool && !pool.destroyed) await pool.close();
  }

  async destroy(): Promise<void> {
    this.#closed = true;
    this.#raw?.close();
    const pool = this.#pool && (await this.#pool);
    if (pool && !pool.destroyed) await pool.destroy();
  }
}

/** The SDK's HTTP client in Node.js: the shared core over undici, with the bandwidth limit. */
export class HttpClient extends HttpCore {
  readonly limiter?: TokenBucket;

  constructor(options: HttpClientOptions) {
    const base = parseServerUrl(options.server);
    super({
      server: options.server,
      transport: new UndiciTransport(base, {
        connections: options.connections,
        headersTimeoutMs: options.headersTimeoutMs ?? 60_000,
        bodyTimeoutMs: options.bodyTimeoutMs ?? 60_000,
        tls: options.tls,
      }),
      token: options.token,
      retry: options.retry,
      onRetry: options.onRetry,
      headers: { 'user-agent': `ferry/${VERSION}` },
      alloc: (n) => Buffer.allocUnsafe(n),
    });
    this.limiter = options.limiter;
  }

  protected override outgoing(body: WireBody, signal?: AbortSignal): WireBody {
    return body instanceof Uint8Array || Symbol.asyncIterator in body ? limitedBody(body, this.limiter, signal) : body;
  }

  protected override async incoming(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.limiter) await this.limiter.take(bytes, signal);
  }
}

/** Message helper for auth failures: says which setting to fix. */
export { explainAuth } from './api.js';
