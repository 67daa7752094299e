/**
 * The one location syntax of every command: what an argument names.
 *
 *   ./dir, ../dir, ~/dir, C:\dir       a local path, always (C:/dir too on Windows; elsewhere
 *                                      a:/x is refused: no remote has a one-letter name)
 *   local:/dir                         a local path, always
 *   ferry:/path                        the logged-in server (ferry login / FERRY_SERVER)
 *   ferry://host:port/path             another Ferry server
 *   NAME:path                          a named remote (`ferry remote add`), a Ferry server's included
 *   s3:bucket/x, sftp://h/x, memory:x  a backend typed in place
 *   /path, path                        see below
 *
 * A bare path (no `type:` or `NAME:` in front, not starting with `./`, `../` or `~`) is the
 * only form whose meaning depends on the command, and that is deliberate: commands between two
 * places (sync, copy, move, check, bisync) read it as rclone does, a local path; commands about
 * the server's files (the remote side of put and get, and ls, stat, cat, size, rm, mkdir, mv,
 * cp) read it as a path on the logged-in server, a shorthand for `ferry:PATH` kept because
 * `ferry put f /x` is what people type. Either way `./x` or `local:/x` is local and
 * `ferry:/x` is the server.
 *
 * Something that looks like `word:rest` but names neither a backend type nor a configured
 * remote is an error (FERRY_ERR_CONFIG), never a file or directory named `word:` (a local
 * path with a colon before its first slash is written `./word:rest`).
 */
import { normalizePath } from '../core/path.js';
import { ConfigError, UsageError } from '../core/errors.js';
import { refuseLetterColon, type BackendRegistry } from '../backends/registry.js';
import type { RemoteContext } from '../backends/definition.js';

/** What a bare path means for the command at hand (see the module comment). */
export type BareMeaning = 'server' | 'local';

export type Location =
  /** A Ferry server: the logged-in one (`server` undefined) or another. `path` is absolute. */
  | { kind: 'server'; path: string; server?: string; token?: string; spec: string; label: string }
  /** A local file or directory. */
  | { kind: 'local'; path: string; spec: string; label: string }
  /** Any other remote (S3, SFTP, memory, a named remote of those): opened through the registry. */
  | { kind: 'remote'; type: string; spec: string; label: string };

/** `type:rest` or `NAME:rest` (two characters at least: one letter before a colon is a drive). */
const TYPED = /^[A-Za-z][A-Za-z0-9+.-]+:/;
/** A drive: `C:\dir` anywhere (a Windows path pasted as it is), `C:/dir` and `C:` on Windows. */
const DRIVE = /^[A-Za-z]:\\/;
const WINDOWS_DRIVE = /^[A-Za-z]:([\\/]|$)/;
const EXPLICIT_LOCAL = /^(\.\.?|~)([\\/]|$)/;
/** `http://…` or `https://…`: a server's address or a share link, pasted where a location goes. */
const WEB_URL = /^(https?):\/\//i;

/**
 * Classifies one argument. `registry` and `context` (named remotes, environment) resolve the
 * `type:` and `NAME:` forms; an unknown one throws FERRY_ERR_CONFIG from the registry.
 */
export function parseLocation(arg: string, bare: BareMeaning, registry: BackendRegistry, context: RemoteContext = {}): Location {
  if (typeof arg !== 'string' || arg === '') throw new UsageError('a location must not be empty (a path, ferry:/path or NAME:path)');
  const drive = DRIVE.test(arg) || ((context.platform ?? process.platform) === 'win32' && WINDOWS_DRIVE.test(arg));
  if (drive || EXPLICIT_LOCAL.test(arg)) return { kind: 'local', path: arg, spec: arg, label: arg };
  refuseLetterColon(arg, context, registry.redactRemote(arg));
  if (!TYPED.test(arg)) {
    if (bare === 'local') return { kind: 'local', path: arg, spec: arg, label: arg };
    const path = normalizePath(arg.startsWith('/') ? arg : `/${arg}`);
    return { kind: 'server', path, spec: `ferry:${path}`, label: path };
  }
  const label = registry.redactRemote(arg);
  const url = WEB_URL.exec(arg);
  if (url && context.remotes?.[url[1]] === undefined) {
    // What people paste: the server's address, or a share link. Neither is a location.
    throw new ConfigError(
      `${label} is a web address, not a location: a Ferry server's files are ferry:/path (the server of ferry login), ` +
        `NAME:/path (after ferry login URL --name NAME) or ferry://host:port/path (plain http); a share link (/s/…) is fetched with curl -OJ URL (a folder's as one zip: curl -OJ 'URL?zip=1') or a browser`,
      { details: { type: url[1].toLowerCase() } },
    );
  }
  const parsed = registry.parseRemote(arg, context);
  const { type, options } = parsed;
  if (type === 'local') return { kind: 'local', path: String(options.root), spec: arg, label };
  if (type === 'ferry') {
    return {
      kind: 'server',
      path: normalizePath(String(options.path ?? '/')),
      server: typeof options.server === 'string' ? options.server : undefined,
      token: typeof options.token === 'string' ? options.token : undefined,
      spec: arg,
      label,
    };
  }
  return { kind: 'remote', type, spec: arg, label };
}

/** {@link parseLocation} with the process's registry, named remotes and environment (loaded on demand). */
export async function resolveLocations(args: string[], bare: BareMeaning): Promise<Location[]> {
  const { defaultRegistry, remoteContext } = await import('../remotes/index.js');
  const context = await remoteContext();
  return args.map((a) => parseLocation(a, bare, defaultRegistry, context));
}

/** Whether the location names the server of `ferry login` or the one of --server (no server of its own). */
/**
 * Whether a location typed as a path ends in `.` or `..` (`.`, `./`, `../`, `local:.`): the
 * folder the command runs in, or above it, which rm and mv refuse to take away, as rm(1) and
 * mv(1) do.
 */
export function endsInDot(spec: string): boolean {
  return /(^|[/\\:])\.\.?[/\\]*$/.test(spec);
}

export function isDefaultServer(l: Location): l is Extract<Location, { kind: 'server' }> {
  return l.kind === 'server' && l.server === undefined;
}

/**
 * A location that must be on a Ferry server (versions, trash: only a Ferry server keeps them):
 * a bare path, `ferry:/path`, `ferry://host/path` or a named remote of type ferry.
 */
export async function resolveServerLocation(arg: string, what: string): Promise<Extract<Location, { kind: 'server' }>> {
  const [loc] = await resolveLocations([arg], 'server');
  if (loc.kind !== 'server') throw new UsageError(`${what} are kept by a Ferry server; ${loc.label} is not one`);
  return loc;
}
