/**
 * Every setting of `ferry serve`, in one table. Each entry is at once:
 *
 *   - a key of the config file (`ferry serve --config FILE`: YAML, TOML or JSON),
 *   - an environment variable (`FERRY_` + the key in SCREAMING_SNAKE_CASE),
 *   - a command-line flag (`--` + the key in kebab-case; secrets have none: flags show in `ps`),
 *   - a row of the README's configuration table (`ferry config docs`) and of the example
 *     file (`ferry config example`, deploy/ferry.example.yaml),
 *
 * with its type, default, meaning, whether SIGHUP applies it to a running server (`live`),
 * and how it lands in {@link ServerConfig}. Precedence: flag > environment > file > default.
 *
 * A new setting is one entry here (tests walk the table: precedence, docs, the example file).
 */
import { createRequire } from 'node:module';
import type { parse as parseYamlType } from 'yaml';
import { ConfigError, UsageError } from '../core/errors.js';
import { normalizePath } from '../core/path.js';
import { parseDuration, parseSize, sizeFlagText } from '../core/units.js';
import { DEFAULT_PORT, DEFAULT_SFTP_PORT, parseStoreSpec, type ServerConfig } from './config.js';
import { CidrList } from './ip-filter.js';
import { DEFAULT_DEFENDER } from './defender.js';
import { weakSecretReason } from './secret-strength.js';
import type { LogFormat } from './log-pretty.js';
import { masterKeyFromText } from '../backends/decorators/key-ring.js';

/** A setting value that is wrong; `at` is the path inside the value (`['paths', '/x', 'keep']`). */
export class SettingValueError extends Error {
  constructor(
    message: string,
    readonly at: (string | number)[] = [],
  ) {
    super(message);
  }
}

/** How a setting's value is read from text (flag, environment) and from a config file. */
export interface Kind<V> {
  /** For the docs: `duration`, `size`, `list`, ... */
  name: string;
  fromText(text: string): V;
  fromFile(value: unknown): V;
}

export interface Setting<V = unknown> {
  key: string;
  kind: Kind<V>;
  /** The default as a user would write it (docs and the example file); undefined: unset. */
  default?: string;
  doc: string;
  /** SIGHUP applies a change to a running server; otherwise it needs a restart. */
  live: boolean;
  /** No flag (secrets: a flag's value is visible to every local user in `ps`). */
  noFlag?: boolean;
  /** Two valid values as text, different from each other (tests and docs use them). */
  examples: [string, string];
  apply(config: ServerConfig, value: V): void;
}

const fail = (message: string, at: (string | number)[] = []): never => {
  throw new SettingValueError(message, at);
};

function wrapText<V>(parse: (text: string) => V): (text: string) => V {
  return (text) => {
    try {
      return parse(text);
    } catch (err) {
      if (err instanceof SettingValueError) throw err;
      return fail(err instanceof Error ? err.message : String(err));
    }
  };
}

const str = (check?: (s: string) => void): Kind<string> => ({
  name: 'string',
  fromText: wrapText((s) => {
    check?.(s);
    return s;
  }),
  fromFile(v) {
    if (typeof v !== 'string') fail(`must be a string, not ${describe(v)}`);
    return this.fromText(v as string);
  },
});

/**
 * `publicUrl` is the start of every share link: anything but an http(s) address with a host
 * and nothing after the path makes links that do not open. `new URL` alone takes
 * `files.example.com:443` (a URL of the scheme `files.example.com:`) and `javascript:...`.
 */
function checkPublicUrl(s: string): void {
  const examples = '(examples: https://files.example.com, https://nas.lan:7373)';
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return fail(`not an address: ${JSON.stringify(s)} ${examples}`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.host === '') fail(`must be an https:// or http:// address with a host, not ${JSON.stringify(s)} ${examples}`);
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') fail(`is the base of share links: no user:password@, ?query or #fragment, not ${JSON.stringify(s)} ${examples}`);
}

const int = (min = 0, max = Number.MAX_SAFE_INTEGER): Kind<number> => ({
  name: 'integer',
  fromText(s) {
    const n = Number(s.trim());
    if (s.trim() === '' || !Number.isSafeInteger(n) || n < min || n > max) fail(`must be a whole number from ${min} to ${max}, not ${JSON.stringify(s)}`);
    return n;
  },
  fromFile(v) {
    if (typeof v !== 'number') fail(`must be a number, not ${describe(v)}`);
    return this.fromText(String(v));
  },
});

const bool: Kind<boolean> = {
  name: 'boolean',
  fromText(s) {
    const t = s.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(t)) return true;
    if (['0', 'false', 'no', 'off'].includes(t)) return false;
    return fail(`must be true or false, not ${JSON.stringify(s)}`);
  },
  fromFile(v) {
    if (typeof v !== 'boolean') fail(`must be true or false, not ${describe(v)}`);
    return v as boolean;
  },
};

/** `90s`, `10m`, `24h`, `7d`; a bare number is seconds (in a file, a variable or a flag). Milliseconds inside. */
const duration: Kind<number> = {
  name: 'duration',
  fromText: wrapText(parseDuration),
  fromFile(v) {
    if (typeof v === 'number' && v >= 0) return Math.round(v * 1000);
    if (typeof v !== 'string') fail(`must be a duration like "10m" or a number of seconds, not ${describe(v)}`);
    return this.fromText(v as string);
  },
};

/** A {@link duration} of at least `minMs` (a value below it is refused with `why`). */
const durationAtLeast = (minMs: number, why: string): Kind<number> => ({
  name: 'duration',
  fromText(s) {
    const ms = duration.fromText(s);
    if (ms < minMs) fail(`must be ${minMs / 1000}s or more (${why}), not ${JSON.stringify(s)}`);
    return ms;
  },
  fromFile(v) {
    const ms = duration.fromFile(v);
    if (ms < minMs) fail(`must be ${minMs / 1000}s or more (${why}), not ${describe(v)}`);
    return ms;
  },
});

/** `512k`, `10M`, `1.5G`; `none` (or null in a file): no limit. */
const sizeOrNone: Kind<number | null> = {
  name: 'size',
  fromText: wrapText((s) => (s.trim() === 'none' ? null : parseSize(s))),
  fromFile(v) {
    if (v === null) return null;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
    if (typeof v !== 'string') fail(`must be a size like "10G", not ${describe(v)}`);
    return this.fromText(v as string);
  },
};

/** `64M`, `1G`: a size of at least `min` bytes. */
const sizeAtLeast = (min: number): Kind<number> => ({
  name: 'size',
  fromText: wrapText((s) => {
    const n = parseSize(s);
    return n >= min ? n : fail(`must be at least ${sizeFlagText(min)} (${min} bytes), not ${JSON.stringify(s)}`);
  }),
  fromFile(v) {
    if (typeof v === 'number') return this.fromText(String(v));
    if (typeof v !== 'string') fail(`must be a size like "64M", not ${describe(v)}`);
    return this.fromText(v as string);
  },
});

/** Comma- or space-separated in a flag or variable (flags repeat too); an array in a file. */
const list = (check?: (items: string[]) => void): Kind<string[]> => ({
  name: 'list',
  fromText: wrapText((s) => {
    const items = s.split(/[\s,]+/).filter(Boolean);
    check?.(items);
    return items;
  }),
  fromFile(v) {
    if (!Array.isArray(v)) fail(`must be a list, not ${describe(v)}`);
    const arr = v as unknown[];
    arr.forEach((x, i) => typeof x === 'string' || fail(`must be a string, not ${describe(x)}`, [i]));
    try {
      check?.(arr as string[]);
    } catch (err) {
      if (err instanceof SettingValueError) throw err;
      fail(err instanceof Error ? err.message : String(err));
    }
    return arr as string[];
  },
});

const oneOf = (values: readonly string[]): Kind<string> => ({
  name: values.join(' | '),
  fromText(s) {
    if (!values.includes(s)) fail(`must be one of ${values.join(', ')}, not ${JSON.stringify(s)}`);
    return s;
  },
  fromFile(v) {
    if (typeof v !== 'string') fail(`must be one of ${values.join(', ')}, not ${describe(v)}`);
    return this.fromText(v as string);
  },
});

/**
 * JSON, else YAML's flow form: the yaml package (~70 modules) is loaded only for text that
 * is not JSON, so a server start with JSON or no structured setting never loads it.
 */
function parseStructured(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return (createRequire(import.meta.url)('yaml') as { parse: typeof parseYamlType }).parse(s);
  }
}

/**
 * A structured value: an object or list in a file; in a flag or variable, JSON or YAML's flow
 * form (`{keep: 5, days: 30}`, as `--help` and the settings table show defaults), which reads
 * JSON the same: YAML 1.2 is a superset of it.
 */
const structured = <V>(name: string, check: (v: unknown) => V): Kind<V> => ({
  name,
  fromText(s) {
    let v: unknown;
    try {
      v = parseStructured(s);
    } catch {
      return fail(`must be JSON or YAML (${name}), not ${JSON.stringify(s)}`);
    }
    return check(v);
  },
  fromFile: check,
});

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function objectOf(v: unknown, at: (string | number)[], known: readonly string[]): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`must be an object, not ${describe(v)}`, at);
  for (const k of Object.keys(v as object)) if (!known.includes(k)) fail(`unknown key ${JSON.stringify(k)} (known: ${known.join(', ')})`, [...at, k]);
  return v as Record<string, unknown>;
}

function fieldInt(o: Record<string, unknown>, k: string, at: (string | number)[]): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`must be a whole number >= 0, not ${describe(v)}`, [...at, k]);
  return v as number;
}

function fieldDuration(o: Record<string, unknown>, k: string, at: (string | number)[]): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  let ms: number;
  try {
    ms = duration.fromFile(v);
  } catch (err) {
    return fail((err as Error).message, [...at, k]);
  }
  // 0 killed every hook at once, and so rejected every upload at the pre-upload check.
  if (ms < 1000) fail(`must be 1s or more (the program is killed once it has run this long), not ${describe(v)}`, [...at, k]);
  return ms;
}

/** How many old versions of a file are kept, and for how long (0: no limit of that kind). */
export interface RetentionRule {
  keep: number;
  days: number;
}

export interface VersionPolicy extends RetentionRule {
  /** Per-path rules; the deepest path containing a file wins. */
  paths: Record<string, RetentionRule>;
}

function retentionOf(v: unknown, at: (string | number)[], base: RetentionRule): RetentionRule {
  const o = objectOf(v, at, ['keep', 'days']);
  return { keep: fieldInt(o, 'keep', at) ?? base.keep, days: fieldInt(o, 'days', at) ?? base.days };
}

export function versionPolicyOf(v: unknown): VersionPolicy {
  const o = objectOf(v, [], ['keep', 'days', 'paths']);
  const top = retentionOf({ keep: o.keep, days: o.days }, [], { keep: 0, days: 0 });
  const paths: Record<string, RetentionRule> = {};
  if (o.paths !== undefined) {
    const p = objectOf(o.paths, ['paths'], Object.keys(o.paths ?? {}));
    for (const [path, rule] of Object.entries(p)) {
      let norm: string;
      try {
        norm = normalizePath(path);
      } catch (err) {
        return fail((err as Error).message, ['paths', path]);
      }
      paths[norm] = retentionOf(rule, ['paths', path], top);
    }
  }
  return { ...top, paths };
}

export const HOOK_EVENTS = ['upload', 'download', 'delete', 'move', 'copy', 'mkdir', 'share', 'login', 'quota'] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

/** A program run on events with the event as JSON on stdin (argv form: no shell). */
export interface CommandHook {
  events: HookEvent[];
  command: string[];
  timeoutMs: number;
}

/** A program asked before an upload commits; exit 0 accepts, anything else rejects. */
export interface PreUploadHook {
  command: string[];
  timeoutMs: number;
}

function commandOf(v: unknown, at: (string | number)[]): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string' || x === '')) fail('must be a non-empty list of strings (the program and its arguments)', at);
  return v as string[];
}

function hooksOf(v: unknown): CommandHook[] {
  if (!Array.isArray(v)) fail(`must be a list, not ${describe(v)}`);
  return (v as unknown[]).map((h, i) => {
    const o = objectOf(h, [i], ['events', 'command', 'timeout']);
    const events = o.events;
    if (!Array.isArray(events) || events.length === 0) fail(`must be a non-empty list of events (${HOOK_EVENTS.join(', ')})`, [i, 'events']);
    (events as unknown[]).forEach((e, j) => (HOOK_EVENTS as readonly unknown[]).includes(e) || fail(`unknown event ${JSON.stringify(e)} (known: ${HOOK_EVENTS.join(', ')})`, [i, 'events', j]));
    return { events: events as HookEvent[], command: commandOf(o.command, [i, 'command']), timeoutMs: fieldDuration(o, 'timeout', [i]) ?? 30_000 };
  });
}

function preUploadHookOf(v: unknown): PreUploadHook | null {
  if (v === null) return null;
  const o = objectOf(v, [], ['command', 'timeout']);
  return { command: commandOf(o.command, ['command']), timeoutMs: fieldDuration(o, 'timeout', []) ?? 60_000 };
}

function checkAddr(addr: string, defaultPort = DEFAULT_PORT): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(addr.trim());
  if (!m) return fail(`must look like HOST:PORT, not ${JSON.stringify(addr)}`);
  const host = m[1] ?? (m[2] || '127.0.0.1');
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`port out of range in ${addr}`);
  return { host, port };
}

function checkDb(value: string): void {
  if (value !== 'sqlite' && !/^postgres(ql)?:\/\/[^/]/i.test(value)) fail(`must be sqlite or a postgres:// URL, not ${JSON.stringify(value.replace(/:[^:@/]*@/, ':***@'))}`);
}

/** An address as `--addr`/`--sftp-addr` take it; errors name `option`. */
export function parseAddr(addr: string, defaultPort = DEFAULT_PORT, option = '--addr'): { host: string; port: number } {
  try {
    return checkAddr(addr, defaultPort);
  } catch (err) {
    throw new UsageError(`${option} ${err instanceof Error ? err.message : String(err)}`);
  }
}

const cidrs = list((items) => void new CidrList(items));

function def<V>(s: Setting<V>): Setting {
  return s as unknown as Setting;
}

/** A chosen admin token grants everything: a guessable one is refused (see secret-strength.ts). */
function adminTokenCheck(token: string): void {
  const weak = weakSecretReason(token);
  if (weak) fail(`too weak to guard the server: ${weak}. Use a random one (openssl rand -hex 32), or leave it unset and Ferry makes one`);
}

/**
 * The metrics token opens only `/metrics`, but what it shows (users' counts, traffic, errors)
 * is no one else's business, and guessing it is as cheap as guessing the admin token: the
 * same floor.
 */
function metricsTokenCheck(token: string): void {
  const weak = weakSecretReason(token);
  if (weak) fail(`too weak: ${weak}. Use a random one (openssl rand -hex 32)`);
}

/** The table. Order is the order of the docs and the example file. */
export const SETTINGS: readonly Setting[] = [
  def({ key: 'addr', kind: str((s) => void checkAddr(s)), default: `127.0.0.1:${DEFAULT_PORT}`, examples: ['127.0.0.1:7000', '0.0.0.0:8443'], live: false,
    doc: 'address to listen on; loopback unless told otherwise; port 0 picks a free port',
    apply: (c, v) => Object.assign(c, checkAddr(v)) }),
  def({ key: 'sftpAddr', kind: str((s) => void checkAddr(s, DEFAULT_SFTP_PORT)), examples: ['127.0.0.1:2022', '0.0.0.0:2222'], live: false,
    doc: `also serve SFTP (and scp, rclone, sshfs) on this address; off unless set; loopback unless told otherwise; port ${DEFAULT_SFTP_PORT} if none given`,
    apply: (c, v) => (c.sftp = { ...checkAddr(v, DEFAULT_SFTP_PORT), passwordAuth: false }) }),
  def({ key: 'sftpPasswordAuth', kind: bool, default: 'false', examples: ['true', 'false'], live: false,
    doc: 'let users log in over SFTP with their password too (SSH keys only otherwise; needs --sftp-addr)',
    // Kept apart from `sftp` (made by sftpAddr): `ferry serve` refuses it without an address.
    apply: (c, v) => (c.sftpPasswordAuth = v) }),
  def({ key: 'data', kind: str(), default: './ferry-data', examples: ['/srv/ferry', '/var/lib/ferry'], live: false,
    doc: 'data directory: metadata database (`meta.db`) and local chunk store (`store/`)',
    apply: (c, v) => (c.dataDir = v) }),
  def({ key: 'store', kind: list((items) => items.forEach(parseStoreSpec)), default: 'local', examples: ['s3:bucket/ferry', '/archive=nas:ferry,/=local'], live: false,
    doc: 'where chunks are kept: `s3:bucket/prefix`, `sftp://user@host/dir`, `NAME:path`, `local`; `/prefix=remote` routes a subtree',
    apply: (c, v) => (c.store = v.map(parseStoreSpec)) }),
  def({ key: 'db', kind: str(checkDb), default: 'sqlite', examples: ['postgres://ferry@db.internal/ferry', 'sqlite'], live: false,
    doc: 'metadata database: `sqlite` (`DATA/meta.db`) or `postgres://user@host:port/database` for several nodes (password in PGPASSWORD or ~/.pgpass, not the URL: flags show in `ps`)',
    apply: (c, v) => (c.db = v === 'sqlite' ? undefined : v) }),
  def({ key: 'dbPool', kind: int(1, 1000), default: '10', examples: ['20', '5'], live: false,
    doc: 'PostgreSQL connections per node (each node of N needs its share of the server\'s `max_connections`)',
    apply: (c, v) => (c.dbPool = v) }),
  def({ key: 'dbQueryTimeout', kind: duration, default: '60s', examples: ['30s', '5m'], live: false,
    doc: 'a PostgreSQL query unanswered this long fails with `503` (the database hangs: a frozen host, a network that drops packets) and its connection is dropped; `0`: wait for ever; migrations at start are not limited',
    apply: (c, v) => (c.dbQueryTimeoutMs = v) }),
  def({ key: 'logLevel', kind: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace']), default: 'info', examples: ['warn', 'debug'], live: true,
    doc: 'how much the log on stdout says (one access-log line per request at `info`)',
    apply: (c, v) => (c.logLevel = v) }),
  def({ key: 'logFormat', kind: oneOf(['auto', 'json', 'pretty']), default: 'auto', examples: ['json', 'pretty'], live: false,
    doc: 'the log\'s form: `json` (pino, one object a line), `pretty` (one short line per event, for a person), `auto`: pretty when stdout is a terminal, JSON otherwise (journald, docker logs, pipes)',
    apply: (c, v) => (c.logFormat = v as LogFormat) }),
  def({ key: 'fsync', kind: bool, default: 'true', examples: ['false', 'true'], live: false,
    doc: 'fsync chunks before a commit that references them is acknowledged (in groups: docs/protocol.md; off: faster, not crash-safe)',
    apply: (c, v) => (c.durable = v) }),
  def({ key: 'uploadTtl', kind: durationAtLeast(60_000, 'an upload whose next request comes later loses its session: 0 made every upload fail'), default: '24h', examples: ['2h', '3d'], live: true,
    doc: 'idle upload sessions are removed after this (1 minute at least)',
    apply: (c, v) => (c.uploadTtlMs = v) }),
  def({ key: 'gcInterval', kind: duration, default: '10m', examples: ['5m', '1h'], live: false,
    doc: 'how often unreferenced chunks are deleted (`0`: never)',
    apply: (c, v) => (c.gcIntervalMs = v) }),
  def({ key: 'gcGrace', kind: duration, default: '1h', examples: ['30m', '2h'], live: true,
    doc: 'an unreferenced chunk is kept at least this long; so is a temporary file of a chunk write (`.ferry-tmp-*`), after which GC (hourly at most) removes it as the leftover of a write that died (never one this server is still writing, whatever the grace: `ferry admin gc --grace 0s` during uploads is safe). A start removes every such leftover in `DATA/store` at once, and those older than this in other stores',
    apply: (c, v) => (c.gcGraceMs = v) }),
  def({ key: 'gcMinAge', kind: durationAtLeast(10_000, 'a write slowed by a busy database would lose its object'), default: '1m', examples: ['5m', '30s'], live: false,
    doc: 'a chunk or pack object no index row points at is deleted only once older than this, whatever `gcGrace` or `ferry admin gc --grace` say (10 s at least): another node sharing the store may be between storing it and indexing it. A node stalled longer (a paused VM, heavy swapping) is told its write lapsed and the chunk is asked for again; raise it where nodes stall that long. Set it alike on every node',
    apply: (c, v) => (c.gcMinAgeMs = v) }),
  def({ key: 'tusClaim', kind: durationAtLeast(3000, 'it is renewed every third of it'), default: '15s', examples: ['30s', '5s'], live: false,
    doc: 'with several nodes, how long a node\'s claim on a tus upload lasts unless renewed (every third of it while a PATCH runs): after a node dies mid-PATCH, the others answer that upload\'s PATCHes `423 FERRY_ERR_LOCKED` this long at most (3 s at least). Shorter: quicker takeover; longer: a node stalled that long keeps its upload. Set it alike on every node',
    apply: (c, v) => (c.tusClaimMs = v) }),
  def({ key: 'drainTimeout', kind: duration, default: '30s', examples: ['10s', '2m'], live: false,
    doc: 'on SIGTERM, how long requests in flight may take to finish; then the connections still open are closed and the server exits (`0`: wait however long; a second SIGTERM or Ctrl-C stops at once). An upload cut off resumes: its session stays',
    apply: (c, v) => (c.drainTimeoutMs = v) }),
  def({ key: 'ttlSweepInterval', kind: duration, default: '1m', examples: ['30s', '5m'], live: false,
    doc: 'how often files past their TTL are deleted (`0`: never)',
    apply: (c, v) => (c.ttlSweepIntervalMs = v) }),
  def({ key: 'tlsCert', kind: str(), examples: ['/etc/ferry/a.pem', '/etc/ferry/b.pem'], live: true,
    doc: 'serve HTTPS with this PEM certificate chain (with `tlsKey`); SIGHUP re-reads both files',
    apply: (c, v) => (c.tlsCert = v) }),
  def({ key: 'tlsKey', kind: str(), examples: ['/etc/ferry/a.key', '/etc/ferry/b.key'], live: true,
    doc: 'the PEM private key of `tlsCert`',
    apply: (c, v) => (c.tlsKey = v) }),
  def({ key: 'tlsSelfSigned', kind: bool, default: 'false', examples: ['true', 'false'], live: false,
    doc: 'HTTPS with a local CA and certificate made once in `DATA/tls/`; prints the fingerprint',
    apply: (c, v) => (c.tlsSelfSigned = v) }),
  def({ key: 'tlsHost', kind: list(), examples: ['nas.local', 'nas.lan,192.0.2.7'], live: false,
    doc: 'extra names and addresses for the self-signed certificate',
    apply: (c, v) => (c.tlsHostnames = v) }),
  def({ key: 'publicUrl', kind: str(checkPublicUrl), examples: ['https://files.example.com', 'https://nas.lan:7373'], live: true,
    doc: "base URL of share links (default: the request's Host)",
    apply: (c, v) => (c.publicUrl = v) }),
  def({ key: 'ipAllow', kind: cidrs, examples: ['10.0.0.0/8', '192.168.0.0/16,::1'], live: true,
    doc: 'accept requests only from these networks',
    apply: (c, v) => (c.ipAllow = new CidrList(v).entries) }),
  def({ key: 'ipDeny', kind: cidrs, examples: ['203.0.113.0/24', '198.51.100.7'], live: true,
    doc: 'refuse requests from these networks',
    apply: (c, v) => (c.ipDeny = new CidrList(v).entries) }),
  def({ key: 'trustProxy', kind: cidrs, examples: ['127.0.0.1,::1', '10.0.0.0/8'], live: false,
    doc: 'reverse proxies whose `X-Forwarded-For` names the client: used for IP lists, rate limits, the defender, audit and logs',
    apply: (c, v) => (c.trustProxy = new CidrList(v).entries) }),
  def({ key: 'maxFileSize', kind: sizeOrNone, default: 'none', examples: ['10G', '512M'], live: true,
    doc: 'largest file anyone may upload (users can have lower limits)',
    apply: (c, v) => (c.maxFileSize = v) }),
  def({ key: 'maxUploadSessions', kind: int(), default: '100', examples: ['20', '500'], live: true,
    doc: 'live upload sessions per user unless set per user (`0`: no limit)',
    apply: (c, v) => (c.maxUploadSessions = v) }),
  def({ key: 'maxTokensPerUser', kind: int(), default: '1000', examples: ['100', '0'], live: true,
    doc: 'live API tokens (not revoked, not expired) a user may hold; one more is 413 `FERRY_ERR_QUOTA_EXCEEDED`. The tokens password logins (`ferry login`) make are counted apart, to the same limit: one more login revokes the oldest of them (`0`: no limit)',
    apply: (c, v) => (c.maxTokensPerUser = v) }),
  def({ key: 'maxSharesPerUser', kind: int(), default: '10000', examples: ['500', '0'], live: true,
    doc: 'live share links (not revoked, not expired, not used up) a user may hold; one more is 413 `FERRY_ERR_QUOTA_EXCEEDED` (`0`: no limit)',
    apply: (c, v) => (c.maxSharesPerUser = v) }),
  def({ key: 'maxPendingEntries', kind: int(), default: '500000', examples: ['100000', '0'], live: true,
    doc: "chunk entries a user's upload sessions not yet committed may hold in all (each a row of the metadata store; a 10 GiB file is about 10,000, at most 41,000 at the default chunking); past it `413 FERRY_ERR_QUOTA_EXCEEDED` (`0`: no limit)",
    apply: (c, v) => (c.maxPendingEntries = v) }),
  def({ key: 'davPropertyBytes', kind: sizeOrNone, default: '256M', examples: ['64M', 'none'], live: true,
    doc: "room each user's WebDAV dead properties (PROPPATCH) may take, all their files together and whatever their quota (each counts its path, name, namespace and value, and 64 bytes); past it a PROPPATCH is 507 and a COPY 413 `FERRY_ERR_QUOTA_EXCEEDED`",
    apply: (c, v) => (c.davPropertyBytes = v) }),
  def({ key: 'rateLimitIp', kind: int(), default: '60000', examples: ['1000', '0'], live: true,
    doc: 'requests per minute per client address, `/healthz` and `/readyz` not counted (`0`: off)',
    apply: (c, v) => (c.rateLimit = { ...c.rateLimit, perIp: v }) }),
  def({ key: 'rateLimitToken', kind: int(), default: '60000', examples: ['500', '0'], live: true,
    doc: 'requests per minute per token (`0`: off)',
    apply: (c, v) => (c.rateLimit = { ...c.rateLimit, perToken: v }) }),
  def({ key: 'rateLimitAuth', kind: int(), default: '30', examples: ['10', '0'], live: true,
    doc: 'password attempts per minute per address (`0`: off)',
    apply: (c, v) => (c.rateLimit = { ...c.rateLimit, authPerIp: v }) }),
  def({ key: 'rateLimitSharePassword', kind: int(), default: '10', examples: ['4', '0'], live: true,
    doc: "wrong passwords per minute per share link, all addresses together, given back evenly (at 10, one every 6 s): guessing slows and recipients wait seconds; past it `429 FERRY_ERR_RATE_LIMITED` (a recipient holding the link's unlock cookie is not asked; `0`: off)",
    apply: (c, v) => (c.rateLimit = { ...c.rateLimit, sharePasswordPerLink: v }) }),
  def({ key: 'defender', kind: bool, default: 'true', examples: ['false', 'true'], live: false,
    doc: 'ban addresses that keep failing to authenticate',
    apply: (c, v) => (c.defender = { ...c.defender, enabled: v }) }),
  def({ key: 'defenderThreshold', kind: int(1), default: '15', examples: ['5', '30'], live: false,
    doc: 'failure score that bans an address (bad token id 2, bad secret 1)',
    apply: (c, v) => (c.defender = { ...c.defender, threshold: v }) }),
  def({ key: 'defenderBanTime', kind: duration, default: '30m', examples: ['1h', '10m'], live: false,
    doc: 'first ban length; each request during a ban adds half of it',
    apply: (c, v) => (c.defender = { ...c.defender, banMs: v }) }),
  def({ key: 'defenderSafe', kind: cidrs, examples: ['10.0.0.0/8', '127.0.0.0/8,::1'], live: false,
    doc: 'networks never banned besides loopback, which always is',
    // Loopback stays safe whatever is added (an admin on the server's own machine is never locked out).
    apply: (c, v) => (c.defender = { ...c.defender, safeList: [...DEFAULT_DEFENDER.safeList, ...new CidrList(v).entries] }) }),
  def({ key: 'maxConnectionsPerIp', kind: int(), default: '128', examples: ['32', '0'], live: false,
    doc: 'open connections per client address, over HTTP and over SFTP each; more are closed at once (`0`: no limit)',
    apply: (c, v) => (c.connections = { ...c.connections, maxPerAddress: v }) }),
  def({ key: 'headersTimeout', kind: duration, default: '30s', examples: ['10s', '0'], live: false,
    doc: "a request head must arrive within this, and over TLS the handshake before it (at least 5 s) (`0`: no limit; a handshake then has Node's 120 s)",
    apply: (c, v) => (c.connections = { ...c.connections, headersTimeoutMs: v }) }),
  def({ key: 'bodyTimeout', kind: duration, default: '60s', examples: ['30s', '0'], live: false,
    doc: 'a request body must reach `bodyMinRate` over every window this long, and an answer whose client takes none of it for this long is cut (`0`: no limit)',
    apply: (c, v) => (c.connections = { ...c.connections, bodyTimeoutMs: v }) }),
  def({ key: 'bodyMinRate', kind: sizeOrNone, default: '1K', examples: ['4K', '512'], live: false,
    doc: 'bytes per second a request body must reach over each `bodyTimeout` window',
    apply: (c, v) => (c.connections = { ...c.connections, bodyMinRate: v ?? 0 }) }),
  def({ key: 'bodyMemory', kind: sizeAtLeast(16 * 1024 * 1024), default: '16M', examples: ['32M', '256M'], live: false,
    doc: 'memory that chunk bodies being received may take, all uploads together, as much again for chunks read for downloads, and four times as much for uploads the server cuts into chunks itself (`curl -T`, WebDAV, upload links, SFTP); past it a request waits for room (at least `16M`, and 8/3 of the largest chunk)',
    apply: (c, v) => (c.bodyMemory = v) }),
  def({ key: 'adminToken', kind: str(adminTokenCheck), noFlag: true,
    examples: ['9c4f1e7a2b8d6053e1f4a9c7b2d8e605', 'c2e9a4f71b6d3085f7a1c9e4d2b6083a'], live: false,
    doc: 'the admin token, at least 32 characters and not guessable by its shape (`openssl rand -hex 32`); otherwise one is generated at the first start and saved in `DATA/initial-admin-token`. A start without it revokes the one an earlier start set (on a cluster: set it on every node)',
    apply: (c, v) => (c.adminToken = v) }),
  def({ key: 'sessionKey', kind: str((s) => Buffer.from(s, 'base64').length >= 32 || fail('must be at least 32 bytes, base64-encoded')), noFlag: true,
    examples: [Buffer.alloc(32, 1).toString('base64'), Buffer.alloc(32, 2).toString('base64')], live: false,
    doc: 'HMAC key of web-session tokens, base64, 32+ bytes; the same on every node (default: made once in `DATA/session-key`)',
    apply: (c, v) => (c.sessionKey = Buffer.from(v, 'base64')) }),
  def({ key: 'encryptionKeyFile', kind: str(), examples: ['/etc/ferry/store.key', '/run/secrets/ferry-key'], live: false,
    doc: 'encrypt every chunk store at rest with the master key in this file (`ferry admin keygen` makes one); an existing plain store is encrypted in the background, reads working throughout. A store that is encrypted refuses to start without its key',
    apply: (c, v) => (c.encryptionKeyFile = v) }),
  def({ key: 'encryptionKey', kind: str((s) => void masterKeyFromText(s, 'the value')), noFlag: true,
    examples: ['ferry-key-1:' + Buffer.alloc(32, 1).toString('base64url'), 'ferry-key-1:' + Buffer.alloc(32, 2).toString('base64url')], live: false,
    doc: 'the master key itself (`ferry-key-1:…`), instead of `encryptionKeyFile`',
    apply: (c, v) => (c.encryptionKey = v) }),
  def({ key: 'metricsToken', kind: str(metricsTokenCheck), noFlag: true, examples: ['5e0b8d3f9a1c7e26b4d0f8a3c1e9b7d2', 'a3f8c1e6d9b2047e5c8a1f3d6b9e2c70'], live: true,
    doc: 'a token that opens `GET /metrics` and nothing else (for Prometheus); at least 32 characters and not guessable by its shape, as `adminToken`',
    apply: (c, v) => (c.metricsToken = v) }),
  def({ key: 'versions', kind: structured('{keep, days, paths}', versionPolicyOf), default: '{keep: 0, days: 0}', examples: ['{"keep": 10, "days": 30}', '{"keep": 5, "paths": {"/docs": {"keep": 50}}}'], live: true,
    doc: 'old versions kept when a file is overwritten: at most `keep` per file, none older than `days` (0: no limit of that kind; both 0: versions off); `paths` overrides per subtree',
    apply: (c, v) => (c.versions = v) }),
  def({ key: 'trashDays', kind: int(), default: '0', examples: ['30', '7'], live: true,
    doc: 'deleted files are kept in the trash this many days (`0`: deletes are final, and the web app says so when it asks). Off by default: the trash is outside users\' quotas, so a user who deletes and uploads again fills the disk past their quota for these days',
    apply: (c, v) => (c.trashDays = v) }),
  def({ key: 'auditDays', kind: int(), default: '0', examples: ['365', '90'], live: true,
    doc: 'audit log entries older than this many days are deleted (checked every `ttlSweepInterval`; `0`: kept for ever). Every file operation of every user is an entry, so without a limit the log grows with use',
    apply: (c, v) => (c.auditDays = v) }),
  def({ key: 'webhookRetryDelay', kind: durationAtLeast(1000, '0 spent every attempt at once, before a receiver had a moment to come back'), default: '5s', examples: ['1s', '30s'], live: true,
    doc: 'first retry of a failed webhook delivery (1 s at least); each further retry waits twice as long (at most an hour)',
    apply: (c, v) => (c.webhookRetryDelayMs = v) }),
  def({ key: 'webhookMaxAttempts', kind: int(1, 1000), default: '12', examples: ['3', '20'], live: true,
    doc: 'attempts before a webhook delivery is given up (marked failed in `ferry admin webhook log`)',
    apply: (c, v) => (c.webhookMaxAttempts = v) }),
  def({ key: 'webhookTimeout', kind: durationAtLeast(1000, '0 failed every delivery before it was sent'), default: '10s', examples: ['5s', '30s'], live: true,
    doc: 'how long a webhook receiver may take to answer (1 s at least)',
    apply: (c, v) => (c.webhookTimeoutMs = v) }),
  def({ key: 'hooks', kind: structured('[{events, command, timeout}]', hooksOf), default: '[]', examples: ['[{"events": ["upload"], "command": ["/usr/local/bin/on-upload"]}]', '[{"events": ["delete", "move"], "command": ["logger", "-t", "ferry"], "timeout": "5s"}]'], live: true,
    doc: `programs run on events (${HOOK_EVENTS.join(', ')}) with the event as JSON on stdin`,
    apply: (c, v) => (c.hooks = v) }),
  def({ key: 'preUploadHook', kind: structured('{command, timeout}', preUploadHookOf), examples: ['{"command": ["clamdscan", "--no-summary", "-"]}', '{"command": ["/usr/local/bin/scan"], "timeout": "2m"}'], live: true,
    doc: 'a program that gets each uploaded file on stdin before it is committed; a non-zero exit rejects the upload',
    apply: (c, v) => (c.preUploadHook = v ?? undefined) }),
];

export const SETTINGS_BY_KEY: ReadonlyMap<string, Setting> = new Map(SETTINGS.map((s) => [s.key, s]));

export const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
export const envName = (key: string): string => 'FERRY_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
export const flagOf = (s: Setting): string | undefined => (s.noFlag ? undefined : `--${kebab(s.key)}`);

/** The flag that turns off a boolean setting that is on by default (`--no-fsync`); undefined for the rest. */
export const offFlagOf = (s: Setting): string | undefined => {
  const flag = flagOf(s);
  return flag && s.kind.name === 'boolean' && s.default === 'true' ? `--no-${flag.slice(2)}` : undefined;
};

/** Variables of Ferry's besides the settings' (client, keys, tests) that may sit near a setting's name. */
const OTHER_VARIABLES = new Set(['FERRY_CA', 'FERRY_SERVER', 'FERRY_TOKEN', 'FERRY_CONFIG', 'FERRY_CONFIG_DIR', 'FERRY_CONFIG_PASS', 'FERRY_SERVE_CONFIG', 'FERRY_DEBUG', 'FERRY_FINGERPRINT', 'FERRY_USER', 'FERRY_PATH', 'FERRY_SIZE', 'FERRY_EVENT']);

/**
 * Names other servers use for a setting, further than two letters from Ferry's
 * (`FERRY_DATA_DIR` set, `./ferry-data` used): warned about with the setting they mean.
 */
const GUESSED_NAMES = new Map<string, string>([
  ...['FERRY_DATA_DIR', 'FERRY_DATADIR', 'FERRY_DIR'].map((n): [string, string] => [n, 'FERRY_DATA']),
  ...['FERRY_PORT', 'FERRY_HOST', 'FERRY_LISTEN', 'FERRY_BIND', 'FERRY_ADDRESS', 'FERRY_LISTEN_ADDR'].map((n): [string, string] => [n, 'FERRY_ADDR']),
  ...['FERRY_DATABASE', 'FERRY_DATABASE_URL', 'FERRY_DB_URL'].map((n): [string, string] => [n, 'FERRY_DB']),
]);

/**
 * `FERRY_*` variables that are a setting's name misspelt (`FERRY_LOG_LEVL`): a file's unknown
 * key is refused, but the environment holds variables of every program, so these are only
 * warned about, each with the setting it is closest to (at most two letters off).
 */
export function misspeltVariables(env: NodeJS.ProcessEnv): { name: string; meant: string }[] {
  const names = SETTINGS.map((s) => envName(s.key));
  const out: { name: string; meant: string }[] = [];
  for (const name of Object.keys(env).filter((n) => n.startsWith('FERRY_')).sort()) {
    if (OTHER_VARIABLES.has(name) || names.includes(name)) continue;
    const meant = variableMeant(name);
    if (meant) out.push({ name, meant });
  }
  return out;
}

/** The setting's variable a `FERRY_*` name is near: another server's name for it, or two letters off. */
function variableMeant(name: string): string | undefined {
  return GUESSED_NAMES.get(name) ?? SETTINGS.map((s) => envName(s.key)).find((n) => editDistance(n, name) <= 2);
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

export type Source = 'default' | 'file' | 'env' | 'flag';

/** One problem with a setting; `line` when it came from a file. */
export interface SettingProblem {
  key: string;
  source: Source;
  message: string;
  line?: number;
}

export interface ResolvedSettings {
  values: Map<string, unknown>;
  sources: Map<string, Source>;
}

/** What a config file said: its values and where each key (and nested key) is. */
export interface FileSettings {
  file: string;
  values: Record<string, unknown>;
  /** The line of a key path (`['versions', 'keep']`), or undefined. */
  lineOf(path: (string | number)[]): number | undefined;
}

/** The field of a structured value that was wrong (`keep: ` in `--versions: keep: must be…`), or nothing. */
function fieldOf(err: unknown): string {
  return err instanceof SettingValueError && err.at.length > 0 ? `${err.at.join('.')}: ` : '';
}

/**
 * Resolves every setting from its sources: flags (already-typed text from commander), the
 * environment, the file. Collects all problems instead of stopping at the first.
 */
export function resolveSettings(input: { file?: FileSettings; env?: NodeJS.ProcessEnv; flags?: Record<string, string | string[] | boolean | undefined> }): { resolved: ResolvedSettings; problems: SettingProblem[] } {
  const values = new Map<string, unknown>();
  const sources = new Map<string, Source>();
  const problems: SettingProblem[] = [];
  const file = input.file;
  if (file) {
    for (const [key, value] of Object.entries(file.values)) {
      const s = SETTINGS_BY_KEY.get(key);
      if (!s) {
        problems.push({ key, source: 'file', message: `unknown setting ${JSON.stringify(key)}${suggest(key)}`, line: file.lineOf([key]) });
        continue;
      }
      try {
        values.set(key, s.kind.fromFile(value));
        sources.set(key, 'file');
      } catch (err) {
        const at = err instanceof SettingValueError ? err.at : [];
        const where = at.length > 0 ? `${key}.${at.join('.')}` : key;
        problems.push({ key, source: 'file', message: `${where}: ${(err as Error).message}`, line: file.lineOf([key, ...at]) ?? file.lineOf([key]) });
      }
    }
  }
  for (const s of SETTINGS) {
    const text = input.env?.[envName(s.key)];
    if (text === undefined || text === '') continue;
    try {
      values.set(s.key, s.kind.fromText(text));
      sources.set(s.key, 'env');
    } catch (err) {
      problems.push({ key: s.key, source: 'env', message: `${envName(s.key)}: ${fieldOf(err)}${(err as Error).message}` });
    }
  }
  for (const s of SETTINGS) {
    const given = input.flags?.[s.key];
    if (given === undefined || s.noFlag) continue;
    try {
      const value = typeof given === 'boolean' ? given : Array.isArray(given) ? s.kind.fromText(given.join(',')) : s.kind.fromText(given);
      values.set(s.key, value);
      sources.set(s.key, 'flag');
    } catch (err) {
      problems.push({ key: s.key, source: 'flag', message: `${flagOf(s)}: ${fieldOf(err)}${(err as Error).message}` });
    }
  }
  return { resolved: { values, sources }, problems };
}

/**
 * The setting a file's unknown key may mean, by the rules the environment's names are
 * warned by (misspeltVariables): `max_file_size`, `maxFileSise`, `data_dir`, `port`.
 */
function suggest(key: string): string {
  const asVariable = envName(key.replace(/[-\s]/g, '_')).replace(/__+/g, '_');
  const meant = SETTINGS.find((s) => envName(s.key) === asVariable) ?? SETTINGS.find((s) => envName(s.key) === variableMeant(asVariable));
  return meant ? ` (did you mean ${JSON.stringify(meant.key)}?)` : '';
}

/** Applies resolved values (and only those) onto a config built from defaults. */
export function applySettings(config: ServerConfig, resolved: ResolvedSettings): ServerConfig {
  for (const s of SETTINGS) if (resolved.values.has(s.key)) s.apply(config, resolved.values.get(s.key));
  return config;
}

/** Keys whose value differs between two resolutions (a SIGHUP's re-read against the running one). */
export function changedKeys(a: ResolvedSettings, b: ResolvedSettings): string[] {
  return SETTINGS.filter((s) => JSON.stringify(a.values.get(s.key)) !== JSON.stringify(b.values.get(s.key))).map((s) => s.key);
}

/** Throws one ConfigError listing every problem (`FILE:LINE: message`). */
export function throwProblems(problems: readonly SettingProblem[], file?: string): void {
  if (problems.length === 0) return;
  throw new ConfigError(problems.map((p) => formatProblem(p, file)).join('\n'), { details: { problems } });
}

export function formatProblem(p: SettingProblem, file?: string): string {
  if (p.source === 'file' && file) return `${file}:${p.line ?? '?'}: ${p.message}`;
  return p.message;
}

/**
 * Where a setting's value came from, as a person would go and change it: `--addr`,
 * `FERRY_ADDR`, `addr in /etc/ferry/ferry.yaml:3`. A default is named by its flag (or its
 * variable, for a setting without one): that is where to set another value.
 */
export function settingOrigin(key: string, resolved: ResolvedSettings, file?: FileSettings): string {
  const s = SETTINGS_BY_KEY.get(key)!;
  const source = resolved.sources.get(key) ?? 'default';
  if (source === 'env') return envName(key);
  if (source === 'file' && file) {
    const line = file.lineOf([key]);
    return `${key} in ${file.file}${line === undefined ? '' : `:${line}`}`;
  }
  return flagOf(s) ?? envName(key);
}

/** The README's table of settings (`ferry config docs`). */
export function settingsMarkdown(): string {
  const rows = SETTINGS.map((s) => {
    const flag = flagOf(s);
    const off = offFlagOf(s);
    const flags = flag ? `\`${flag}\`${off ? ` (\`${off}\`)` : ''}` : 'no flag';
    const names = [`\`${s.key}\``, flags, `\`${envName(s.key)}\``].join(' · ');
    // A `|` in a cell (the log levels' `fatal | error | …`) would end it and push the rest a column on.
    const cell = (text: string) => text.replace(/\|/g, '\\|');
    return `| ${names} | ${cell(s.kind.name)} | ${s.default === undefined ? '' : `\`${cell(s.default)}\``} | ${s.live ? 'yes' : 'restart'} | ${cell(s.doc)} |`;
  });
  return ['| setting · flag · variable | type | default | SIGHUP | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join('\n') + '\n';
}

/** A commented YAML file with every setting at its default (`ferry config example`). */
export function exampleYaml(): string {
  const out = ['# Ferry server configuration (ferry serve --config FILE). Every setting, commented out', '# at its default; `ferry config docs` explains each. Flags and FERRY_* variables override it.', ''];
  for (const s of SETTINGS) {
    out.push(`# ${s.doc.replace(/`/g, '')}${s.live ? '' : ' (restart to change)'}`);
    out.push(`# ${s.key}: ${yamlValueOf(s, s.default ?? s.examples[0])}`, '');
  }
  return out.join('\n');
}

/** A setting's text form (a flag's value) as a YAML value: lists as lists, JSON as flow YAML. */
export function yamlValueOf(s: Setting, text: string): string {
  if (s.kind.name === 'list') return `[${text.split(/[\s,]+/).filter(Boolean).map((v) => JSON.stringify(v)).join(', ')}]`;
  if (/^[[{]/.test(text) || s.kind.name === 'integer' || s.kind.name === 'boolean') return text;
  return JSON.stringify(text);
}
