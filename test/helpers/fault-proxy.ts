/**
 * A fault-injecting HTTP proxy in front of a real Ferry server, for the SDK's tests.
 *
 * Every request is forwarded to the server as is (bodies streamed both ways) unless a
 * rule matches it (method + path regex, a number of times, optionally after letting the
 * first few through). A rule can:
 *   - answer with an error status, a JSON error body and `Retry-After` instead of forwarding;
 *   - drop the connection before forwarding (the server never sees the request) or after
 *     (the server acted, the client never hears the answer);
 *   - expire the upload session genuinely: the proxy aborts it on the real server
 *     (`DELETE /api/v1/uploads/:id`, with the request's own token) and then forwards the
 *     request, which the server answers as it would any request of a vanished session;
 *   - run a hook before forwarding (white-box meddling with the server's stores);
 *   - rewrite the server's answer (damage on the way, or an older server's capabilities).
 *
 * The proxy logs every request with the bytes that crossed it in each direction, so tests
 * can assert what travelled (bodies sent, bodies served, round trips) without a double.
 */
import { createServer, request as httpRequest, Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  /** Path without the query string, as sent (percent-encoded). */
  path: string;
  headers: IncomingMessage['headers'];
}

export interface FaultRule {
  method?: string;
  /** Matched against the request path (without query). */
  path: RegExp;
  /** Matching requests let through untouched before the rule starts to act (default 0). */
  skip?: number;
  /** How many matching requests the rule acts on (default 1); counts down. */
  times?: number;
  /** Answer with this status and a `{error:{code,message}}` body instead of forwarding. */
  status?: number;
  /** The error code of that answer (default FERRY_ERR_INTERNAL). */
  code?: string;
  /** Adds `Retry-After: N` to that answer. */
  retryAfterSeconds?: number;
  /** Drop the connection: before forwarding (the server never sees it) or after (its answer is lost). */
  drop?: 'before' | 'after';
  /** Abort the request's upload session on the real server, then forward. */
  expireSession?: boolean;
  /** Runs before the request is forwarded (after `expireSession`). */
  before?: (req: ProxiedRequest) => void | Promise<void>;
  /** Forwards, then relays `rewrite(answer body)` instead of the body (Content-Length adjusted). */
  rewrite?: (body: Buffer) => Buffer;
  /** Forwards, relays the first this many bytes of the answer's body, then cuts the connection. */
  cutAfterBytes?: number;
  /**
   * Forwards and relays the whole body, but chunked (no Content-Length) and without its
   * final empty chunk, then cuts the connection: the client holds every byte but never
   * learns that the answer was complete, as when a server dies right after its last write.
   */
  cutBeforeEnd?: boolean;
}

export interface ProxyLogEntry {
  method: string;
  path: string;
  /** The Range header asked for, if any. */
  range?: string;
  /** When the request arrived (performance.now()). */
  at: number;
  /** The status the client saw; undefined while in flight or when the connection was dropped. */
  status?: number;
  /** Request body bytes received from the client. */
  bytesIn: number;
  /** Response body bytes sent to the client. */
  bytesOut: number;
  /** What a rule did to it, if anything. */
  fault?: 'status' | 'drop-before' | 'drop-after' | 'expire-session' | 'hook' | 'rewrite' | 'cut' | 'cut-before-end';
}

export class FaultProxy {
  readonly rules: FaultRule[] = [];
  readonly log: ProxyLogEntry[] = [];
  /** Called for every request before rules apply (tests count requests or abort clients here). */
  onRequest?: (req: ProxiedRequest) => void;
  url = '';
  private server?: Server;
  private readonly target: URL;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(target: string) {
    this.target = new URL(target);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.agent.destroy();
  }

  /** Log entries matching a method and a path pattern. */
  requests(method: string | undefined, path: RegExp): ProxyLogEntry[] {
    return this.log.filter((l) => (method === undefined || l.method === method) && path.test(l.path));
  }

  /** Request body bytes clients sent on matching requests. */
  bytesIn(method: string | undefined, path: RegExp): number {
    return this.requests(method, path).reduce((a, l) => a + l.bytesIn, 0);
  }

  /** Response body bytes clients received on matching requests. */
  bytesOut(method: string | undefined, path: RegExp): number {
    return this.requests(method, path).reduce((a, l) => a + l.bytesOut, 0);
  }

  private match(req: ProxiedRequest): FaultRule | undefined {
    for (const rule of this.rules) {
      if (rule.method !== undefined && rule.method !== req.method) continue;
      if (!rule.path.test(req.path)) continue;
      if ((rule.skip ?? 0) > 0) {
        rule.skip = (rule.skip ?? 0) - 1;
        continue;
      }
      if ((rule.times ?? 1) <= 0) continue;
      rule.times = (rule.times ?? 1) - 1;
      return rule;
    }
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const info: ProxiedRequest = { method: req.method ?? 'GET', path: url.split('?')[0], headers: req.headers };
    const entry: ProxyLogEntry = { method: info.method, path: info.path, at: performance.now(), bytesIn: 0, bytesOut: 0 };
    if (req.headers.range !== undefined) entry.range = req.headers.range;
    this.log.push(entry);
    this.onRequest?.(info);
    const rule = this.match(info);

    if (rule?.drop === 'before' || rule?.status !== undefined) {
      await drain(req, entry);
      if (rule.drop === 'before') {
        entry.fault = 'drop-before';
        req.socket.destroy();
        return;
      }
      entry.fault = 'status';
      const body = JSON.stringify({ error: { code: rule.code ?? 'FERRY_ERR_INTERNAL', message: 'injected by the fault proxy' } });
      const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
      if (rule.retryAfterSeconds !== undefined) headers['retry-after'] = String(rule.retryAfterSeconds);
      entry.status = rule.status;
      entry.bytesOut = Buffer.byteLength(body);
      res.writeHead(rule.status!, headers).end(body);
      return;
    }
    if (rule?.expireSession) {
      entry.fault = 'expire-session';
      const id = /\/api\/v1\/uploads\/([^/]+)/.exec(info.path)?.[1];
      if (!id) throw new Error(`expireSession on ${info.path}: no upload id in the path`);
      await this.forwardOnly('DELETE', `/api/v1/uploads/${id}`, { authorization: String(req.headers.authorization ?? '') });
    }
    if (rule?.before) {
      entry.fault ??= 'hook';
      await rule.before(info);
    }
    if (rule?.rewrite) entry.fault = 'rewrite';
    if (rule?.cutAfterBytes !== undefined) entry.fault = 'cut';
    if (rule?.cutBeforeEnd) entry.fault = 'cut-before-end';
    await this.forward(req, res, entry, rule?.drop === 'after', rule?.rewrite, rule?.cutAfterBytes, rule?.cutBeforeEnd);
  }

  /** Forwards the request to the server and relays its answer (or, with `dropAnswer`, cuts the connection instead). */
  private forward(req: IncomingMessage, res: ServerResponse, entry: ProxyLogEntry, dropAnswer: boolean, rewrite?: (body: Buffer) => Buffer, cutAfterBytes?: number, cutBeforeEnd?: boolean): Promise<void> {
    return new Promise((resolve) => {
      const upstream = httpRequest(
        { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: req.headers, agent: this.agent },
        (up) => {
          if (dropAnswer) {
            entry.fault = 'drop-after';
            // The server has answered, so it has acted; the client never learns how.
            up.resume();
            up.once('end', () => {
              req.socket.destroy();
              resolve();
            });
            return;
          }
          entry.status = up.statusCode;
          if (rewrite) {
            const parts: Buffer[] = [];
            up.on('data', (d: Buffer) => parts.push(d));
            up.once('end', () => {
              const body = rewrite(Buffer.concat(parts));
              entry.bytesOut = body.length;
              const headers = { ...up.headers, 'content-length': String(body.length) };
              delete headers['transfer-encoding'];
              res.writeHead(up.statusCode ?? 502, headers).end(body);
              resolve();
            });
            return;
          }
          if (cutBeforeEnd) {
            const headers = { ...up.headers };
            delete headers['content-length'];
            res.writeHead(up.statusCode ?? 502, headers); // Node sends it chunked
            up.on('data', (d: Buffer) => {
              entry.bytesOut += d.length;
              res.write(d);
            });
            up.once('end', () => {
              // Every byte is written; the connection ends (after flushing them) before the
              // terminating chunk.
              setImmediate(() => req.socket.end());
              resolve();
            });
            return;
          }
          res.writeHead(up.statusCode ?? 502, up.headers);
          if (cutAfterBytes !== undefined) {
            up.on('data', (d: Buffer) => {
              const n = Math.min(d.length, cutAfterBytes - entry.bytesOut);
              if (n > 0) res.write(d.subarray(0, n));
              entry.bytesOut += n;
              if (entry.bytesOut >= cutAfterBytes) {
                up.destroy();
                // what was written reaches the client before the connection goes
                res.once('finish', () => req.socket.destroy()).end();
                resolve();
              }
            });
            up.once('end', () => {
              res.end();
              resolve();
            });
            return;
          }
          up.on('data', (d: Buffer) => (entry.bytesOut += d.length));
          up.pipe(res);
          up.once('end', () => resolve());
          up.once('error', () => {
            res.destroy();
            resolve();
          });
        },
      );
      // Counted as the body flows: a listener added earlier would start the flow before the pipe.
      req.on('data', (d: Buffer) => (entry.bytesIn += d.length));
      upstream.once('error', () => {
        // The server cut the connection (as it does on a chunk found corrupt mid-stream):
        // so does the proxy.
        if (!res.headersSent) req.socket.destroy();
        else res.destroy();
        resolve();
      });
      req.pipe(upstream);
    });
  }

  /** A request of the proxy's own to the server; its answer is read and dropped. */
  private forwardOnly(method: string, path: string, headers: Record<string, string>): Promise<number> {
    return new Promise((resolve, reject) => {
      const r = httpRequest({ host: this.target.hostname, port: this.target.port, method, path, headers, agent: this.agent }, (up) => {
        up.resume();
        up.once('end', () => resolve(up.statusCode ?? 0));
      });
      r.once('error', reject);
      r.end();
    });
  }
}

/** Reads and discards a request body, counting it. */
async function drain(req: IncomingMessage, entry: ProxyLogEntry): Promise<void> {
  if (req.readableEnded) return;
  await new Promise<void>((resolve) => {
    req.on('data', (d: Buffer) => (entry.bytesIn += d.length));
    req.on('end', resolve);
    req.on('error', () => resolve());
  });
}
