/**
 * Connections that hold the server without using it: too many from one address, request
 * heads that never finish, request bodies that trickle (slow-loris). Fastify sets no
 * request timeout (a share-link upload may rightly stream for hours), so without this 500
 * connections sending a byte every 10 s were held for ever, and with a low limit of open
 * files `/healthz` failed for everyone (issue 10, item 4).
 *
 * - Per address: at most `maxPerAddress` open connections; one more is closed as soon as it
 *   is accepted (before TLS, before a byte is read).
 * - Request heads: once the first byte of a request head arrives, the whole head must follow
 *   within `headersTimeoutMs`; a new connection must send a whole head within that time too.
 *   HTTP/2 alike, for a connection with no request in flight: bytes arriving there start the
 *   clock, and a request (a stream whose headers are complete) must come of them in that time,
 *   else the connection is closed. Without it a client trickling a HEADERS frame a byte a
 *   second held its connection for as long as it liked (a second's HTTP/1.1 head was cut at
 *   the limit). So an HTTP/2 connection whose client sends anything (a WINDOW_UPDATE, a PING)
 *   after its last answer is closed that long after, as an idle one is by the session timeout.
 *   With requests in flight, each stream's headers must be complete within that time of
 *   their first frame (nghttp2 opens the stream then; Node shows it once they are whole):
 *   before, a HEADERS frame trickled beside a slow download held its connection for ever.
 *   (Idle keep-alive connections are closed by Fastify's keep-alive timeout; idle HTTP/2
 *   sessions by its session timeout.)
 * - Request bodies (HTTP/1.x and HTTP/2 streams): over every window of `bodyTimeoutMs`, at
 *   least `bodyMinRate` bytes per second must arrive (Apache's mod_reqtimeout `MinRate`,
 *   measured per window rather than in total, so an upload that stalls is cut even after a
 *   fast start). A body the server itself is not reading (its bytes wait in the request's
 *   buffer: the server is the slow side) is never held against the client. A body that
 *   fails is answered `408 FERRY_ERR_TIMEOUT` when nothing was answered yet, and its
 *   connection (HTTP/2: its stream) closed.
 * - Answers (HTTP/1.x and HTTP/2 streams): one whose client takes none of its bytes for
 *   `bodyTimeoutMs` while the server has more to send (its buffer full, no `drain`) is cut:
 *   the HTTP/1.x connection closed, the HTTP/2 stream reset (CANCEL). nginx's `send_timeout`.
 *   Without it a client that never read a download (a share link's, no account needed), or
 *   granted no HTTP/2 flow-control window, held its connection and the file's read buffers
 *   for as long as it liked, and on HTTP/2 could trickle another stream's head beside it.
 *
 * Time here is the process's monotonic clock, not the server's injectable one: these are
 * real seconds on the wire.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse, ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { TimeoutError } from '../core/errors.js';
import { awaitsContinue } from './expect-continue.js';
import { addressKey } from './ip-filter.js';

// HTTP/2 error codes (RFC 9113 §7), as node:http2's constants name them; that module (and TLS
// with it) is loaded only by a server with TLS, so a plain-HTTP start does not load it for these.
const NGHTTP2_NO_ERROR = 0x0;
const NGHTTP2_CANCEL = 0x8;

export interface ConnectionLimits {
  /** Open connections per client address; 0: no limit. */
  maxPerAddress: number;
  /** A request head must arrive within this (ms); 0: no limit. */
  headersTimeoutMs: number;
  /** The window over which a request body's rate is measured (ms); 0: no body limit. */
  bodyTimeoutMs: number;
  /** Bytes per second a request body must reach over each window (at least one byte per window). */
  bodyMinRate: number;
}

/**
 * How long a TLS handshake may take (Node's `handshakeTimeout`, set when the server is made):
 * `--headers-timeout`, at least 5 s (a handshake is a few round trips and a signature, which
 * a client on a slow link or a loaded machine may take a second or two over), and Node's
 * 120 s when the head limit is 0. The head clocks below start once the handshake is done;
 * before, a client that sent nothing, or trickled its ClientHello, held the connection for
 * Node's 120 s whatever the head limit (thirteenth security round). Node's timer is not
 * reset by handshake bytes (a ClientHello trickled a byte every 300 ms was cut on time).
 */
export function handshakeTimeoutOf(limits: ConnectionLimits): number {
  return limits.headersTimeoutMs > 0 ? Math.max(limits.headersTimeoutMs, MIN_HANDSHAKE_TIMEOUT_MS) : NODE_HANDSHAKE_TIMEOUT_MS;
}

const MIN_HANDSHAKE_TIMEOUT_MS = 5_000;
const NODE_HANDSHAKE_TIMEOUT_MS = 120_000;

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxPerAddress: 128,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 60_000,
  bodyMinRate: 1024,
};

/** What the guard reports (the server counts these in its metrics and logs them). */
export interface SlowClientEvents {
  refused?(address: string): void;
  /** `request`: the request cut (a body or an answer); none for a head. */
  cut?(address: string, why: 'head' | 'body' | 'answer', request?: AnyRequest): void;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

/** A request whose body is arriving. */
interface Body {
  req: AnyRequest;
  res: AnyResponse;
  bytes: number;
  /** When the current window ends, and the body's bytes when it began. */
  windowEnd: number;
  windowBytes: number;
}

/** An answer being sent: since when its client has taken none of it while more waits (undefined: not stalled). */
interface Answer {
  req: AnyRequest;
  res: AnyResponse;
  stalledSince?: number;
}

/** An HTTP/1.x connection between requests (or before its first), or an HTTP/2 one with none in flight. */
interface Waiting {
  since: number;
  bytesAtStart: number;
  /** When the first byte of a head was seen (at a tick). */
  headSeen?: number;
  fresh: boolean;
}

/** An HTTP/2 connection as the guard sees it. */
interface SessionState {
  open: number;
  waiting?: Waiting;
  /** The highest stream id whose headers were complete (a request). */
  seen: number;
  /** A stream nghttp2 opened whose headers are not yet complete, and since when (at a tick). */
  heading?: { id: number; since: number };
}

/** `::ffff:1.2.3.4` and `1.2.3.4` are one address; so is every address of one IPv6 /64 (addressKey). */
function addressOf(socket: Socket): string {
  return addressKey(socket.remoteAddress ?? 'unknown');
}

function hasBody(req: AnyRequest): boolean {
  if (req.httpVersionMajor >= 2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

export class SlowClientGuard {
  private readonly perAddress = new Map<string, number>();
  private readonly bodies = new Set<Body>();
  private readonly answers = new Set<Answer>();
  private readonly waiting = new Map<Socket, Waiting>();
  /** HTTP/2 connections: their requests in flight, and while there are none, since when. */
  private readonly sessions = new Map<ServerHttp2Session, SessionState>();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    server: HttpServer | Http2SecureServer,
    private readonly limits: ConnectionLimits,
    private readonly events: SlowClientEvents = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    // Before Node's own listener: a refused connection never gets a parser.
    server.prependListener('connection', (socket: Socket) => this.onConnection(socket));
    const tls = 'setSecureContext' in server;
    // HTTP/1.x sockets: the plain socket, or the TLS socket once ALPN chose HTTP/1.1.
    if (tls) server.on('secureConnection', (socket: Socket & { alpnProtocol?: string | false }) => socket.alpnProtocol !== 'h2' && this.startWaiting(socket, true));
    else server.on('connection', (socket: Socket) => !socket.destroyed && this.startWaiting(socket, true));
    if (tls) server.on('session', (session: ServerHttp2Session) => this.watchSession(session));
    if (tls) server.prependListener('tlsClientError', (err: Error & { code?: string }, socket: Socket) => this.onTlsClientError(err, socket));
    server.prependListener('request', (req: AnyRequest, res: AnyResponse) => this.onRequest(req, res));
    const tick = Math.max(10, Math.min(1000, Math.floor(Math.min(limits.headersTimeoutMs || Infinity, limits.bodyTimeoutMs || Infinity) / 4)));
    if (Number.isFinite(tick) && (limits.headersTimeoutMs > 0 || limits.bodyTimeoutMs > 0)) {
      this.timer = setInterval(() => this.check(), tick);
      this.timer.unref();
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Open connections from one address now (tests, metrics). */
  connectionsFrom(address: string): number {
    return this.perAddress.get(addressKey(address)) ?? 0;
  }

  private onConnection(socket: Socket): void {
    const address = addressOf(socket);
    const open = (this.perAddress.get(address) ?? 0) + 1;
    if (this.limits.maxPerAddress > 0 && open > this.limits.maxPerAddress) {
      this.events.refused?.(address);
      socket.destroy();
      return;
    }
    this.perAddress.set(address, open);
    socket.once('close', () => {
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
      this.waiting.delete(socket);
    });
  }

  /**
   * A TLS handshake over its time (`handshakeTimeoutOf`, which the server passes to Node):
   * Node reports it here, before its own listener closes the socket. Counted as a head cut
   * (the handshake is the first part of the head), and closed here too: Node's listener
   * leaves that to a `clientError` listener when there is one.
   */
  private onTlsClientError(err: Error & { code?: string }, socket: Socket): void {
    if (err.code !== 'ERR_TLS_HANDSHAKE_TIMEOUT') return;
    this.events.cut?.(addressOf(socket), 'head');
    socket.destroy();
  }

  private startWaiting(socket: Socket, fresh: boolean): void {
    if (this.limits.headersTimeoutMs <= 0 || socket.destroyed) return;
    this.waiting.set(socket, { since: this.now(), bytesAtStart: socket.bytesRead, fresh });
  }

  /** An HTTP/2 connection: waits for a request whenever none is in flight (see the file's comment). */
  private watchSession(session: ServerHttp2Session): void {
    if (this.limits.headersTimeoutMs <= 0) return;
    const socket = session.socket as unknown as Socket;
    // Fresh: the connection preface counts as the first bytes of a head.
    const state: SessionState = { open: 0, seen: 0, waiting: { since: this.now(), bytesAtStart: 0, fresh: true } };
    this.sessions.set(session, state);
    // 'stream' comes once a stream's headers are complete: a request, not a head under way.
    session.on('stream', (stream) => {
      state.open++;
      state.seen = Math.max(state.seen, stream.id ?? 0);
      state.waiting = undefined;
      stream.once('close', () => {
        if (--state.open === 0 && !session.destroyed) state.waiting = { since: this.now(), bytesAtStart: socket.bytesRead, fresh: false };
      });
    });
    session.once('close', () => this.sessions.delete(session));
  }

  /** Whether a connection waiting for a head has waited too long (`w.headSeen` set at the first tick that sees bytes). */
  private headOverdue(w: Waiting, bytesRead: number, now: number): boolean {
    if (w.headSeen === undefined && bytesRead > w.bytesAtStart) w.headSeen = now;
    const since = w.headSeen ?? (w.fresh ? w.since : undefined);
    return since !== undefined && now - since >= this.limits.headersTimeoutMs;
  }

  /**
   * Whether a stream's headers have been under way too long beside requests in flight.
   * nghttp2 opens a stream when its HEADERS frame begins (`lastProcStreamID`), Node shows
   * it only once its header block is complete: an id above the last complete one is a head
   * under way. Closes the connection, as an HTTP/1.1 head overdue does: while a header block
   * arrives no other frame can (RFC 9113 §6.10), so the requests beside it are stalled anyway.
   * A header block nghttp2 refused (too large, malformed) leaves such an id behind too, until
   * the client's next request; it counts the same, as bytes after it would on an idle connection.
   */
  private streamHeadOverdue(session: ServerHttp2Session, state: SessionState, now: number): boolean {
    if (state.open === 0) return false; // the waiting clock above covers it
    const id = session.state.lastProcStreamID ?? 0;
    if (id <= state.seen) {
      state.heading = undefined;
      return false;
    }
    if (state.heading?.id !== id) state.heading = { id, since: now };
    return now - state.heading.since >= this.limits.headersTimeoutMs;
  }

  private onRequest(req: AnyRequest, res: AnyResponse): void {
    const h1 = req.httpVersionMajor < 2;
    if (h1) {
      const socket = req.socket;
      this.waiting.delete(socket);
      // The next head is awaited once this response is done (pipelined or keep-alive).
      res.once('close', () => {
        if (!socket.destroyed) this.startWaiting(socket, false);
      });
    }
    if (this.limits.bodyTimeoutMs <= 0) return;
    this.watchAnswer(req, res);
    if (!hasBody(req)) return;
    const now = this.now();
    const body: Body = { req, res, bytes: 0, windowEnd: now + this.limits.bodyTimeoutMs, windowBytes: 0 };
    // Every body byte reaches the request stream through push() (HTTP/1 parser and HTTP/2
    // stream alike): counting there measures this request alone, even on a shared HTTP/2
    // connection, without reading anything the handler would then miss.
    const push = req.push.bind(req);
    req.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      if (chunk !== null && chunk !== undefined) body.bytes += (chunk as { length: number }).length;
      return push(chunk as Buffer, encoding);
    };
    this.bodies.add(body);
    const done = (): void => void this.bodies.delete(body);
    req.once('end', done);
    req.once('close', done);
    res.once('close', () => {
      if (req.complete) done();
    });
  }

  private watchAnswer(req: AnyRequest, res: AnyResponse): void {
    const answer: Answer = { req, res };
    this.answers.add(answer);
    // Each drain is the client taking bytes: the stall, if any, starts over.
    res.on('drain', () => (answer.stalledSince = undefined));
    res.once('close', () => this.answers.delete(answer));
  }

  /** Whether the answer's writer waits for its client to take bytes (HTTP/2: the stream's, flow control included). */
  private static waitsForClient(answer: Answer): boolean {
    const writable = answer.req.httpVersionMajor >= 2 ? (answer.res as Http2ServerResponse).stream : (answer.res as ServerResponse);
    return writable.writableNeedDrain === true;
  }

  private checkAnswer(answer: Answer, now: number): void {
    if (answer.res.writableFinished || answer.res.destroyed) {
      this.answers.delete(answer);
      return;
    }
    if (!SlowClientGuard.waitsForClient(answer)) {
      answer.stalledSince = undefined;
      return;
    }
    answer.stalledSince ??= now;
    if (now - answer.stalledSince < this.limits.bodyTimeoutMs) return;
    this.answers.delete(answer);
    const { req, res } = answer;
    const h2req = req.httpVersionMajor >= 2 ? (req as Http2ServerRequest) : undefined;
    this.events.cut?.(h2req ? addressOf(h2req.stream.session?.socket as Socket) : addressOf(req.socket as Socket), 'answer', req);
    if (h2req) h2req.stream.close(NGHTTP2_CANCEL);
    else (res as ServerResponse).socket?.destroy();
  }

  private check(): void {
    const now = this.now();
    for (const body of this.bodies) this.checkBody(body, now);
    for (const answer of this.answers) this.checkAnswer(answer, now);
    if (this.limits.headersTimeoutMs > 0) {
      for (const [socket, w] of this.waiting) {
        if (socket.destroyed) {
          this.waiting.delete(socket);
          continue;
        }
        if (this.headOverdue(w, socket.bytesRead, now)) {
          this.waiting.delete(socket);
          this.events.cut?.(addressOf(socket), 'head');
          socket.destroy();
        }
      }
      for (const [session, state] of this.sessions) {
        if (session.destroyed) {
          this.sessions.delete(session);
          continue;
        }
        const socket = session.socket as unknown as Socket;
        if ((state.waiting && this.headOverdue(state.waiting, socket.bytesRead, now)) || this.streamHeadOverdue(session, state, now)) {
          this.sessions.delete(session);
          this.events.cut?.(addressOf(socket), 'head');
          session.destroy();
        }
      }
    }
  }

  private checkBody(body: Body, now: number): void {
    const { req } = body;
    if (req.complete || req.destroyed) {
      this.bodies.delete(body);
      return;
    }
    // Bytes wait unread in the request's buffer, or the client waits for the 100 Continue
    // that the server sends when it reads (./expect-continue.ts): the server is behind, not the client.
    if (req.readableLength > 0 || awaitsContinue(req)) {
      body.windowEnd = now + this.limits.bodyTimeoutMs;
      body.windowBytes = body.bytes;
      return;
    }
    if (now < body.windowEnd) return;
    const needed = Math.max(1, (this.limits.bodyMinRate * this.limits.bodyTimeoutMs) / 1000);
    if (body.bytes - body.windowBytes >= needed) {
      body.windowEnd = now + this.limits.bodyTimeoutMs;
      body.windowBytes = body.bytes;
      return;
    }
    this.bodies.delete(body);
    this.cutBody(body);
  }

  /** Answers 408 if nothing was answered yet, then closes the connection (HTTP/2: the stream). */
  private cutBody(body: Body): void {
    const { req, res } = body;
    const h2req = req.httpVersionMajor >= 2 ? (req as Http2ServerRequest) : undefined;
    this.events.cut?.(h2req ? addressOf(h2req.stream.session?.socket as Socket) : addressOf(req.socket as Socket), 'body', req);
    const why = new TimeoutError(`the request body arrived too slowly (less than ${this.limits.bodyMinRate} bytes/s over ${this.limits.bodyTimeoutMs / 1000} s)`);
    // HTTP/2: a stream whose response is complete is closed with NO_ERROR, which asks the
    // client to stop sending without an error (RFC 9113 §8.1); one cut mid-response, CANCEL.
    // The request is destroyed too: once its answer is sent, closing the socket no longer
    // reaches it (Node detaches a request from its socket when the response finishes), and
    // whoever reads its body (a streamed upload) would wait for the rest for ever, holding its
    // upload session and its room in the stream budget.
    const close = (): void => {
      if (h2req) h2req.stream.close(res.writableFinished ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
      else (req.socket as Socket).destroy();
      if (!req.destroyed) req.destroy(why);
    };
    if (res.headersSent || res.writableEnded) {
      close();
      return;
    }
    const payload = JSON.stringify({ error: { code: why.code, message: why.message } });
    const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) };
    if (!h2req) headers.connection = 'close';
    res.once('close', close);
    (res as ServerResponse).writeHead(408, headers);
    (res as ServerResponse).end(payload, close);
  }
}
