/**
 * SFTP version 3 on the wire (draft-ietf-secsh-filexfer-02, the version OpenSSH, rclone,
 * sshfs, WinSCP and FileZilla speak), plus the OpenSSH extensions Ferry answers: framing,
 * bounds-checked request parsing and reply encoding. Nothing here knows about Ferry.
 *
 * Why not ssh2's own SFTP server object: it answers INIT with a fixed VERSION that advertises
 * no extension (so OpenSSH's client never uses posix-rename, statvfs or limits, and falls
 * back to 32 KiB requests), throws on some malformed packets, and reads without
 * backpressure (it adjusts the SSH window whatever the server has left to do). The SSH
 * transport, keys and channels stay ssh2's.
 */
/** SFTP names that are not valid UTF-8 are refused, never mangled. */
const UTF8_DECODER_FATAL = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export const PKT = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

export const STATUS = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;
export type StatusCode = (typeof STATUS)[keyof typeof STATUS];

export const OPEN = { READ: 0x01, WRITE: 0x02, APPEND: 0x04, CREAT: 0x08, TRUNC: 0x10, EXCL: 0x20 } as const;

export const ATTR = { SIZE: 0x01, UIDGID: 0x02, PERMISSIONS: 0x04, ACMODTIME: 0x08, EXTENDED: 0x80000000 } as const;

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;

/** Largest packet accepted or sent, as OpenSSH's sftp-server (SFTP_MAX_MSG_LENGTH). */
export const MAX_PACKET = 256 * 1024;
/** Largest READ answered and WRITE accepted (limits@openssh.com), leaving room for headers. */
export const MAX_DATA = MAX_PACKET - 1024;

/** SFTP file attributes; times are whole seconds since the epoch. */
export interface Attrs {
  size?: number;
  uid?: number;
  gid?: number;
  /** Type bits and permission bits (`st_mode`). */
  permissions?: number;
  atime?: number;
  mtime?: number;
}

export interface NameEntry {
  filename: string;
  /** `ls -l`-style line; OpenSSH's `ls -l` prints it as is. */
  longname: string;
  attrs: Attrs;
}

/** A request whose fields do not add up: answered with SSH_FX_BAD_MESSAGE. */
export class MalformedPacket extends Error {}

/** Reads the fields of one packet (type byte at 0), throwing MalformedPacket past its end. */
export class PacketReader {
  private pos = 1;

  constructor(readonly buf: Buffer) {}

  get type(): number {
    return this.buf[0];
  }

  u32(): number {
    if (this.pos + 4 > this.buf.length) throw new MalformedPacket('packet too short');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): number {
    const hi = this.u32();
    const lo = this.u32();
    // Offsets and sizes past 2^53 bytes are not files anyone has: refuse rather than round.
    if (hi >= 0x200000) throw new MalformedPacket('a 64-bit value beyond 2^53');
    return hi * 0x100000000 + lo;
  }

  /** A `string` field as bytes (a view into the packet, not a copy). */
  bytes(): Buffer {
    const len = this.u32();
    if (this.pos + len > this.buf.length) throw new MalformedPacket('a string runs past the end of the packet');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** A `string` field that must be UTF-8 (paths, extension names). */
  text(): string {
    const raw = this.bytes();
    try {
      return UTF8_DECODER_FATAL.decode(raw);
    } catch {
      throw new MalformedPacket('a name is not valid UTF-8');
    }
  }

  attrs(): Attrs {
    const flags = this.u32();
    const a: Attrs = {};
    if (flags & ATTR.SIZE) a.size = this.u64();
    if (flags & ATTR.UIDGID) {
      a.uid = this.u32();
      a.gid = this.u32();
    }
    if (flags & ATTR.PERMISSIONS) a.permissions = this.u32();
    if (flags & ATTR.ACMODTIME) {
      a.atime = this.u32();
      a.mtime = this.u32();
    }
    if (flags & ATTR.EXTENDED) {
      const n = this.u32();
      if (n > 1000) throw new MalformedPacket('too many extended attributes');
      for (let i = 0; i < n; i++) {
        this.bytes();
        this.bytes();
      }
    }
    return a;
  }

  /** What is left after the fields read so far (extension payloads). */
  rest(): Buffer {
    const out = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return out;
  }
}

/** A packet cut by {@link PacketFramer}. */
export interface Packet {
  data: Buffer;
  /** Gives the buffer a packet spread over pieces was copied into back for reuse; absent for views of a piece. */
  recycle?: () => void;
}

/** Packet buffers kept for reuse (MAX_PACKET each): what an upload queues for the chunker (4 MiB) and a few more. */
const SPARE_PACKET_BUFFERS = 24;

/**
 * Cuts a byte stream into SFTP packets (`uint32 length`, then that many bytes). A packet
 * that arrives inside one piece is handed out as a view of it; one spread over pieces is
 * copied, once, into a buffer of its own as its pieces come (linear in the bytes whatever
 * the pieces' sizes: a client sending one byte per SSH packet costs copies, not a quadratic
 * walk over a list of pieces). Those buffers are reused once given back (`recycle`): an
 * upload's WRITE requests (255 KiB each, spread over eight SSH packets) otherwise left a
 * GiB of buffers per GiB for the collector.
 */
export class PacketFramer {
  private readonly ready: Packet[] = [];
  private readonly head = Buffer.allocUnsafe(4);
  private readonly spare: Buffer[] = [];
  private headFill = 0;
  private partial: { data: Buffer; backing: Buffer } | undefined;
  private fill = 0;

  /**
   * Takes incoming bytes. Throws MalformedPacket for a length of 0 or beyond MAX_PACKET:
   * the stream cannot be followed after that.
   */
  push(piece: Buffer): void {
    let at = 0;
    while (at < piece.length) {
      if (this.partial === undefined) {
        let len: number;
        if (this.headFill === 0 && piece.length - at >= 4) {
          len = piece.readUInt32BE(at);
          at += 4;
        } else {
          const n = Math.min(4 - this.headFill, piece.length - at);
          piece.copy(this.head, this.headFill, at, at + n);
          this.headFill += n;
          at += n;
          if (this.headFill < 4) return;
          this.headFill = 0;
          len = this.head.readUInt32BE(0);
        }
        if (len === 0 || len > MAX_PACKET) throw new MalformedPacket(`packet length ${len} outside 1..${MAX_PACKET}`);
        if (piece.length - at >= len) {
          this.ready.push({ data: piece.subarray(at, at + len) });
          at += len;
          continue;
        }
        const backing = this.spare.pop() ?? Buffer.allocUnsafe(MAX_PACKET);
        this.partial = { data: backing.subarray(0, len), backing };
        this.fill = 0;
      }
      const p = this.partial.data;
      const n = Math.min(p.length - this.fill, piece.length - at);
      piece.copy(p, this.fill, at, at + n);
      this.fill += n;
      at += n;
      if (this.fill === p.length) {
        const { backing } = this.partial;
        let given = false;
        this.ready.push({
          data: p,
          recycle: () => {
            if (given) return;
            given = true;
            if (this.spare.length < SPARE_PACKET_BUFFERS) this.spare.push(backing);
          },
        });
        this.partial = undefined;
      }
    }
  }

  /** The next complete packet (without its length field), or undefined when more bytes are needed. */
  next(): Packet | undefined {
    return this.ready.shift();
  }

  /** Bytes taken in and not handed out yet. */
  get pending(): number {
    return this.ready.reduce((n, p) => n + p.data.length, 0) + this.headFill + (this.partial ? this.fill : 0);
  }
}

// ---------------------------------------------------------------- replies

function attrsLength(a: Attrs): number {
  let n = 4;
  if (a.size !== undefined) n += 8;
  if (a.uid !== undefined && a.gid !== undefined) n += 8;
  if (a.permissions !== undefined) n += 4;
  if (a.mtime !== undefined) n += 8;
  return n;
}

function writeAttrs(buf: Buffer, at: number, a: Attrs): number {
  let flags = 0;
  if (a.size !== undefined) flags |= ATTR.SIZE;
  if (a.uid !== undefined && a.gid !== undefined) flags |= ATTR.UIDGID;
  if (a.permissions !== undefined) flags |= ATTR.PERMISSIONS;
  if (a.mtime !== undefined) flags |= ATTR.ACMODTIME;
  at = buf.writeUInt32BE(flags >>> 0, at);
  if (a.size !== undefined) {
    at = buf.writeUInt32BE(Math.floor(a.size / 0x100000000), at);
    at = buf.writeUInt32BE(a.size >>> 0, at);
  }
  if (a.uid !== undefined && a.gid !== undefined) {
    at = buf.writeUInt32BE(a.uid >>> 0, at);
    at = buf.writeUInt32BE(a.gid >>> 0, at);
  }
  if (a.permissions !== undefined) at = buf.writeUInt32BE(a.permissions >>> 0, at);
  if (a.mtime !== undefined) {
    at = buf.writeUInt32BE((a.atime ?? a.mtime) >>> 0, at);
    at = buf.writeUInt32BE(a.mtime >>> 0, at);
  }
  return at;
}

/** A reply packet with its length field: `type`, `id`, then `body` bytes written by `fill`. */
function packet(type: number, id: number, bodyLength: number, fill: (buf: Buffer, at: number) => number): Buffer {
  const buf = Buffer.allocUnsafe(4 + 1 + 4 + bodyLength);
  buf.writeUInt32BE(1 + 4 + bodyLength, 0);
  buf[4] = type;
  buf.writeUInt32BE(id >>> 0, 5);
  const end = fill(buf, 9);
  if (end !== buf.length) throw new Error(`SFTP reply ${type}: wrote ${end} of ${buf.length} bytes`);
  return buf;
}

function writeString(buf: Buffer, at: number, s: Buffer): number {
  at = buf.writeUInt32BE(s.length, at);
  s.copy(buf, at);
  return at + s.length;
}

export function statusReply(id: number, code: StatusCode, message = ''): Buffer {
  const msg = Buffer.from(message, 'utf8');
  return packet(PKT.STATUS, id, 4 + 4 + msg.length + 4, (buf, at) => {
    at = buf.writeUInt32BE(code, at);
    at = writeString(buf, at, msg);
    return buf.writeUInt32BE(0, at); // language tag: none
  });
}

export function handleReply(id: number, handle: Buffer): Buffer {
  return packet(PKT.HANDLE, id, 4 + handle.length, (buf, at) => writeString(buf, at, handle));
}

/** The header of a DATA reply of `length` bytes; the data follows it on the wire. */
export function dataReplyHeader(id: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(13);
  buf.writeUInt32BE(1 + 4 + 4 + length, 0);
  buf[4] = PKT.DATA;
  buf.writeUInt32BE(id >>> 0, 5);
  buf.writeUInt32BE(length, 9);
  return buf;
}

export function attrsReply(id: number, a: Attrs): Buffer {
  return packet(PKT.ATTRS, id, attrsLength(a), (buf, at) => writeAttrs(buf, at, a));
}

export function nameReply(id: number, names: readonly NameEntry[]): Buffer {
  const encoded = names.map((n) => ({ f: Buffer.from(n.filename, 'utf8'), l: Buffer.from(n.longname, 'utf8'), a: n.attrs }));
  const length = 4 + encoded.reduce((s, e) => s + 4 + e.f.length + 4 + e.l.length + attrsLength(e.a), 0);
  return packet(PKT.NAME, id, length, (buf, at) => {
    at = buf.writeUInt32BE(encoded.length, at);
    for (const e of encoded) {
      at = writeString(buf, at, e.f);
      at = writeString(buf, at, e.l);
      at = writeAttrs(buf, at, e.a);
    }
    return at;
  });
}

/** Bytes a NAME reply spends on one entry (to keep a reply within MAX_PACKET). */
export function nameEntryLength(n: NameEntry): number {
  return 8 + Buffer.byteLength(n.filename) + Buffer.byteLength(n.longname) + attrsLength(n.attrs);
}

export function extendedReply(id: number, payload: Buffer): Buffer {
  return packet(PKT.EXTENDED_REPLY, id, payload.length, (buf, at) => at + payload.copy(buf, at));
}

/** The VERSION answer to INIT: version 3 and the extensions offered (name, version string). */
export function versionReply(extensions: readonly [string, string][]): Buffer {
  const parts = extensions.flatMap(([n, v]) => [Buffer.from(n), Buffer.from(v)]);
  const length = 4 + parts.reduce((s, p) => s + 4 + p.length, 0);
  const buf = Buffer.allocUnsafe(4 + 1 + length);
  buf.writeUInt32BE(1 + length, 0);
  buf[4] = PKT.VERSION;
  let at = buf.writeUInt32BE(3, 5);
  for (const p of parts) at = writeString(buf, at, p);
  return buf;
}

/** uint64 fields for extension replies (limits, statvfs). */
export function u64s(values: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(values.length * 8);
  values.forEach((v, i) => {
    const n = Math.max(0, Math.floor(v));
    buf.writeUInt32BE(Math.floor(n / 0x100000000), i * 8);
    buf.writeUInt32BE(n >>> 0, i * 8 + 4);
  });
  return buf;
}
