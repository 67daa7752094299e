/**
 * An in-memory stand-in for a Ferry server, speaking docs/protocol.md over real HTTP on
 * 127.0.0.1, with fault injection. It lets the SDK's tests provoke what a real server only
 * does under duress (a 503 with Retry-After, a dropped connection, a session that expires
 * mid-upload, a commit that reports missing chunks) deterministically and fast.
 *
 * It is a test double, not a reference: the real server (`ferry serve`) is what the
 * end-to-end suites in test/e2e run against.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ERROR_CODES, type FerryErrorCode } from '../../src/core/errors.js';
import { EMPTY_FILE_HASH, fileHashOf, type ChunkingParams, type ChunkRef } from '../../src/core/manifest.js';
import { normalizePath, parentPath, baseName, isWithin } from '../../src/core/path.js';
import type { Capabilities, Entry, ServerLimits } from '../../src/core/protocol.js';

const STATUS: Partial<Record<FerryErrorCode, number>> = {
  FERRY_ERR_VALIDATION: 400,
  FERRY_ERR_PATH_INVALID: 400,
  FERRY_ERR_HASH_INVALID: 400,
  FERRY_ERR_HASH_MISMATCH: 400,
  FERRY_ERR_SIZE_MISMATCH: 400,
  FERRY_ERR_CHUNK_NOT_IN_UPLOAD: 400,
  FERRY_ERR_AUTH_REQUIRED: 401,
  FERRY_ERR_AUTH_INVALID: 401,
  FERRY_ERR_NOT_FOUND: 404,
  FERRY_ERR_UPLOAD_NOT_FOUND: 404,
  FERRY_ERR_ALREADY_EXISTS: 409,
  FERRY_ERR_NOT_A_DIRECTORY: 409,
  FERRY_ERR_IS_A_DIRECTORY: 409,
  FERRY_ERR_DIRECTORY_NOT_EMPTY: 409,
  FERRY_ERR_UPLOAD_INCOMPLETE: 409,
  FERRY_ERR_UPLOAD_SEALED: 409,
  FERRY_ERR_RATE_LIMITED: 429,
  FERRY_ERR_INTERNAL: 500,
  FERRY_ERR_UNAVAILABLE: 503,
};

class HttpFail extends Error {
  constructor(
    readonly code: FerryErrorCode,
    message?: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message ?? ERROR_CODES[code].message);
  }
}

export interface Fault {
  method?: string;
  /** Matched against the request path (without query). */
  path: RegExp;
  /** How many matching requests to fail (default 1). */
  times?: number;
  /** Answer with this error... */
  code?: FerryErrorCode;
  status?: number;
  retryAfterSeconds?: number;
  /** ...or drop the connection without an answer, after reading the body. */
  drop?: boolean;
  /** ...or forget the upload session before answering normally (it "expired"). */
  expireSession?: boolean;
}

interface Node {
  type: 'file' | 'dir';
  mtime: number;
  mode?: number;
  size: number;
  hash?: string;
  chunks?: ChunkRef[];
}

interface SessionFile {
  path: string;
  size?: number;
  hash?: string;
  mtime?: number;
  mode?: number;
  chunks: ChunkRef[];
  sealed: boolean;
}

interface Session {
  id: string;
  files: SessionFile[];
  noOverwrite: boolean;
}

export const SMALL_CHUNKING: ChunkingParams = { algorithm: 'fastcdc-v1', minSize: 4096, avgSize: 16384, maxSize: 65536, normalization: 2 };

export interface ProtocolDoubleOptions {
  token?: string;
  chunking?: ChunkingParams;
  limits?: Partial<ServerLimits>;
}

export class ProtocolDouble {
  readonly token: string;
  readonly chunks = new Map<string, Buffer>();
  readonly nodes = new Map<string, Node>([['/', { type: 'dir', mtime: Date.now(), size: 0 }]]);
  readonly sessions = new Map<string, Session>();
  readonly faults: Fault[] = [];
  readonly metrics = { bodyBytes: 0, chunkBytesReceived: 0, chunksReceived: 0, chunkBytesServed: 0, chunksServed: 0, chunksDeduplicated: 0, requests: 0, packs: 0 };
  /** Called before each request is handled (tests use it to meddle with the state). */
  onRequest?: (method: string, path: string) => void;
  /** Every request as `METHOD path`, for assertions on round trips. */
  readonly log: string[] = [];
  readonly caps: Capabilities;
  private server?: Server;
  url = '';

  constructor(options: ProtocolDoubleOptions = {}) {
    this.token = options.token ?? 'test-token';
    const chunking = options.chunking ?? SMALL_CHUNKING;
    this.caps = {
      server: 'ferry',
      version: 'double',
      protocols: [1],
      hash: 'sha256',
      fileHash: 'sha256-tree-v1',
      chunking,
      limits: {
        maxChunkSize: chunking.maxSize,
        packThreshold: chunking.minSize * 2,
        maxPackBytes: 1024 * 1024,
        maxChunksPerRequest: 1000,
        maxFilesPerUpload: 1000,
        maxListLimit: 1000,
        uploadTtlSeconds: 3600,
        maxPathBytes: 4096,
        maxSegmentBytes: 255,
        ...options.limits,
      },
      features: [],
    };
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  fileBytes(path: string): Buffer {
    const n = this.nodes.get(path);
    if (!n || n.type !== 'file') throw new Error(`no file ${path}`);
    return Buffer.concat((n.chunks ?? []).map((c) => this.chunks.get(c.hash)!));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.metrics.requests++;
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    this.log.push(`${method} ${url.pathname}`);
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      if (body === undefined) {
        res.writeHead(status, headers).end();
      } else if (Buffer.isBuffer(body)) {
        res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': String(body.length), ...headers }).end(body);
      } else {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers }).end(text);
      }
    };
    try {
      const body = await readBody(req);
      if (/\/uploads\/[^/]+\/(chunks\/[0-9a-f]{64}|packs)$/.test(url.pathname)) this.metrics.bodyBytes += body.length;
      this.onRequest?.(method, url.pathname);
      const fault = this.faults.find((f) => (!f.method || f.method === method) && f.path.test(url.pathname) && (f.times ?? 1) > 0);
      if (fault) {
        fault.times = (fault.times ?? 1) - 1;
        if (fault.drop) {
          req.socket.destroy();
          return;
        }
        if (fault.expireSession) {
          const m = /\/uploads\/([^/]+)/.exec(url.pathname);
          if (m) this.sessions.delete(decodeURIComponent(m[1]));
        } else {
          const code = fault.code ?? 'FERRY_ERR_INTERNAL';
          const headers: Record<string, string> = fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {};
          return send(fault.status ?? STATUS[code] ?? 500, { error: { code, message: 'injected fault' } }, headers);
        }
      }
      if (url.pathname === '/api/v1/capabilities') return send(200, this.caps);
      const auth = req.headers.authorization;
      if (!auth) throw new HttpFail('FERRY_ERR_AUTH_REQUIRED');
      if (auth !== `Bearer ${this.token}`) throw new HttpFail('FERRY_ERR_AUTH_INVALID');
      const out = this.route(method, url, body);
      if (out.status === 204) return send(204);
      return send(out.status, out.body);
    } catch (err) {
      if (err instanceof HttpFail) return send(STATUS[err.code] ?? 500, { error: { code: err.code, message: err.message, details: err.details } });
      return send(500, { error: { code: 'FERRY_ERR_INTERNAL', message: String(err) } });
    }
  }

  private route(method: string, url: URL, body: Buffer): { status: number; body?: unknown } {
    const p = url.pathname;
    const q = url.searchParams;
    const json = () => JSON.parse(body.toString() || '{}');
    const tail = (prefix: string) => normalizePath(decodeURIComponent(p.slice(prefix.length)).split('/').map((s) => s).join('/') || '/');
    let m: RegExpExecArray | null;
    if (method === 'POST' && p === '/api/v1/uploads') return { status: 201, body: this.createUpload(json()) };
    if ((m = /^\/api\/v1\/uploads\/([^/]+)\/chunks$/.exec(p)) && method === 'POST') {
      const s = this.session(m[1]);
      const req = json();
      const f = s.files[req.file ?? 0];
      if (f.sealed) throw new HttpFail('FERRY_ERR_UPLOAD_SEALED');
      f.chunks.push(...req.chunks);
      return { status: 200, body: { missing: this.missingOf(req.chunks) } };
    }
    if ((m = /^\/api\/v1\/uploads\/([^/]+)\/chunks\/([0-9a-f]{64})$/.exec(p)) && method === 'PUT') {
      const s = this.session(m[1]);
      const h = m[2];
      if (!s.files.some((f) => f.chunks.some((c) => c.hash === h))) throw new HttpFail('FERRY_ERR_CHUNK_NOT_IN_UPLOAD');
      if (createHash('sha256').update(body).digest('hex') !== h) throw new HttpFail('FERRY_ERR_HASH_MISMATCH');
      const stored = !this.chunks.has(h);
      if (stored) {
        this.chunks.set(h, body);
        this.metrics.chunkBytesReceived += body.length;
        this.metrics.chunksReceived++;
      } else {
        this.metrics.chunksDeduplicated++;
      }
      return { status: 200, body: { hash: h, size: body.length, stored } };
    }
    if ((m = /^\/api\/v1\/uploads\/([^/]+)\/packs$/.exec(p)) && method === 'POST') {
      this.session(m[1]);
      const frames: Array<[string, Buffer]> = [];
      for (let o = 0; o < body.length; ) {
        const h = body.subarray(o, o + 32).toString('hex');
        const size = body.readUInt32BE(o + 32);
        const data = body.subarray(o + 36, o + 36 + size);
        if (data.length !== size || createHash('sha256').update(data).digest('hex') !== h) throw new HttpFail('FERRY_ERR_HASH_MISMATCH');
        frames.push([h, Buffer.from(data)]);
        o += 36 + size;
      }
      let stored = 0;
      let bytes = 0;
      for (const [h, d] of frames) {
        if (this.chunks.has(h)) {
          this.metrics.chunksDeduplicated++;
          continue;
        }
        this.chunks.set(h, d);
        stored++;
        bytes += d.length;
        this.metrics.chunkBytesReceived += d.length;
        this.metrics.chunksReceived++;
      }
      this.metrics.packs++;
      return { status: 200, body: { stored, duplicates: frames.length - stored, bytes } };
    }
    if ((m = /^\/api\/v1\/uploads\/([^/]+)$/.exec(p))) {
      const s = this.session(m[1]);
      if (method === 'DELETE') {
        this.sessions.delete(s.id);
        return { status: 204 };
      }
      return { status: 200, body: this.status(s) };
    }
    if ((m = /^\/api\/v1\/uploads\/([^/]+)\/commit$/.exec(p)) && method === 'POST') return { status: 200, body: this.commit(this.session(m[1]), json()) };
    if (p.startsWith('/api/v1/manifests/')) {
      const path = tail('/api/v1/manifests');
      const n = this.file(path);
      return { status: 200, body: { path, size: n.size, hash: n.hash, mtime: n.mtime, mode: n.mode, chunking: this.caps.chunking, chunks: n.chunks } };
    }
    if ((m = /^\/api\/v1\/chunks\/([0-9a-f]{64})$/.exec(p))) {
      const d = this.chunks.get(m[1]);
      if (!d) throw new HttpFail('FERRY_ERR_NOT_FOUND');
      this.metrics.chunkBytesServed += d.length;
      this.metrics.chunksServed++;
      return { status: 200, body: d };
    }
    if (p.startsWith('/api/v1/files/') || p === '/api/v1/files') {
      const path = tail('/api/v1/files');
      if (method === 'DELETE') return this.remove(path, q.get('recursive') === 'true');
      const n = this.file(path);
      const data = Buffer.concat((n.chunks ?? []).map((c) => this.chunks.get(c.hash)!));
      this.metrics.chunkBytesServed += data.length;
      return { status: 200, body: data };
    }
    if (p.startsWith('/api/v1/stat')) return { status: 200, body: this.entry(tail('/api/v1/stat')) };
    if (p.startsWith('/api/v1/list')) return { status: 200, body: this.list(tail('/api/v1/list'), q) };
    if (p.startsWith('/api/v1/mkdir') && method === 'POST') {
      const path = tail('/api/v1/mkdir');
      const parents = q.get('parents') === 'true';
      const ex = this.nodes.get(path);
      if (ex) {
        if (ex.type === 'dir' && parents) return { status: 201, body: this.entry(path) };
        throw new HttpFail('FERRY_ERR_ALREADY_EXISTS');
      }
      if (!parents && !this.nodes.has(parentPath(path))) throw new HttpFail('FERRY_ERR_NOT_FOUND');
      this.ensureParents(path);
      this.nodes.set(path, { type: 'dir', mtime: Date.now(), size: 0 });
      return { status: 201, body: this.entry(path) };
    }
    if ((p === '/api/v1/move' || p === '/api/v1/copy') && method === 'POST') {
      const { from, to, overwrite } = json();
      const src = normalizePath(from);
      const dst = normalizePath(to);
      const n = this.nodes.get(src);
      if (!n) throw new HttpFail('FERRY_ERR_NOT_FOUND');
      if (isWithin(dst, src)) throw new HttpFail('FERRY_ERR_VALIDATION');
      const ex = this.nodes.get(dst);
      if (ex && (ex.type === 'dir' || overwrite === false)) throw new HttpFail('FERRY_ERR_ALREADY_EXISTS');
      this.ensureParents(dst);
      for (const [k, v] of [...this.nodes]) {
        if (!isWithin(k, src)) continue;
        const nk = dst + k.slice(src.length);
        this.nodes.set(nk, { ...v });
        if (p === '/api/v1/move') this.nodes.delete(k);
      }
      return { status: 200, body: this.entry(dst) };
    }
    if (p === '/metrics') {
      const lines = [
        `ferry_chunk_bytes_received_total ${this.metrics.chunkBytesReceived}`,
        `ferry_chunks_received_total ${this.metrics.chunksReceived}`,
        `ferry_chunk_bytes_served_total ${this.metrics.chunkBytesServed}`,
        `ferry_chunks_served_total ${this.metrics.chunksServed}`,
        `ferry_chunks_deduplicated_total ${this.metrics.chunksDeduplicated}`,
      ];
      return { status: 200, body: Buffer.from(lines.join('\n') + '\n') };
    }
    throw new HttpFail('FERRY_ERR_NOT_FOUND', `no route ${method} ${p}`);
  }

  private session(id: string): Session {
    const s = this.sessions.get(decodeURIComponent(id));
    if (!s) throw new HttpFail('FERRY_ERR_UPLOAD_NOT_FOUND');
    return s;
  }

  private missingOf(chunks: ChunkRef[]): string[] {
    const out = new Set<string>();
    for (const c of chunks) if (!this.chunks.has(c.hash)) out.add(c.hash);
    return [...out];
  }

  private status(s: Session) {
    return { id: s.id, expiresAt: Date.now() + 3600_000, files: s.files.length, missing: this.missingOf(s.files.flatMap((f) => f.chunks)), sealed: s.files.every((f) => f.sealed) };
  }

  private createUpload(req: Record<string, unknown>) {
    const specs = (req.files as Record<string, unknown>[] | undefined) ?? [req];
    if (specs.length > this.caps.limits.maxFilesPerUpload) throw new HttpFail('FERRY_ERR_VALIDATION', 'too many files');
    const files: SessionFile[] = specs.map((f) => {
      const chunks = (f.chunks as ChunkRef[] | undefined) ?? [];
      const sealed = f.size !== undefined && f.hash !== undefined && f.chunks !== undefined;
      if (sealed) {
        if (chunks.reduce((a, c) => a + c.size, 0) !== f.size) throw new HttpFail('FERRY_ERR_SIZE_MISMATCH');
        if (fileHashOf(chunks) !== f.hash) throw new HttpFail('FERRY_ERR_HASH_MISMATCH');
      }
      return { path: normalizePath(f.path), size: f.size as number | undefined, hash: f.hash as string | undefined, mtime: f.mtime as number | undefined, mode: f.mode as number | undefined, chunks: [...chunks], sealed };
    });
    const s: Session = { id: randomUUID(), files, noOverwrite: req.noOverwrite === true };
    this.sessions.set(s.id, s);
    return this.status(s);
  }

  private commit(s: Session, req: Record<string, unknown>) {
    const missing = this.status(s).missing;
    if (missing.length > 0) throw new HttpFail('FERRY_ERR_UPLOAD_INCOMPLETE', undefined, { missing });
    const out: Entry[] = [];
    for (const f of s.files) {
      const size = f.chunks.reduce((a, c) => a + c.size, 0);
      const hash = f.chunks.length === 0 ? EMPTY_FILE_HASH : fileHashOf(f.chunks);
      const wantSize = (s.files.length === 1 ? (req.size as number | undefined) : undefined) ?? f.size;
      const wantHash = (s.files.length === 1 ? (req.hash as string | undefined) : undefined) ?? f.hash;
      if (wantSize !== undefined && wantSize !== size) throw new HttpFail('FERRY_ERR_SIZE_MISMATCH');
      if (wantHash !== undefined && wantHash !== hash) throw new HttpFail('FERRY_ERR_HASH_MISMATCH');
      const ex = this.nodes.get(f.path);
      if (ex?.type === 'dir') throw new HttpFail('FERRY_ERR_IS_A_DIRECTORY');
      if (ex && s.noOverwrite) throw new HttpFail('FERRY_ERR_ALREADY_EXISTS');
      this.ensureParents(f.path);
      this.nodes.set(f.path, {
        type: 'file',
        size,
        hash,
        chunks: f.chunks,
        mtime: (s.files.length === 1 ? (req.mtime as number | undefined) : undefined) ?? f.mtime ?? Date.now(),
        mode: (s.files.length === 1 ? (req.mode as number | undefined) : undefined) ?? f.mode,
      });
      out.push(this.entry(f.path));
    }
    this.sessions.delete(s.id);
    return { files: out };
  }

  private ensureParents(path: string): void {
    const parent = parentPath(path);
    if (parent === path) return;
    const n = this.nodes.get(parent);
    if (n?.type === 'file') throw new HttpFail('FERRY_ERR_NOT_A_DIRECTORY');
    if (!n) {
      this.ensureParents(parent);
      this.nodes.set(parent, { type: 'dir', mtime: Date.now(), size: 0 });
    }
  }

  private file(path: string): Node {
    const n = this.nodes.get(path);
    if (!n) throw new HttpFail('FERRY_ERR_NOT_FOUND');
    if (n.type === 'dir') throw new HttpFail('FERRY_ERR_IS_A_DIRECTORY');
    return n;
  }

  private entry(path: string): Entry {
    const n = this.nodes.get(path);
    if (!n) throw new HttpFail('FERRY_ERR_NOT_FOUND');
    const e: Entry = { path, name: baseName(path), type: n.type, size: n.size, mtime: n.mtime };
    if (n.mode !== undefined) e.mode = n.mode;
    if (n.type === 'file') {
      e.hash = n.hash;
      e.chunks = n.chunks?.length ?? 0;
    }
    return e;
  }

  private list(path: string, q: URLSearchParams) {
    const n = this.nodes.get(path);
    if (!n) throw new HttpFail('FERRY_ERR_NOT_FOUND');
    if (n.type !== 'dir') throw new HttpFail('FERRY_ERR_NOT_A_DIRECTORY');
    const recursive = q.get('recursive') === 'true';
    const limit = Math.min(Number(q.get('limit') ?? this.caps.limits.maxListLimit), this.caps.limits.maxListLimit);
    const all = [...this.nodes.keys()]
      .filter((k) => k !== path && isWithin(k, path) && (recursive || parentPath(k) === path))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const start = q.get('cursor') ? all.findIndex((k) => Buffer.compare(Buffer.from(k), Buffer.from(q.get('cursor')!)) > 0) : 0;
    const page = start < 0 ? [] : all.slice(start, start + limit);
    const next = start >= 0 && start + limit < all.length ? page[page.length - 1] : undefined;
    return { path, entries: page.map((k) => this.entry(k)), next };
  }

  private remove(path: string, recursive: boolean) {
    if (path === '/') throw new HttpFail('FERRY_ERR_VALIDATION');
    const n = this.nodes.get(path);
    if (!n) throw new HttpFail('FERRY_ERR_NOT_FOUND');
    const below = [...this.nodes.keys()].filter((k) => k !== path && isWithin(k, path));
    if (below.length > 0 && !recursive) throw new HttpFail('FERRY_ERR_DIRECTORY_NOT_EMPTY');
    for (const k of below) this.nodes.delete(k);
    this.nodes.delete(path);
    return { status: 204 };
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of req) parts.push(p as Buffer);
  return Buffer.concat(parts);
}
