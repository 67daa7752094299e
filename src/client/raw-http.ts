/**
 * A lean HTTP/1.1 client for the bulk of a download: the ranged `GET /files` of the native
 * client's chunk runs, over plain http. Each socket reads straight into buffers its caller
 * hands out (net.Socket's `onread`): a chunk's bytes land in the chunk's own buffer, with no
 * buffer allocated per socket read, no stream, no parser copy and no garbage to collect.
 *
 * Why not undici here (it carries every other request): for a 256 MiB download pinned to
 * one core, undici's socket reads, WebAssembly parser and body stream cost 0.58-0.69 s of
 * user CPU against 0.30-0.39 s for the same reads, SHA-256 and writes done this way (the
 * SHA-256 alone is about 0.15 s); measured 2026-12-04, issue 15.
 *
 * Only what those requests need: GET without a body, one request at a time per connection,
 * keep-alive, Content-Length or chunked bodies (or up to the close), a timeout while waiting
 * and between reads, an AbortSignal. https goes through undici (TLS sockets read their own
 * way); so does everything that is not marked `bulk` (../client/wire.ts).
 */
import { connect, type Socket } from 'node:net';
import type { BodySink, WireRequest, WireResponse, WireResponseBody } from './wire.js';


/** Largest response head (status line and headers), and the connection's staging area. */
const HEAD_BYTES = 64 * 1024;

/** An error with a code errorFromTransport (./wire.ts) classifies as undici's. */
function wireError(code: string, message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[\0\r\n]/;

/** A GET request's head; refuses what would let a header or the path smuggle a second request. */
function requestHead(path: string, host: string, headers: Record<string, string>): string {
  if (!/^\/[\x21-\x7e]*$/.test(path)) throw wireError('UND_ERR_INVALID_ARG', `invalid request path ${JSON.stringify(path)}`);
  let head = `GET ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name) || BAD_VALUE.test(value)) throw wireError('UND_ERR_INVALID_ARG', `invalid header ${JSON.stringify(name)}`);
    if (name.toLowerCase() === 'host' || name.toLowerCase() === 'connection') continue;
    head += `${name}: ${value}\r\n`;
  }
  return head + '\r\n';
}

interface Head {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Body framing: a length, chunked, or up to the close. */
  length: number | 'chunked' | 'close';
  keepAlive: boolean;
}

/** Parses a response head (without its final CRLF CRLF); throws a protocol error on anything malformed. */
function parseHead(text: string, bodiless: boolean): Head {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0]);
  if (!m) throw wireError('HPE_INVALID_CONSTANT', `malformed status line ${JSON.stringify(lines[0].slice(0, 80))}`);
  const status = Number(m[2]);
  if (status < 100 || status === 101) throw wireError('HPE_INVALID_STATUS', `unexpected status ${status}`);
  const headers: Record<string, string | string[] | undefined> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) throw wireError('HPE_INVALID_HEADER_TOKEN', `malformed header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const had = headers[name];
    headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  const connection = String(headers.connection ?? '').toLowerCase();
  let keepAlive = m[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
  let length: Head['length'];
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (bodiless || status === 204 || status === 304) length = 0;
  else if (te !== undefined) {
    if (String(te).toLowerCase() !== 'chunked') throw wireError('HPE_INVALID_TRANSFER_ENCODING', `transfer-encoding ${String(te)} is not supported`);
    if (cl !== undefined) throw wireError('HPE_UNEXPECTED_CONTENT_LENGTH', 'both content-length and transfer-encoding');
    length = 'chunked';
  } else if (cl !== undefined) {
    if (Array.isArray(cl) || !/^\d{1,15}$/.test(cl)) throw wireError('HPE_INVALID_CONTENT_LENGTH', `invalid content-length ${String(cl)}`);
    length = Number(cl);
  } else {
    length = 'close';
    keepAlive = false;
  }
  return { status, headers, length, keepAlive };
}

/**
 * Chunked transfer coding, decoded from the staging area into the sink (a copy: the framing
 * sits between the bytes). Only proxies would answer a ranged read this way; Ferry sends a
 * Content-Length.
 */
class ChunkedDecoder {
  /** Payload bytes left in the current chunk; -1 while a size line is read; -2 after the last chunk (trailers). */
  private left = -1;
  private line = '';
  done = false;

  /** Feeds `data`; calls `emit` with payload slices. Returns bytes of `data` after the body's end (must be none). */
  feed(data: Uint8Array, emit: (bytes: Uint8Array) => void): number {
    let at = 0;
    while (at < data.length && !this.done) {
      if (this.left > 0) {
        const n = Math.min(this.left, data.length - at);
        emit(data.subarray(at, at + n));
        at += n;
        this.left -= n;
        if (this.left === 0) this.left = -3; // the CRLF after the data
        continue;
      }
      const nl = data.indexOf(0x0a, at);
      const end = nl < 0 ? data.length : nl + 1;
      this.line += Buffer.from(data.buffer, data.byteOffset + at, end - at).toString('latin1');
      at = end;
      if (this.line.length > 4096) throw wireError('HPE_CHUNK_EXTENSIONS_OVERFLOW', 'chunk size line too long');
      if (nl < 0) break;
      const line = this.line.replace(/\r?\n$/, '');
      this.line = '';
      if (this.left === -3) {
        if (line !== '') throw wireError('HPE_INVALID_CHUNK_SIZE', 'no CRLF after chunk data');
        this.left = -1;
      } else if (this.left === -2) {
        if (line === '') this.done = true; // trailers end
      } else {
        const m = /^([0-9a-fA-F]{1,12})(?:;.*)?$/.exec(line);
        if (!m) throw wireError('HPE_INVALID_CHUNK_SIZE', `invalid chunk size line ${JSON.stringify(line.slice(0, 40))}`);
        const size = parseInt(m[1], 16);
        this.left = size === 0 ? -2 : size;
      }
    }
    return data.length - at;
  }
}

/** One keep-alive connection: one request at a time, reading into the buffers of the body being read. */
class RawConnection {
  readonly socket: Socket;
  /** Head and staging area: a response head, and body bytes read before a sink was there. */
  private readonly staging = Buffer.allocUnsafe(HEAD_BYTES);
  /** Bytes of the staging area not yet handed on: `[pendingFrom, stagingFill)`. */
  private stagingFill = 0;
  private pendingFrom = 0;
  private mode: 'idle' | 'head' | 'body' | 'dead' = 'idle';
  /** Where the next read goes, as `onread` was last told: the staging area at `targetAt`, or the sink's room. */
  private targetIsStaging = true;
  private targetAt = 0;
  private head?: Head;
  private bodyLeft = 0;
  private chunked?: ChunkedDecoder;
  private sink?: BodySink;
  /** Whether the socket reads (false once paused). */
  private reading = true;
  /** Whether the sink asked to wait (a promise of `filled` not settled yet). */
  private waitingSink = false;
  /** Settles the request (its head) or the body being read. */
  private waiter?: { resolve: (v?: unknown) => void; reject: (e: unknown) => void };
  private failure?: unknown;
  /** Whether the response being read has sent any byte (a reused connection closed before that may be retried). */
  gotBytes = false;
  reused = false;
  /** Counts the requests sent: a response's body acts only while its request is the current one. */
  seq = 0;

  constructor(
    host: string,
    port: number,
    private readonly timeouts: { headersTimeout: number; bodyTimeout: number },
    private readonly onIdle: (c: RawConnection) => void,
  ) {
    this.socket = connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: () => this.nextTarget(),
        callback: (n: number) => this.onRead(n),
      },
    });
    const closed = () => this.fail(wireError('UND_ERR_SOCKET', 'other side closed'));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('end', closed);
    this.socket.on('close', closed);
    this.socket.on('timeout', () =>
      this.fail(this.mode === 'idle' ? wireError('UND_ERR_SOCKET', 'idle too long') : wireError(this.mode === 'body' ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT', `no data for ${this.socket.timeout} ms`)),
    );
  }

  get alive(): boolean {
    return this.mode !== 'dead' && !this.socket.destroyed;
  }

  /** Sends a GET and resolves with its response once the head is in. */
  send(head: string): Promise<Head> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.seq++;
    this.gotBytes = false;
    this.stagingFill = this.pendingFrom = 0;
    this.mode = 'head';
    this.socket.ref();
    this.socket.setTimeout(this.timeouts.headersTimeout);
    this.resume();
    this.socket.write(head);
    return new Promise((resolve, reject) => (this.waiter = { resolve: resolve as (v?: unknown) => void, reject }));
  }

  /** The buffer of the next socket read (called by `onread` at the start and after each read). */
  private nextTarget(): Uint8Array {
    if (this.mode === 'body' && this.sink && !this.chunked && this.stagingFill === this.pendingFrom && this.bodyLeft > 0) {
      let room: Uint8Array;
      try {
        room = this.sink.room();
      } catch (err) {
        // (called from inside the socket's read machinery: never throw there)
        this.fail(err);
        room = new Uint8Array(0);
      }
      if (room.length > 0) {
        this.targetIsStaging = false;
        return room.length > this.bodyLeft ? room.subarray(0, this.bodyLeft) : room;
      }
    }
    // The staging area, from its start when everything in it was handed on.
    if (this.mode !== 'head' && this.stagingFill === this.pendingFrom) this.stagingFill = this.pendingFrom = 0;
    this.targetIsStaging = true;
    this.targetAt = this.stagingFill < this.staging.length ? this.stagingFill : 0;
    return this.staging.subarray(this.targetAt);
  }

  /** A socket read of `n` bytes landed; returns whether to keep reading. */
  private onRead(n: number): boolean {
    try {
      this.gotBytes = true;
      if (!this.targetIsStaging) {
        // Straight into the sink's room.
        this.bodyLeft -= n;
        this.afterFill(this.sink!.filled(n));
        return this.reading;
      }
      if (this.targetAt === this.stagingFill) this.stagingFill += n;
      else if (this.mode === 'body' && this.pendingFrom === this.stagingFill) {
        this.pendingFrom = this.targetAt;
        this.stagingFill = this.targetAt + n;
      } else if (this.targetAt > this.stagingFill) {
        // The read was placed before a new request started over (a head is parsed from the
        // start of the staging area): its bytes move to where they belong.
        this.staging.copyWithin(this.stagingFill, this.targetAt, this.targetAt + n);
        this.stagingFill += n;
      } else throw wireError('UND_ERR_INFO', 'internal: a read overlapped bytes not yet handed on');
      if (this.mode === 'head') this.onHeadBytes();
      else if (this.mode === 'body') this.pump();
      else throw wireError('UND_ERR_INFO', 'the server sent bytes while no request was waiting');
    } catch (err) {
      this.fail(err);
    }
    return this.reading && this.mode !== 'dead';
  }

  private onHeadBytes(): void {
    const end = this.staging.subarray(0, this.stagingFill).indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.stagingFill === this.staging.length) throw wireError('UND_ERR_HEADERS_OVERFLOW', `the response head is longer than ${HEAD_BYTES} bytes`);
      return;
    }
    const head = parseHead(this.staging.toString('latin1', 0, end), false);
    if (head.status < 200) {
      // An interim answer (103 Early Hints from a proxy, a stray 100 Continue): the real one follows.
      this.staging.copyWithin(0, end + 4, this.stagingFill);
      this.stagingFill -= end + 4;
      this.onHeadBytes();
      return;
    }
    this.head = head;
    this.pendingFrom = end + 4;
    this.mode = 'body';
    this.chunked = this.head.length === 'chunked' ? new ChunkedDecoder() : undefined;
    this.bodyLeft = typeof this.head.length === 'number' ? this.head.length : Infinity;
    this.socket.setTimeout(this.timeouts.bodyTimeout);
    // Nothing more until someone reads the body.
    if (!this.bodyComplete()) this.pause();
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve(this.head);
  }

  /** Hands bytes waiting in the staging area to the sink (a copy); pauses when the sink asks to or is not there yet. */
  private pump(): void {
    if (!this.sink) {
      this.pause();
      return;
    }
    while (this.pendingFrom < this.stagingFill && !this.waitingSink) {
      const data = this.staging.subarray(this.pendingFrom, this.stagingFill);
      if (this.chunked) {
        // The payload slices of what is here (views of the staging area, which is not read
        // into again until they are all handed on: the socket stays paused meanwhile).
        const slices: Uint8Array[] = [];
        const extra = this.chunked.feed(data, (bytes) => slices.push(bytes));
        this.pendingFrom = this.stagingFill - extra;
        if (this.chunked.done) {
          if (extra > 0) throw wireError('UND_ERR_INFO', 'bytes after the end of a chunked body');
          this.bodyLeft = 0;
        }
        this.afterFill(this.deliver(this.sink, slices, 0, 0));
        return;
      }
      const room = this.sink.room();
      const k = Math.min(room.length, data.length, this.bodyLeft);
      if (k === 0) throw wireError('UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'the server sent more than its content-length');
      room.set(data.subarray(0, k));
      this.pendingFrom += k;
      this.bodyLeft -= k;
      this.afterFill(this.sink.filled(k));
      if (this.mode !== 'body') return;
    }
  }

  /**
   * Hands `slices` (from slice `i`, byte `at`) to `sink`, one `filled` at a time: when the
   * sink asks to wait, the rest follows once it is ready (never a second `filled` while one
   * is pending: a sink may verify and reuse its buffers in between).
   */
  private deliver(sink: BodySink, slices: Uint8Array[], i: number, at: number): void | Promise<void> {
    for (; i < slices.length; i++, at = 0) {
      const bytes = slices[i];
      while (at < bytes.length) {
        const room = sink.room();
        if (room.length === 0) throw wireError('UND_ERR_INFO', 'the reader has no room for the rest of the body');
        const k = Math.min(room.length, bytes.length - at);
        room.set(bytes.subarray(at, at + k));
        at += k;
        const r = sink.filled(k);
        if (!r) continue;
        const [j, from] = at < bytes.length ? [i, at] : [i + 1, 0];
        if (j === slices.length) return r;
        return r.then(() => (this.sink === sink && this.mode === 'body' ? this.deliver(sink, slices, j, from) : undefined));
      }
    }
  }

  /** After bytes went to the sink: the body's end, or a pause while the sink's promise is pending. */
  private afterFill(r: void | Promise<void>): void {
    if (!r) {
      this.bodyComplete();
      return;
    }
    this.waitingSink = true;
    this.pause();
    r.then(
      () => {
        this.waitingSink = false;
        if (this.mode !== 'body') return;
        try {
          if (this.bodyComplete()) return;
          this.pump();
          if (this.mode === 'body' && !this.waitingSink) this.resume();
        } catch (err) {
          this.fail(err);
        }
      },
      (err: unknown) => this.fail(err),
    );
  }

  /** When the body is all in: settles the reader and hands the connection back (or closes it). */
  private bodyComplete(): boolean {
    if (this.mode !== 'body' || this.bodyLeft !== 0 || (this.chunked && !this.chunked.done)) return false;
    if (this.pendingFrom < this.stagingFill) throw wireError('UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'the server sent more than its content-length');
    const w = this.sink ? this.waiter : undefined;
    if (w) this.waiter = undefined;
    this.sink = undefined;
    if (this.head?.keepAlive) {
      this.mode = 'idle';
      this.stagingFill = this.pendingFrom = 0;
      this.socket.unref();
      this.reused = true;
      this.resume(); // an idle connection notices a close (and fails on bytes nobody asked for)
      this.onIdle(this);
    } else {
      this.mode = 'dead';
      this.socket.destroy();
    }
    w?.resolve();
    return true;
  }

  /** Reads the body of request `seq` into `sink`; resolves at its end. */
  readInto(seq: number, sink: BodySink): Promise<void> {
    if (seq !== this.seq) return Promise.resolve(); // its body was complete with its head
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.mode !== 'body') return Promise.resolve(); // a body without bytes, already complete
    this.sink = sink;
    const done = new Promise<void>((resolve, reject) => (this.waiter = { resolve: resolve as (v?: unknown) => void, reject }));
    try {
      this.pump();
      if (this.mode === 'body' && !this.waitingSink) this.resume();
    } catch (err) {
      this.fail(err);
    }
    return done;
  }

  private pause(): void {
    if (!this.reading) return;
    this.reading = false;
    this.socket.pause();
  }

  private resume(): void {
    if (this.reading) return;
    this.reading = true;
    this.socket.resume();
  }

  /** Fails request `seq` if it is still being answered (not once its connection serves another). */
  abandon(seq: number, err: unknown): void {
    if (seq === this.seq && (this.mode === 'head' || this.mode === 'body')) this.fail(err);
  }

  /** Ends the connection with `err` (the request or body waiting rejects). Idempotent. */
  fail(err: unknown): void {
    if (this.mode === 'dead' && this.waiter === undefined) return;
    // A body framed by the close ends well there (once its bytes are all handed on).
    if (this.mode === 'body' && this.head?.length === 'close' && (err as { code?: string }).code === 'UND_ERR_SOCKET' && this.sink && this.pendingFrom === this.stagingFill) {
      this.bodyLeft = 0;
      this.head.keepAlive = false;
      this.bodyComplete();
      return;
    }
    this.failure ??= err;
    this.mode = 'dead';
    this.socket.destroy();
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }
}

/** Plain-http connections to one origin for bulk GETs (see the module comment). */
export class RawHttpPool {
  private readonly idle: RawConnection[] = [];
  private closed = false;
  private readonly host: string;
  private readonly port: number;

  constructor(
    private readonly origin: URL,
    private readonly timeouts: { headersTimeout: number; bodyTimeout: number },
  ) {
    this.host = origin.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = origin.port ? Number(origin.port) : 80;
  }

  /** Sends a GET (`request.method` must be GET and carry no body). */
  async send(request: WireRequest): Promise<WireResponse> {
    if (request.method !== 'GET' || request.body !== undefined) throw wireError('UND_ERR_INVALID_ARG', 'bulk requests are GETs without a body');
    const u = new URL(request.url);
    const head = requestHead(u.pathname + u.search, this.origin.host, request.headers);
    for (let attempt = 0; ; attempt++) {
      const conn = this.take();
      try {
        return await this.exchange(conn, head, request.signal);
      } catch (err) {
        // A kept connection the server closed meanwhile: once more on a new one (a GET is safe to repeat).
        if (attempt === 0 && conn.reused && !conn.gotBytes && !request.signal?.aborted) continue;
        throw err;
      }
    }
  }

  private take(): RawConnection {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) if (c.alive) return c;
    return new RawConnection(this.host, this.port, this.timeouts, (c) => {
      if (this.closed) c.socket.destroy();
      else if (c.alive) this.idle.push(c);
    });
  }

  private async exchange(conn: RawConnection, head: string, signal?: AbortSignal): Promise<WireResponse> {
    if (signal?.aborted) throw wireError('UND_ERR_ABORTED', 'aborted');
    const sent = conn.send(head);
    const seq = conn.seq;
    const abort = () => conn.abandon(seq, wireError('UND_ERR_ABORTED', 'aborted'));
    signal?.addEventListener('abort', abort, { once: true });
    let h: Head;
    try {
      h = await sent;
    } catch (err) {
      signal?.removeEventListener('abort', abort);
      throw err;
    }
    const body = new RawBody(conn, seq, () => signal?.removeEventListener('abort', abort));
    return { statusCode: h.status, headers: h.headers, body };
  }

  /** Closes the idle connections, and each busy one once its answer is in. */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }
}

/** A response body of a {@link RawConnection}: read into buffers (readInto), or as pieces, text, or dumped. */
export class RawBody implements WireResponseBody {
  private used = false;

  constructor(
    private readonly conn: RawConnection,
    private readonly seq: number,
    private readonly settled: () => void,
  ) {}

  /** Reads the whole body into the sink's buffers (see {@link BodySink}). */
  async readInto(sink: BodySink): Promise<void> {
    if (this.used) throw new Error('the body was read already');
    this.used = true;
    try {
      await this.conn.readInto(this.seq, sink);
    } finally {
      this.settled();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const queue: Buffer[] = [];
    let consumer: (() => void) | undefined;
    let producer: (() => void) | undefined;
    let end: { err?: unknown } | undefined;
    let piece = Buffer.allocUnsafe(64 * 1024);
    // One wait for the producer, however many pieces arrive during it: a chunked body hands
    // a whole staging area on in one go (several `filled` calls), and each of those calls
    // must get the promise the consumer will settle, not one whose resolver was overwritten.
    let hold: Promise<void> | undefined;
    const wakeConsumer = () => {
      const w = consumer;
      consumer = undefined;
      w?.();
    };
    void this.readInto({
      room: () => piece,
      filled: (n) => {
        queue.push(piece.subarray(0, n));
        piece = Buffer.allocUnsafe(64 * 1024);
        wakeConsumer();
        // Hold the socket while the consumer is behind.
        if (queue.length >= 4)
          return (hold ??= new Promise<void>((r) => {
            producer = () => {
              hold = undefined;
              r();
            };
          }));
      },
    }).then(
      () => ((end = {}), wakeConsumer()),
      (err: unknown) => ((end = { err }), wakeConsumer()),
    );
    try {
      for (;;) {
        if (queue.length > 0) {
          const next = queue.shift()!;
          if (queue.length < 4) {
            const p = producer;
            producer = undefined;
            p?.();
          }
          yield next;
          continue;
        }
        if (end) {
          if (end.err !== undefined) throw end.err;
          return;
        }
        await new Promise<void>((r) => (consumer = r));
      }
    } finally {
      // A consumer that stopped early leaves the rest unread: the connection cannot be reused.
      if (!end) this.conn.abandon(this.seq, wireError('UND_ERR_ABORTED', 'the body was abandoned'));
    }
  }

  async text(): Promise<string> {
    const parts: Buffer[] = [];
    for await (const p of this) parts.push(Buffer.from(p));
    return Buffer.concat(parts).toString('utf8');
  }

  async dump(): Promise<void> {
    const scratch = Buffer.allocUnsafe(64 * 1024);
    if (!this.used) await this.readInto({ room: () => scratch, filled: () => undefined });
  }

  destroy(): void {
    this.conn.abandon(this.seq, wireError('UND_ERR_ABORTED', 'the body was abandoned'));
    if (!this.used) this.settled();
    this.used = true;
  }
}
