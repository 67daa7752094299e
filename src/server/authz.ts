/**
 * Authorization: the one place that decides what an authenticated request may do where.
 * Every route asks here; none compares roles, scopes or paths on its own.
 *
 * Paths a user sends are relative to their home (`/` is the home): a user cannot even name
 * another user's files. At a path, what a request may do is
 *
 *     grant(path) ∩ scopes, and nothing outside the token's path prefix
 *
 * where grant(path) is the user's grant on the nearest ancestor-or-self of the path (the
 * admin role holds every permission everywhere in its home) and scopes are the token's.
 * Operations on a whole tree (recursive delete, moving or copying a directory) also need
 * the permission at every grant path inside the tree, so a narrower grant deeper down
 * (a read-only sub-folder) cannot be side-stepped by acting on its parent.
 */
import { FerryError, ForbiddenError, ferryErrorOf } from '../core/errors.js';
import { PERMISSIONS, type Permission } from '../core/permissions.js';
import { isWithin, joinPath, normalizePath, relativePath } from '../core/path.js';
import type { Entry, UserLimits } from '../core/protocol.js';

export interface Grant {
  /** Relative to the home, normalized. */
  path: string;
  perms: ReadonlySet<Permission>;
}

/** The authenticated identity of a request, with everything authorization needs. */
export interface AuthContext {
  /** How the request authenticated (`password`: HTTP Basic with the account's password; `ssh`: a login to the SFTP front). */
  kind: 'token' | 'session' | 'password' | 'ssh';
  userId: string;
  userName: string;
  role: 'admin' | 'user';
  /** Server path of the user's root. */
  home: string;
  /** API token id, `session:<id>` for a web session, `password:<user id>` for a password. */
  tokenId: string;
  /** The token's scopes (already resolved: `*` is every permission). */
  scopes: ReadonlySet<Permission>;
  /** Relative to the home; null: the whole home. */
  pathPrefix: string | null;
  /** The user's grants, deepest path first. */
  grants: readonly Grant[];
  limits: UserLimits;
  /**
   * Where the account's history begins (ms, its creation), for an account whose home is not
   * `/`: trash and old versions under its home from before it are a removed account's of the
   * same home (or what an admin kept there), never this one's. Undefined: all of it.
   */
  historySince?: number;
  /**
   * Set when a share link acts for its owner (a visitor): the link's id and its path (a
   * user path of the owner, also the `pathPrefix`). Visitors name files relative to it.
   */
  share?: { id: string; root: string };
}

const ALL: ReadonlySet<Permission> = new Set(PERMISSIONS);
const NONE: ReadonlySet<Permission> = new Set();

/** Sorts grants so that the first one containing a path is the nearest. */
export function sortGrants(grants: Grant[]): Grant[] {
  return grants.sort((a, b) => b.path.length - a.path.length || (a.path < b.path ? -1 : 1));
}

/** What the user (ignoring the token) holds at `path`. */
function granted(auth: AuthContext, path: string): ReadonlySet<Permission> {
  if (auth.role === 'admin') return ALL;
  for (const g of auth.grants) if (isWithin(path, g.path)) return g.perms;
  return NONE;
}

/** Every permission the user holds somewhere: the ceiling for a new token's scopes. */
export function userPermissions(auth: Pick<AuthContext, 'role' | 'grants'>): Set<Permission> {
  if (auth.role === 'admin') return new Set(PERMISSIONS);
  const out = new Set<Permission>();
  for (const g of auth.grants) for (const p of g.perms) if (p !== 'admin') out.add(p);
  return out;
}

/**
 * The user's grants as a token limited to a prefix may see them: those inside the prefix,
 * and the one that holds at the prefix itself named as the prefix (what the token holds
 * there), never a path outside it (a grant's path names a folder the token may not list).
 * Without a prefix: all of them. Deepest first, as `auth.grants`.
 */
export function grantsWithinPrefix(auth: AuthContext): readonly Grant[] {
  const prefix = auth.pathPrefix;
  if (prefix === null) return auth.grants;
  const inside = auth.grants.filter((g) => isWithin(g.path, prefix));
  if (inside.some((g) => g.path === prefix)) return inside;
  const holding = auth.grants.find((g) => isWithin(prefix, g.path));
  return holding ? [...inside, { path: prefix, perms: holding.perms }] : inside;
}

export function withinPrefix(auth: AuthContext, path: string): boolean {
  return auth.pathPrefix === null || isWithin(path, auth.pathPrefix);
}

/** The permissions this request holds at a user path. */
export function permissionsAt(auth: AuthContext, path: string): Set<Permission> {
  if (!withinPrefix(auth, path)) return new Set();
  const g = granted(auth, path);
  return new Set([...g].filter((p) => auth.scopes.has(p)));
}

export function can(auth: AuthContext, perm: Permission, path: string): boolean {
  return withinPrefix(auth, path) && auth.scopes.has(perm) && granted(auth, path).has(perm);
}

function deny(auth: AuthContext, perm: Permission, path: string): never {
  if (!withinPrefix(auth, path)) {
    throw new ForbiddenError(`${path} is outside this token's path prefix ${auth.pathPrefix}`, { details: { path, permission: perm } });
  }
  if (!auth.scopes.has(perm)) throw new ForbiddenError(`this token lacks the '${perm}' scope`, { details: { path, permission: perm } });
  throw new ForbiddenError(`no '${perm}' permission on ${path}`, { details: { path, permission: perm } });
}

/**
 * Checks `perm` at a user path and returns the server path it names. FERRY_ERR_FORBIDDEN
 * when the request may not.
 */
export function authorize(auth: AuthContext, perm: Permission, userPath: string): string {
  if (!can(auth, perm, userPath)) deny(auth, perm, userPath);
  return toServerPath(auth, userPath);
}

/** As {@link authorize}, and also at every grant path strictly inside the tree at `userPath`. */
export function authorizeTree(auth: AuthContext, perm: Permission, userPath: string): string {
  const server = authorize(auth, perm, userPath);
  if (auth.role !== 'admin') {
    for (const g of auth.grants) {
      if (g.path !== userPath && isWithin(g.path, userPath) && !g.perms.has(perm)) deny(auth, perm, g.path);
    }
  }
  return server;
}

/** Whether the request may read somewhere in the tree at `userPath` (at it, or below it through a grant). */
function mayReadWithin(auth: AuthContext, userPath: string): boolean {
  if (can(auth, 'read', userPath)) return true;
  if (!auth.scopes.has('read')) return false;
  return auth.grants.some((g) => isWithin(g.path, userPath) && g.perms.has('read') && withinPrefix(auth, g.path));
}

/**
 * Checks that what lies at `from` (now, or before it went to the trash) may be put at `to`
 * where the request may read: then it needs 'read' on the whole tree at `from` too. A move
 * must not make readable what was not: a file in a folder whose grant withholds 'read'
 * (`list` only, or `list,write,delete`) moved or restored into one that grants it.
 */
export function authorizeReadableAt(auth: AuthContext, from: string, to: string): void {
  if (!mayReadWithin(auth, to)) return;
  try {
    authorizeTree(auth, 'read', from);
  } catch (err) {
    if (!(err instanceof ForbiddenError)) throw err;
    throw new ForbiddenError(`${err.message}: it cannot go to ${to}, where it could be read`, { cause: err, details: { ...err.details, to } });
  }
}

/**
 * A move (rename) from `from` to `to`, the same on every front: 'delete' on the whole tree at
 * `from`, 'write' on the whole tree at `to`, and {@link authorizeReadableAt}. Returns the
 * server paths.
 */
export function authorizeMove(auth: AuthContext, from: string, to: string): { src: string; dst: string } {
  const src = authorizeTree(auth, 'delete', from);
  const dst = authorizeTree(auth, 'write', to);
  authorizeReadableAt(auth, from, to);
  return { src, dst };
}

/**
 * The admin API, the server-wide operations (users, the audit log, bans, sweeps, upload
 * sessions, stats, GC, backup and check, webhooks; other users' tokens, links and keys): the
 * admin role, a token holding the `admin` scope, and no path prefix. A token narrowed to a
 * folder keeps its admin's file operations inside that folder (as {@link authorize} decides)
 * and nothing that reaches past it: every account, every user's history, the server's
 * secrets. FERRY_ERR_FORBIDDEN.
 */
export function authorizeAdmin(auth: AuthContext): void {
  // Naming the user: a refusal that says only "admin needed" leaves a person with several saved tokens guessing which one was sent.
  const credential = auth.kind === 'token' ? 'token' : auth.kind === 'session' ? 'session' : 'login';
  if (auth.role !== 'admin') throw new ForbiddenError(`this needs an admin account: this ${credential} belongs to ${auth.userName}, who is not an admin`);
  if (!auth.scopes.has('admin')) throw new ForbiddenError(`this ${credential} of ${auth.userName} lacks the 'admin' scope`);
  if (auth.pathPrefix !== null) throw new ForbiddenError(`this needs an admin token without a path prefix (this ${credential} of ${auth.userName} is limited to ${auth.pathPrefix})`);
}

/** Whether the request may use the admin API ({@link authorizeAdmin}). */
export function isAdmin(auth: AuthContext): boolean {
  return auth.role === 'admin' && auth.scopes.has('admin') && auth.pathPrefix === null;
}

export function toServerPath(auth: Pick<AuthContext, 'home'>, userPath: string): string {
  return auth.home === '/' ? userPath : joinPath(auth.home, userPath);
}

/** The user's name for a server path inside their home. */
export function toUserPath(auth: Pick<AuthContext, 'home'>, serverPath: string): string {
  if (auth.home === '/') return serverPath;
  return normalizePath('/' + relativePath(serverPath, auth.home));
}

/**
 * Text as its user should read it: every server path inside their home (`/users/ana/x`, at
 * the start of the text or after a space, quote, bracket, `=` or `,`) named as theirs (`/x`).
 * Error messages are written with server paths; this keeps them in the caller's terms.
 */
export function toUserText(auth: Pick<AuthContext, 'home'>, text: string): string {
  if (auth.home === '/') return text;
  const home = auth.home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text
    .replace(new RegExp(`(^|[\\s"'(\\[,=])${home}/`, 'g'), '$1/')
    .replace(new RegExp(`(^|[\\s"'(\\[,=])${home}(?=$|[\\s"'):,\\]])`, 'g'), '$1/');
}

/** A FerryError as its user should read it (see {@link toUserText}): message and string details. */
export function toUserError(auth: Pick<AuthContext, 'home'>, err: FerryError): FerryError {
  if (auth.home === '/') return err;
  const map = (v: unknown): unknown => (typeof v === 'string' ? toUserText(auth, v) : Array.isArray(v) ? v.map(map) : v);
  const details = err.details === undefined ? undefined : Object.fromEntries(Object.entries(err.details).map(([k, v]) => [k, map(v)]));
  return ferryErrorOf(err.code, toUserText(auth, err.message), { cause: err, details, retryable: err.retryable, retryAfterMs: err.retryAfterMs });
}

/**
 * Whether the caller may see the content hash of what lies at a user path: only where they
 * may read it. A hash confirms a guess of what a file holds (a known document, a form with
 * one figure changed), which `list` alone must not: it shows names, sizes and times.
 */
export function mayKnowHash(auth: AuthContext, userPath: string): boolean {
  return can(auth, 'read', userPath);
}

/** An entry as its user sees it: path relative to the home, the hash only if {@link mayKnowHash}. */
export function toUserEntry<E extends Entry>(auth: AuthContext, entry: E): E {
  const shown = auth.home === '/' ? entry : { ...entry, path: toUserPath(auth, entry.path) };
  if (shown.hash === undefined || mayKnowHash(auth, shown.path)) return shown;
  const { hash: _hidden, ...rest } = shown;
  return rest as E;
}

/**
 * For requests that act on something the user owns rather than on a path (their upload
 * sessions, tokens, share links): the token must carry the scope, wherever it applies.
 */
export function authorizeScope(auth: AuthContext, perm: Permission): void {
  if (!auth.scopes.has(perm)) throw new ForbiddenError(`this token lacks the '${perm}' scope`, { details: { permission: perm } });
}
