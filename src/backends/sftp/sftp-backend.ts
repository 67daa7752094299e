/**
 * SftpBackend: files below a directory of an SSH server, through ssh2's SFTP client.
 *
 * - One SSH connection and SFTP channel per backend, opened by {@link SftpBackend.connect}
 *   (so `features()` can tell what the server offers) and reopened after it drops.
 * - The host key is checked against known_hosts (or a pinned fingerprint) before any
 *   credential is sent; an unknown or changed key is FERRY_ERR_HOST_KEY with the fingerprint
 *   and the fix in the message. `insecureSkipHostKeyCheck` turns that off, explicitly.
 * - Reads and writes are pipelined (see sftp-transfer.ts).
 * - Writes are atomic: bytes go to a temporary name (`.ferry-tmp-…`, never listed, refused
 *   as a key) in the target's directory, then are renamed over the target with OpenSSH's
 *   `posix-rename@openssh.com` (plain SFTP RENAME refuses to replace, so without the
 *   extension the old file is removed first, and the swap is not atomic).
 * - Server-side copy where the server has the `copy-data` extension (OpenSSH ≥ 9.0);
 *   move is a rename. Modification times are SFTP attributes: whole seconds.
 * - Directories are real. Symbolic links and special files are not objects: they are
 *   neither listed nor found, as with the local backend's default.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Client, type ConnectConfig, type SFTPWrapper, type Stats } from 'ssh2';
import {
  AbortedError,
  AlreadyExistsError,
  AuthInvalidError,
  ConfigError,
  DirectoryNotEmptyError,
  FerryError,
  fromSystemError,
  HostKeyError,
  IoError,
  IsADirectoryError,
  NetworkError,
  NotADirectoryError,
  NotFoundError,
  PathInvalidError,
  PermissionError,
  RangeNotSatisfiableError,
  throwIfAborted,
  TimeoutError,
  UnsupportedError,
  ValidationError,
} from '../../core/errors.js';
import { normalizeKey } from '../../core/path.js';
import type {
  BackendFeatures,
  Copier,
  DirectoryMaker,
  DirEntry,
  HashName,
  Hasher,
  Identifier,
  KeyIdentity,
  ListOptions,
  Mover,
  MtimeSetter,
  ObjectInfo,
  OpOptions,
  RangeReader,
  ReadOptions,
  StorageBackend,
  SweptLeftovers,
  LeftoverSweeper,
  WriteBody,
  WriteOptions,
} from '../../core/storage.js';
import { bodyChunks, checkOffset, checkSize, collectRange, discardBody, hashByReading } from '../shared.js';
import { TEMP_PREFIX } from '../local/index.js';
import { beginTemp, endTemp, isTempInProgress } from '../local/writes-in-progress.js';
import { checkHostKey, fingerprintOf, knownHostsName, readKnownHosts } from './known-hosts.js';
import { PipelinedReadStream, pipelinedWrite, type PipelineOptions } from './sftp-transfer.js';

export interface SftpBackendOptions {
  host: string;
  /** Default 22. */
  port?: number;
  /** Default: the local user's name. */
  user?: string;
  /** Directory on the server holding the objects: absolute, or relative to the login directory (default: the login directory). */
  root?: string;
  password?: string;
  /** Private key file (OpenSSH or PEM format). Default, without password or key: ~/.ssh/id_ed25519, id_ecdsa, id_rsa, whichever exists. */
  keyFile?: string;
  /** Private key text, instead of a file. */
  privateKey?: string;
  passphrase?: string;
  /** ssh-agent socket; default SSH_AUTH_SOCK when no password or key is given. */
  agent?: string;
  /** Default ~/.ssh/known_hosts. */
  knownHostsFile?: string;
  /** Pins the host key (`SHA256:…` as `ssh-keygen -lf` prints it) instead of known_hosts. */
  hostKeyFingerprint?: string;
  /** Accepts any host key. Only for throwaway test servers. */
  insecureSkipHostKeyCheck?: boolean;
  /** Outstanding READ/WRITE requests per transfer (default 32). */
  window?: number;
  /** Bytes per READ/WRITE request (default: the server's maximum, at most 256 KiB). */
  requestSize?: number;
  /** Milliseconds to wait for the TCP + SSH handshake (default 20 s). */
  connectTimeoutMs?: number;
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02 §7). */
const FX = { EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, BAD_MESSAGE: 5, NO_CONNECTION: 6, CONNECTION_LOST: 7, OP_UNSUPPORTED: 8 } as const;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const HASHES: readonly HashName[] = ['sha256', 'md5', 'sha1'];

const isFile = (attrs: { mode: number }): boolean => (attrs.mode & S_IFMT) === S_IFREG;
const isDir = (attrs: { mode: number }): boolean => (attrs.mode & S_IFMT) === S_IFDIR;
const statusOf = (err: unknown): number | undefined => {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
};

/** Translates an ssh2 error (SFTP status, client level, socket errno) into a FerryError. */
export function fromSftpError(err: unknown, what: string): FerryError {
  if (err instanceof FerryError) return err;
  const e = err as { code?: unknown; level?: string; message?: string };
  const message = `${what}: ${e?.message ?? String(err)}`;
  switch (statusOf(err)) {
    case FX.NO_SUCH_FILE:
      return new NotFoundError(`${what}: not found`, { cause: err });
    case FX.PERMISSION_DENIED:
      return new PermissionError(message, { cause: err });
    case FX.OP_UNSUPPORTED:
      return new UnsupportedError(message, { cause: err });
    case FX.NO_CONNECTION:
    case FX.CONNECTION_LOST:
      return new NetworkError(message, { cause: err });
    case FX.FAILURE:
    case FX.BAD_MESSAGE:
      // A generic refusal by the server: repeating the same request fails the same way.
      return new IoError(message, { cause: err, retryable: false });
  }
  if (e?.level === 'client-authentication') return new AuthInvalidError(`${what}: the server refused the credentials`, { cause: err });
  if (e?.level === 'client-timeout') return new TimeoutError(message, { cause: err });
  if (typeof e?.message === 'string' && /No response from server|Not connected|Channel not open|closed/i.test(e.message)) {
    return new NetworkError(message, { cause: err });
  }
  return fromSystemError(err, what);
}

/** `a/b/c` -> `a`, `a/b`. */
function ancestorsOf(key: string): string[] {
  const out: string[] = [];
  for (let i = key.indexOf('/'); i !== -1; i = key.indexOf('/', i + 1)) out.push(key.slice(0, i));
  return out;
}

/** A temporary file's name, marked as in progress (local/writes-in-progress.ts) until its write ends. */
function tempName(): string {
  const name = TEMP_PREFIX + randomBytes(9).toString('hex');
  beginTemp(name);
  return name;
}

const parentOf = (key: string): string => (key.includes('/') ? key.slice(0, key.lastIndexOf('/')) : '');

/** Calls an ssh2 callback API as a promise. */
function call<T = void>(fn: (cb: (err: Error | undefined | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));
}

interface Session {
  client: Client;
  sftp: SFTPWrapper;
  root: string;
  extensions: Record<string, string>;
  maxRead: number;
  maxWrite: number;
  /** The root did not exist when connecting: the first write makes it (as the local backend does). */
  rootMissing: boolean;
  /** The SHA-256 fingerprint of the server's host key: the server, whatever name or port reached it. */
  hostKey: string;
}

export class SftpBackend implements StorageBackend, Mover, MtimeSetter, Hasher, DirectoryMaker, RangeReader, LeftoverSweeper, Identifier, Partial<Copier> {
  /** Connects (checking the host key and authenticating) and returns the backend. */
  static async connect(options: SftpBackendOptions): Promise<SftpBackend> {
    const backend = new SftpBackend(options);
    await backend.#session();
    return backend;
  }

  readonly name: string;
  readonly #options: SftpBackendOptions;
  readonly #port: number;
  readonly #user: string;
  #current?: Promise<Session>;
  #extensions: Record<string, string> = {};
  #closed = false;

  /** Prefer {@link SftpBackend.connect}: until the first connection, server extensions (copy-data) are unknown. */
  constructor(options: SftpBackendOptions) {
    if (!options.host) throw new ConfigError('sftp: a host is required');
    this.#options = options;
    this.#port = options.port ?? 22;
    if (!Number.isInteger(this.#port) || this.#port < 1 || this.#port > 65535) throw new ConfigError(`sftp: port ${String(options.port)} is out of range`);
    this.#user = options.user ?? userInfo().username;
    this.name = `sftp://${this.#user}@${options.host}${this.#port === 22 ? '' : ':' + this.#port}/${(options.root ?? '').replace(/^\//, '')}`;
  }

  /** Real directories, whole-second mtimes, renames; server-side copy only with the `copy-data` extension. */
  features(): BackendFeatures {
    return {
      copy: this.#extensions['copy-data'] === '1',
      move: true,
      rangeRead: true,
      hashes: [],
      mtime: true,
      setMtime: true,
      mtimePrecisionMs: 1000,
      unknownSizeWrite: true,
      caseSensitive: true,
      directories: 'real',
      persistent: true,
      network: true,
    };
  }

  /** Server-side copy (Copier), present only when the server offers `copy-data`: see {@link #copyData}. */
  get copy(): Copier['copy'] | undefined {
    return this.#extensions['copy-data'] === '1' ? (from, to, options) => this.#copyData(from, to, options) : undefined;
  }

  // ---- connection -----------------------------------------------------------------------

  #session(): Promise<Session> {
    if (this.#closed) return Promise.reject(new ValidationError(`${this.name}: the backend is closed`));
    this.#current ??= this.#open().catch((err: unknown) => {
      this.#current = undefined;
      throw err;
    });
    return this.#current;
  }

  async #credentials(): Promise<Partial<ConnectConfig>> {
    const o = this.#options;
    const out: Partial<ConnectConfig> = {};
    if (o.password !== undefined) out.password = o.password;
    if (o.privateKey !== undefined) out.privateKey = o.privateKey;
    else if (o.keyFile !== undefined) out.privateKey = await readFile(o.keyFile).catch((err: unknown) => Promise.reject(fromSystemError(err, o.keyFile)));
    if (o.passphrase !== undefined) out.passphrase = o.passphrase;
    if (o.agent !== undefined) out.agent = o.agent;
    if (out.password === undefined && out.privateKey === undefined && out.agent === undefined) {
      if (process.env.SSH_AUTH_SOCK) out.agent = process.env.SSH_AUTH_SOCK;
      for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
        const key = await readFile(path.join(homedir(), '.ssh', name)).catch(() => undefined);
        if (key !== undefined) {
          out.privateKey = key;
          break;
        }
      }
    }
    return out;
  }

  async #open(): Promise<Session> {
    const o = this.#options;
    const where = knownHostsName(o.host, this.#port);
    const knownHostsFile = o.knownHostsFile ?? path.join(homedir(), '.ssh', 'known_hosts');
    const knownHosts = o.insecureSkipHostKeyCheck || o.hostKeyFingerprint ? '' : await readKnownHosts(knownHostsFile);
    let refusal: FerryError | undefined;
    let hostKey = '';
    const verify = (key: Buffer): boolean => {
      const fingerprint = fingerprintOf(key);
      hostKey = fingerprint;
      if (o.insecureSkipHostKeyCheck) return true;
      if (o.hostKeyFingerprint) {
        if (o.hostKeyFingerprint.replace(/=+$/, '') === fingerprint) return true;
        refusal = new HostKeyError(`${where} presented host key ${fingerprint}, not the pinned ${o.hostKeyFingerprint}`, { details: { host: where, fingerprint } });
        return false;
      }
      const verdict = checkHostKey(knownHosts, o.host, this.#port, key);
      if (verdict === 'known') return true;
      const fix = `check it out of band, then add it to ${knownHostsFile} (ssh-keyscan -p ${this.#port} ${o.host} >> ${knownHostsFile}) or pin it with hostKeyFingerprint=${fingerprint}`;
      refusal = new HostKeyError(
        verdict === 'unknown'
          ? `${where} is not in ${knownHostsFile}: its host key ${fingerprint} cannot be checked; ${fix}`
          : verdict === 'revoked'
            ? `${where} presented a revoked host key ${fingerprint}`
            : `HOST KEY CHANGED for ${where}: it now presents ${fingerprint}, which ${knownHostsFile} does not list. Someone may be intercepting the connection; if the change is expected, remove the old line and ${fix}`,
        { details: { host: where, fingerprint, verdict } },
      );
      return false;
    };
    const client = new Client();
    const config: ConnectConfig = {
      host: o.host,
      port: this.#port,
      username: this.#user,
      readyTimeout: o.connectTimeoutMs ?? 20_000,
      keepaliveInterval: 15_000,
      hostVerifier: verify,
      ...(await this.#credentials()),
    };
    await new Promise<void>((resolve, reject) => {
      const fail = (err: unknown) => {
        client.removeListener('ready', ready);
        client.end();
        reject(refusal ?? fromSftpError(err, `connecting to ${where}`));
      };
      const ready = () => {
        client.removeListener('error', fail);
        resolve();
      };
      client.once('ready', ready);
      client.once('error', fail);
      client.connect(config);
    });
    let sftp: SFTPWrapper;
    try {
      sftp = await call<SFTPWrapper>((cb) => client.sftp(cb));
    } catch (err) {
      client.end();
      throw fromSftpError(err, `${where}: opening the SFTP subsystem`);
    }
    const session: Session = {
      client,
      sftp,
      root: '',
      extensions: { ...((sftp as unknown as { _extensions?: Record<string, string> })._extensions ?? {}) },
      // ssh2 learns these from the limits@openssh.com extension when the server has it.
      maxRead: (sftp as unknown as { _maxReadLen?: number })._maxReadLen ?? 32 * 1024,
      maxWrite: (sftp as unknown as { _maxWriteLen?: number })._maxWriteLen ?? 32 * 1024,
      rootMissing: false,
      hostKey,
    };
    const forget = () => {
      if (this.#current !== undefined) void this.#current.then((s) => s === session && (this.#current = undefined), () => {});
    };
    client.on('close', forget);
    client.on('error', forget);
    try {
      session.root = await call<string>((cb) => sftp.realpath(o.root && o.root !== '' ? o.root : '.', cb));
    } catch (err) {
      // A root that does not exist yet (`ferry copy dir sftp://host/new/dir`) is fine: its
      // path is worked out here and the first write makes it.
      const home = statusOf(err) === FX.NO_SUCH_FILE && o.root ? await call<string>((cb) => sftp.realpath('.', cb)).catch(() => undefined) : undefined;
      if (home === undefined) {
        client.end();
        throw fromSftpError(err, `${where}: resolving the root ${o.root ?? '.'}`);
      }
      session.root = path.posix.resolve(home, o.root!);
      session.rootMissing = true;
    }
    // OpenSSH resolves a path whose last part is missing without complaint.
    if (!session.rootMissing) session.rootMissing = (await call<Stats>((cb) => sftp.lstat(session.root, cb)).catch(() => undefined)) === undefined;
    this.#extensions = session.extensions;
    return session;
  }

  #pipeline(s: Session, direction: 'read' | 'write'): PipelineOptions {
    const limit = direction === 'read' ? s.maxRead : s.maxWrite;
    return { requestSize: Math.max(1024, Math.min(this.#options.requestSize ?? 256 * 1024, limit)), window: Math.max(1, this.#options.window ?? 32) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const current = this.#current;
    this.#current = undefined;
    const s = await current?.catch(() => undefined);
    if (s) {
      await new Promise<void>((resolve) => {
        s.client.once('close', () => resolve());
        s.client.end();
      });
    }
  }

  // ---- keys and paths -------------------------------------------------------------------

  #dirKey(key: string): string {
    const k = normalizeKey(key);
    if (k.split('/').some((segment) => segment.startsWith(TEMP_PREFIX))) {
      throw new PathInvalidError(`${k}: names starting with ${TEMP_PREFIX} are reserved for writes in progress`, { details: { reason: 'reserved' } });
    }
    return k;
  }

  /**
   * Identifier: the server (its host key, so `localhost` and `127.0.0.1` are one) and user
   * (a chrooted user's `/` is not another's), and the key's REALPATH on it: `dir` and `/home/u/dir`,
   * `a/../b` and symlinked folders come out the same.
   */
  async identityOf(key: string): Promise<KeyIdentity> {
    const k = this.#dirKey(key);
    const s = await this.#session();
    return { store: `sftp:${this.#user}@${s.hostKey}`, path: await this.#realpath(s, this.#path(s, k)) };
  }

  /** REALPATH of an absolute path; of its nearest existing ancestor, plus the rest, when it is missing. */
  async #realpath(s: Session, p: string): Promise<string> {
    try {
      return await call<string>((cb) => s.sftp.realpath(p, cb));
    } catch (err) {
      const parent = path.posix.dirname(p);
      if (statusOf(err) !== FX.NO_SUCH_FILE || parent === p) throw fromSftpError(err, p);
      return path.posix.join(await this.#realpath(s, parent), path.posix.basename(p));
    }
  }

  #objectKey(key: string): string {
    const k = this.#dirKey(key);
    if (k === '') throw new PathInvalidError('the root is a directory, not an object', { details: { reason: 'root' } });
    return k;
  }

  #path(s: Session, k: string): string {
    return k === '' ? s.root : path.posix.join(s.root, k);
  }

  async #lstat(s: Session, k: string): Promise<Stats | undefined> {
    try {
      return await call<Stats>((cb) => s.sftp.lstat(this.#path(s, k), cb));
    } catch (err) {
      if (statusOf(err) === FX.NO_SUCH_FILE) return undefined;
      throw fromSftpError(err, k);
    }
  }

  async #fileStat(s: Session, k: string): Promise<Stats> {
    const st = await this.#lstat(s, k);
    if (st === undefined || !isFile(st)) throw new NotFoundError(`${k}: not found`);
    return st;
  }

  #infoOf(k: string, st: { size: number; mtime: number }): ObjectInfo {
    return { key: k, size: st.size, mtime: st.mtime * 1000 };
  }

  /** `mkdir -p` of a directory key: FERRY_ERR_NOT_A_DIRECTORY where an object is in the way. */
  async #mkdirs(s: Session, k: string, signal?: AbortSignal): Promise<void> {
    if (s.rootMissing) await this.#makeRoot(s, signal);
    if (k === '') return;
    // Fast path: the parent usually exists.
    const st = await this.#lstat(s, k);
    if (st !== undefined) {
      if (isDir(st)) return;
      throw new NotADirectoryError(`${k} is an object, not a directory`);
    }
    for (const dir of [...ancestorsOf(k), k]) {
      throwIfAborted(signal);
      try {
        await call((cb) => s.sftp.mkdir(this.#path(s, dir), cb));
      } catch (err) {
        const there = await this.#lstat(s, dir);
        if (there !== undefined && isDir(there)) continue;
        if (there !== undefined) throw new NotADirectoryError(`${k}: ${dir} is an object, not a directory`, { cause: err });
        throw fromSftpError(err, dir);
      }
    }
  }

  /** `mkdir -p` of the root itself (absolute path), when it did not exist at connection time. */
  async #makeRoot(s: Session, signal?: AbortSignal): Promise<void> {
    const parts = s.root.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      throwIfAborted(signal);
      const dir = '/' + parts.slice(0, i).join('/');
      try {
        await call((cb) => s.sftp.mkdir(dir, cb));
      } catch (err) {
        const there = await call<Stats>((cb) => s.sftp.lstat(dir, cb)).catch(() => undefined);
        if (there !== undefined && isDir(there)) continue;
        throw there !== undefined ? new NotADirectoryError(`the root ${s.root}: ${dir} is not a directory`, { cause: err }) : fromSftpError(err, `making the root ${dir}`);
      }
    }
    s.rootMissing = false;
  }

  /** Renames `from` over `to` (paths), replacing it: posix-rename when offered, else remove then rename. */
  async #replace(s: Session, from: string, to: string): Promise<void> {
    if (s.extensions['posix-rename@openssh.com']) {
      await call((cb) => s.sftp.ext_openssh_rename(from, to, cb));
      return;
    }
    await call((cb) => s.sftp.unlink(to, cb)).catch((err: unknown) => {
      if (statusOf(err) !== FX.NO_SUCH_FILE) throw err;
    });
    await call((cb) => s.sftp.rename(from, to, cb));
  }

  /** Why a rename onto `k` failed, in the contract's terms. */
  async #explainPlace(s: Session, k: string, err: unknown): Promise<FerryError> {
    const there = await this.#lstat(s, k).catch(() => undefined);
    if (there !== undefined && isDir(there)) return new IsADirectoryError(`${k}: is a directory`, { cause: err });
    return fromSftpError(err, k);
  }

  // ---- required methods -----------------------------------------------------------------

  /** LSTAT; anything but a regular file (directory, link, device) is FERRY_ERR_NOT_FOUND. */
  async stat(key: string, options: OpOptions = {}): Promise<ObjectInfo> {
    const k = this.#objectKey(key);
    throwIfAborted(options.signal);
    const s = await this.#session();
    return this.#infoOf(k, await this.#fileStat(s, k));
  }

  /** Opens the file and streams `[offset, offset+length)` with pipelined READs. */
  async read(key: string, options: ReadOptions = {}): Promise<Readable> {
    const k = this.#objectKey(key);
    const { offset = 0, length, signal } = options;
    checkOffset(offset, 'offset', k);
    checkOffset(length, 'length', k);
    throwIfAborted(signal);
    const s = await this.#session();
    const { handle, size } = await this.#openForRead(s, k);
    if (offset > size) {
      s.sftp.close(handle, () => {});
      throw new RangeNotSatisfiableError(`${k}: offset ${offset} is past the end (${size} bytes)`, { details: { offset, size } });
    }
    const end = length === undefined ? size : Math.min(size, offset + length);
    const stream = new PipelinedReadStream(s.sftp, handle, offset, end, this.#pipeline(s, 'read'), (err) => fromSftpError(err, k));
    if (signal) {
      const onAbort = () => stream.destroy(new AbortedError(`${k}: read aborted`, { cause: signal.reason }));
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        stream.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
    return stream;
  }

  /** OPEN for reading + FSTAT: a handle on a regular file (its size fixed for this read: writers rename new files in). */
  async #openForRead(s: Session, k: string): Promise<{ handle: Buffer; size: number; stats: Stats }> {
    let handle: Buffer;
    try {
      handle = await call<Buffer>((cb) => s.sftp.open(this.#path(s, k), 'r', cb));
    } catch (err) {
      // Opening a directory for reading succeeds on some servers and fails on others.
      throw statusOf(err) === FX.FAILURE ? new NotFoundError(`${k}: not found`, { cause: err }) : fromSftpError(err, k);
    }
    try {
      const stats = await call<Stats>((cb) => s.sftp.fstat(handle, cb));
      const linked = await this.#lstat(s, k);
      if (!isFile(stats) || linked === undefined || !isFile(linked)) throw new NotFoundError(`${k}: not found`);
      return { handle, size: stats.size, stats };
    } catch (err) {
      s.sftp.close(handle, () => {});
      throw fromSftpError(err, k);
    }
  }

  /**
   * Pipelined WRITEs into a temporary file beside the target, its mtime set, then renamed
   * over the target. On any failure the temporary file is removed.
   */
  async write(key: string, body: WriteBody, options: WriteOptions = {}): Promise<ObjectInfo> {
    let k: string;
    try {
      k = this.#objectKey(key);
      checkSize(options.size, k);
      if (options.mtime !== undefined && !Number.isFinite(options.mtime)) throw new ValidationError(`${k}: mtime must be a number of ms`);
      throwIfAborted(options.signal);
    } catch (err) {
      discardBody(body);
      throw err;
    }
    const { signal } = options;
    let s: Session;
    let handle: Buffer;
    let temp = '';
    try {
      s = await this.#session();
      const target = await this.#lstat(s, k);
      if (target !== undefined && isDir(target)) throw new IsADirectoryError(`${k}: is a directory`);
      const parent = parentOf(k);
      temp = path.posix.join(this.#path(s, parent), tempName());
      const s0 = s;
      const tempPath = temp;
      const open = () => call<Buffer>((cb) => s0.sftp.open(tempPath, 'w', cb));
      handle = await open().catch(async (err: unknown) => {
        if (statusOf(err) !== FX.NO_SUCH_FILE) throw fromSftpError(err, k);
        await this.#mkdirs(s0, parent, signal);
        return open().catch((again: unknown) => Promise.reject(fromSftpError(again, k)));
      });
    } catch (err) {
      endTemp(path.posix.basename(temp));
      discardBody(body);
      throw fromSftpError(err, k);
    }
    let open = true;
    try {
      const size = await pipelinedWrite(s.sftp, handle, bodyChunks(body, { size: options.size, signal, what: k }), this.#pipeline(s, 'write'), (err) =>
        fromSftpError(err, k),
      );
      const seconds = Math.floor((options.mtime ?? Date.now()) / 1000);
      if (options.mtime !== undefined) await call((cb) => s.sftp.futimes(handle, seconds, seconds, cb));
      if (options.durable !== false && s.extensions['fsync@openssh.com']) await call((cb) => s.sftp.ext_openssh_fsync(handle, cb));
      open = false;
      await call((cb) => s.sftp.close(handle, cb));
      throwIfAborted(signal);
      try {
        await this.#replace(s, temp, this.#path(s, k));
      } catch (err) {
        throw await this.#explainPlace(s, k, err);
      }
      const st = options.mtime === undefined ? await this.#lstat(s, k) : undefined;
      return { key: k, size, mtime: st ? st.mtime * 1000 : seconds * 1000 };
    } catch (err) {
      if (open) await call((cb) => s.sftp.close(handle, cb)).catch(() => {});
      await call((cb) => s.sftp.unlink(temp, cb)).catch(() => {});
      throw fromSftpError(err, k);
    } finally {
      endTemp(path.posix.basename(temp));
    }
  }

  /** REMOVE; a missing key or a directory: nothing happens. */
  async delete(key: string, options: OpOptions = {}): Promise<void> {
    const k = this.#objectKey(key);
    throwIfAborted(options.signal);
    const s = await this.#session();
    const st = await this.#lstat(s, k);
    if (st === undefined || isDir(st)) return;
    try {
      await call((cb) => s.sftp.unlink(this.#path(s, k), cb));
    } catch (err) {
      if (statusOf(err) !== FX.NO_SUCH_FILE) throw fromSftpError(err, k);
    }
  }

  /** READDIR, depth first when recursive; temporary files, links and special files are skipped. */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<DirEntry> {
    const start = this.#dirKey(prefix);
    const { recursive = false, signal } = options;
    throwIfAborted(signal);
    const s = await this.#session();
    const pending = [start];
    while (pending.length > 0) {
      const dir = pending.pop()!;
      let entries: { filename: string; attrs: Stats }[];
      try {
        entries = await call((cb) => s.sftp.readdir(this.#path(s, dir), cb));
      } catch (err) {
        const status = statusOf(err);
        if (status === FX.NO_SUCH_FILE || (status === FX.FAILURE && dir === start)) continue; // missing, or an object
        throw fromSftpError(err, `list ${dir || '/'}`);
      }
      throwIfAborted(signal);
      for (const { filename, attrs } of entries) {
        if (filename === '.' || filename === '..' || filename.startsWith(TEMP_PREFIX)) continue;
        const key = dir === '' ? filename : `${dir}/${filename}`;
        try {
          if (normalizeKey(key) !== key) continue;
        } catch {
          continue;
        }
        if (isDir(attrs)) {
          yield { key, type: 'dir' };
          if (recursive) pending.push(key);
        } else if (isFile(attrs)) {
          yield { key, type: 'file', size: attrs.size, mtime: attrs.mtime * 1000 };
        }
      }
    }
  }

  // ---- abilities ------------------------------------------------------------------------

  /** copy-data from the source's handle into a temporary file, mtime kept, renamed over the target. */
  async #copyData(from: string, to: string, options: OpOptions = {}): Promise<ObjectInfo> {
    const src = this.#objectKey(from);
    const dst = this.#objectKey(to);
    throwIfAborted(options.signal);
    const s = await this.#session();
    const { handle: input, stats } = await this.#openForRead(s, src);
    const info = this.#infoOf(dst, stats);
    if (src === dst) {
      await call((cb) => s.sftp.close(input, cb)).catch(() => {});
      return info;
    }
    const parent = parentOf(dst);
    const temp = path.posix.join(this.#path(s, parent), tempName());
    let output: Buffer | undefined;
    try {
      const target = await this.#lstat(s, dst);
      if (target !== undefined && isDir(target)) throw new IsADirectoryError(`${dst}: is a directory`);
      await this.#mkdirs(s, parent, options.signal);
      output = await call<Buffer>((cb) => s.sftp.open(temp, 'w', cb));
      const out = output;
      await call((cb) => s.sftp.ext_copy_data(input, 0, 0, out, 0, cb));
      await call((cb) => s.sftp.futimes(out, stats.atime, stats.mtime, cb));
      output = undefined;
      await call((cb) => s.sftp.close(out, cb));
      throwIfAborted(options.signal);
      await this.#replace(s, temp, this.#path(s, dst)).catch(async (err: unknown) => Promise.reject(await this.#explainPlace(s, dst, err)));
      return info;
    } catch (err) {
      if (output) await call((cb) => s.sftp.close(output!, cb)).catch(() => {});
      await call((cb) => s.sftp.unlink(temp, cb)).catch(() => {});
      throw fromSftpError(err, `copy ${src} to ${dst}`);
    } finally {
      endTemp(path.posix.basename(temp));
      await call((cb) => s.sftp.close(input, cb)).catch(() => {});
    }
  }

  /** RENAME (posix-rename when offered), creating the target's parents. Onto itself: only checks it exists. */
  async move(from: string, to: string, options: OpOptions = {}): Promise<ObjectInfo> {
    const src = this.#objectKey(from);
    const dst = this.#objectKey(to);
    throwIfAborted(options.signal);
    const s = await this.#session();
    const st = await this.#fileStat(s, src);
    const info = this.#infoOf(dst, st);
    if (src === dst) return info;
    const target = await this.#lstat(s, dst);
    if (target !== undefined && isDir(target)) throw new IsADirectoryError(`${dst}: is a directory`);
    await this.#mkdirs(s, parentOf(dst), options.signal);
    try {
      await this.#replace(s, this.#path(s, src), this.#path(s, dst));
    } catch (err) {
      throw statusOf(err) === FX.NO_SUCH_FILE ? fromSftpError(err, src) : await this.#explainPlace(s, dst, err);
    }
    return info;
  }

  /** SETSTAT of atime and mtime (whole seconds). */
  async setMtime(key: string, mtime: number, options: OpOptions = {}): Promise<void> {
    const k = this.#objectKey(key);
    if (!Number.isFinite(mtime)) throw new ValidationError(`${k}: mtime must be a number of ms`);
    throwIfAborted(options.signal);
    const s = await this.#session();
    await this.#fileStat(s, k);
    const seconds = Math.floor(mtime / 1000);
    try {
      await call((cb) => s.sftp.utimes(this.#path(s, k), seconds, seconds, cb));
    } catch (err) {
      throw fromSftpError(err, k);
    }
  }

  /** Reads the file (pipelined) and hashes it: SFTP servers keep no hashes. */
  async hash(key: string, algorithm: HashName, options: OpOptions = {}): Promise<string> {
    if (!HASHES.includes(algorithm)) throw new ValidationError(`unknown hash algorithm ${String(algorithm)}`);
    return hashByReading(this, key, algorithm, options.signal);
  }

  /** Pipelined READs of one range into one buffer. */
  async readRange(key: string, offset: number, length: number, options: OpOptions = {}): Promise<Buffer> {
    return collectRange(this, key, offset, length, options.signal);
  }

  /** READDIR of the tree (links not followed), REMOVE of `.ferry-tmp-*` files last modified before `before` (LeftoverSweeper), except this process's writes in progress. */
  async sweepLeftovers(before: number, options: OpOptions = {}): Promise<SweptLeftovers> {
    const s = await this.#session();
    const swept: SweptLeftovers = { count: 0, bytes: 0 };
    const pending = [s.root];
    while (pending.length > 0) {
      throwIfAborted(options.signal);
      const dir = pending.pop()!;
      let entries: { filename: string; attrs: Stats }[];
      try {
        entries = await call((cb) => s.sftp.readdir(dir, cb));
      } catch (err) {
        if (statusOf(err) === FX.NO_SUCH_FILE) continue;
        throw fromSftpError(err, `sweep ${dir}`);
      }
      for (const { filename, attrs } of entries) {
        if (filename === '.' || filename === '..') continue;
        const full = path.posix.join(dir, filename);
        if (isDir(attrs)) pending.push(full);
        else if (isFile(attrs) && filename.startsWith(TEMP_PREFIX) && attrs.mtime * 1000 < before && !isTempInProgress(filename)) {
          try {
            await call((cb) => s.sftp.unlink(full, cb));
            swept.count++;
            swept.bytes += attrs.size;
          } catch (err) {
            if (statusOf(err) !== FX.NO_SUCH_FILE) throw fromSftpError(err, full);
          }
        }
      }
    }
    return swept;
  }

  /** MKDIR of each missing level. An object at `key` is FERRY_ERR_ALREADY_EXISTS, above it NOT_A_DIRECTORY. */
  async mkdir(key: string, options: OpOptions = {}): Promise<void> {
    const k = this.#dirKey(key);
    throwIfAborted(options.signal);
    const s = await this.#session();
    const st = await this.#lstat(s, k);
    if (st !== undefined) {
      if (isDir(st)) return;
      throw new AlreadyExistsError(`${k}: an object of that name exists`);
    }
    await this.#mkdirs(s, k, options.signal);
  }

  /** Whether `key` is a directory; the root (which may be missing, or a link to a directory) is followed. */
  async isDirectory(key: string, options: OpOptions = {}): Promise<boolean> {
    const k = this.#dirKey(key);
    throwIfAborted(options.signal);
    const s = await this.#session();
    if (k !== '') return isDir((await this.#lstat(s, k)) ?? ({ mode: 0 } as Stats));
    try {
      return isDir(await call<Stats>((cb) => s.sftp.stat(this.#path(s, k), cb)));
    } catch (err) {
      if (statusOf(err) === FX.NO_SUCH_FILE) return false;
      throw fromSftpError(err, k);
    }
  }

  /** RMDIR of an empty directory; missing (or an object): nothing happens. */
  async rmdir(key: string, options: OpOptions = {}): Promise<void> {
    const k = this.#dirKey(key);
    if (k === '') throw new PathInvalidError('the root cannot be removed', { details: { reason: 'root' } });
    throwIfAborted(options.signal);
    const s = await this.#session();
    const st = await this.#lstat(s, k);
    if (st === undefined || !isDir(st)) return;
    try {
      await call((cb) => s.sftp.rmdir(this.#path(s, k), cb));
    } catch (err) {
      const still = await this.#lstat(s, k);
      if (still === undefined) return;
      if (statusOf(err) === FX.FAILURE) throw new DirectoryNotEmptyError(`${k}: the directory is not empty`, { cause: err });
      throw fromSftpError(err, k);
    }
  }
}
