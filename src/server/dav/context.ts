/**
 * What every WebDAV handler shares: the caller's path of a request, entries and ETags, the
 * evaluation of the If header (412) and the enforcement of locks (423).
 *
 * Locks (RFC 4918 section 7): a write to a resource covered by a lock (a lock on it, or a
 * depth-infinity lock on an ancestor) needs the lock's token among those the If header
 * names, sent by the user who took the lock. Where several shared locks cover a resource,
 * one of them is enough; an exclusive lock needs its own token. Creating or removing a
 * member also changes its parent collection, so a depth-0 lock on the parent counts too;
 * an operation on a whole tree (DELETE, MOVE) needs the tokens of the locks inside it.
 */
import type { FastifyRequest } from 'fastify';
import { LockedError, NotFoundError, PreconditionFailedError, ValidationError } from '../../core/errors.js';
import { isWithin, parentPath } from '../../core/path.js';
import type { Entry } from '../../core/protocol.js';
import type { DavStore, LockRow } from '../../store/dav-store.js';
import { authOf, type ServerContext } from '../context.js';
import { mayKnowHash, toServerPath, toUserPath, type AuthContext } from '../authz.js';
import { evaluateIf, parseIfHeader, submittedTokens, type IfList, type ResourceState } from './if-header.js';
import { davPathOf, rawUrlPath } from './paths.js';

export interface DavTarget {
  auth: AuthContext;
  /** The caller's path (relative to their home). */
  path: string;
  /** The server path (not yet authorized: handlers call authorize() for the permission they need). */
  server: string;
}

/** What a write is about to change, for {@link Dav.guard}. */
export interface WriteScope {
  /** Caller path of the resource written. */
  path: string;
  /** Its entry now (undefined: it does not exist). */
  entry: Entry | undefined;
  /** The whole tree below it is changed or removed (DELETE, MOVE's source, an overwritten destination). */
  tree?: boolean;
  /** A member is created or removed: the parent collection changes too. */
  member?: boolean;
}

/** A write's conditions on its resource's content, checked again against what it holds at the commit (412 when they fail). */
export type CommitCondition = (current: Entry | undefined) => Promise<void>;

export class Dav {
  readonly store: DavStore;

  constructor(readonly ctx: ServerContext) {
    this.store = ctx.davStore;
  }

  target(request: FastifyRequest): DavTarget {
    const auth = authOf(request);
    const path = davPathOf(rawUrlPath(request.url));
    return { auth, path, server: toServerPath(auth, path) };
  }

  /** The entry at a server path, or undefined. */
  async entry(server: string): Promise<Entry | undefined> {
    try {
      return await this.ctx.meta.stat(server);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * A file's ETag on the share: the first 128 bits of its tree hash, quoted, the one GET,
   * PROPFIND and If conditions use. Shorter than the native API's whole hash because
   * clients keep If headers in small buffers (litmus truncates an If header naming a lock
   * token and two 66-character ETags). Collections have none.
   */
  static etag(entry: Entry | undefined, auth: AuthContext): string | undefined {
    if (entry?.type !== 'file' || entry.hash === undefined) return undefined;
    // Derived from the content: none for who may only list the file (authz mayKnowHash), so
    // that neither getetag nor an If-Match that holds confirms a guess of what it holds.
    return mayKnowHash(auth, toUserPath(auth, entry.path)) ? Dav.etagOfHash(entry.hash) : undefined;
  }

  static etagOfHash(hash: string): string {
    return `"${hash.slice(0, 32)}"`;
  }

  /** Live locks covering a server path (with `below`, also those inside its tree). */
  locks(server: string, below = false): Promise<LockRow[]> {
    return this.store.locksCovering(server, this.ctx.now(), { below });
  }

  /** The If header of a request, parsed (undefined when absent). */
  ifLists(request: FastifyRequest): IfList[] | undefined {
    const h = request.headers.if;
    if (h === undefined) return undefined;
    return parseIfHeader(Array.isArray(h) ? h.join(' ') : h);
  }

  /**
   * Before a write: the If header must hold for the request's resource `primary` (412
   * otherwise), the lock tokens it submits must cover every lock on what the write changes
   * (`scopes`, by default the primary; 423 otherwise), and If-Match / If-None-Match /
   * If-Unmodified-Since must hold for the primary (412).
   *
   * Returns the conditions on the primary's content, for its commit to check again (PUT:
   * CommitOptions.expect), or undefined when the request has none: a body streams in
   * between this early check and the commit, and another writer may replace the file
   * meanwhile. Locks and tagged resources other than the primary count as found here.
   */
  async guard(request: FastifyRequest, auth: AuthContext, primary: WriteScope, scopes: WriteScope[] = [primary]): Promise<CommitCondition | undefined> {
    const lists = this.ifLists(request);
    const states = new Map<string | undefined, { primary: boolean; state: ResourceState }>();
    if (lists) {
      for (const resource of new Set(lists.map((l) => l.resource))) states.set(resource, await this.stateOf(auth, resource, primary));
      const ok = await evaluateIf(lists, async (resource) => states.get(resource)!.state);
      if (!ok) throw new PreconditionFailedError('the If header does not hold');
    }
    checkMatchHeaders(request, primary.entry, auth);
    const submitted = lists ? submittedTokens(lists) : new Set<string>();
    for (const scope of scopes) await this.requireTokens(auth, scope, submitted);
    const onContent = lists?.some((l) => l.conditions.some((c) => c.etag !== undefined)) || ['if-match', 'if-none-match', 'if-unmodified-since'].some((h) => request.headers[h] !== undefined);
    if (!onContent) return undefined;
    return async (current) => {
      if (lists) {
        const etag = Dav.etag(current, auth);
        const now = (resource: string | undefined): ResourceState => {
          const { primary: isPrimary, state } = states.get(resource)!;
          return isPrimary ? { tokens: state.tokens, ...(etag !== undefined ? { etag } : {}) } : state;
        };
        if (!(await evaluateIf(lists, async (resource) => now(resource)))) throw new PreconditionFailedError('the If header does not hold (the resource changed while the request was sent)');
      }
      checkMatchHeaders(request, current, auth);
    };
  }

  /** 423 unless `submitted` satisfies every lock on what `scope` changes. */
  async requireTokens(auth: AuthContext, scope: WriteScope, submitted: ReadonlySet<string>): Promise<void> {
    const server = toServerPath(auth, scope.path);
    const found = await this.locks(server, scope.tree ?? false);
    if (scope.member && scope.path !== '/') {
      const parent = toServerPath(auth, parentPath(scope.path));
      // Depth-infinity locks on the parent already cover the member; its depth-0 locks guard its membership.
      for (const l of await this.store.locksCovering(parent, this.ctx.now())) if (l.path === parent && l.infinite === 0) found.push(l);
    }
    if (found.length === 0) return;
    const mine = (l: LockRow) => submitted.has(l.token) && l.user_id === auth.userId;
    // Each lock root is a resource whose locks must be satisfied on their own.
    for (const root of new Set(found.map((l) => l.path))) {
      const covering = found.filter((l) => l.path === root || (l.infinite === 1 && isWithin(root, l.path)));
      const exclusive = covering.filter((l) => l.scope === 'exclusive');
      const ok = exclusive.length > 0 ? exclusive.every(mine) : covering.some(mine);
      if (!ok) throw new LockedError(`${scope.path} is locked${root !== server ? ' (a lock inside it or around it)' : ''}: send the lock token in an If header`, { details: { path: scope.path } });
    }
  }

  /** The state of the resource an If list names (undefined: the request's own), and whether it is the primary. */
  private async stateOf(auth: AuthContext, resource: string | undefined, primary: WriteScope): Promise<{ primary: boolean; state: ResourceState }> {
    let path: string;
    if (resource === undefined || resource === primary.path) path = primary.path;
    else {
      try {
        path = davPathOf(new URL(resource, 'http://tag.invalid').pathname);
      } catch {
        return { primary: false, state: { tokens: new Set() } }; // a tag outside the share: nothing holds for it
      }
    }
    const server = toServerPath(auth, path);
    const entry = path === primary.path ? primary.entry : await this.entry(server);
    const tokens = new Set((await this.locks(server)).map((l) => l.token));
    const etag = Dav.etag(entry, auth);
    return { primary: path === primary.path, state: etag === undefined ? { tokens } : { etag, tokens } };
  }
}

/**
 * If-Match / If-None-Match / If-Unmodified-Since (RFC 9110 13.1) on a write: 412 when they
 * do not hold. If-Unmodified-Since is compared with the Last-Modified GET sends (the
 * modification time, to the second); it is ignored beside If-Match, when it is not a date,
 * and for a resource that does not exist (nothing to compare).
 */
function checkMatchHeaders(request: FastifyRequest, entry: Entry | undefined, auth: AuthContext): void {
  const etag = Dav.etag(entry, auth);
  const ifMatch = request.headers['if-match'];
  if (ifMatch !== undefined) {
    const ok = ifMatch.trim() === '*' ? entry !== undefined : etag !== undefined && ifMatch.split(',').some((t) => t.trim() === etag);
    if (!ok) throw new PreconditionFailedError('If-Match does not hold');
  }
  const since = request.headers['if-unmodified-since'];
  if (ifMatch === undefined && since !== undefined && entry !== undefined) {
    const date = Date.parse(since);
    if (!Number.isNaN(date) && Math.floor(entry.mtime / 1000) * 1000 > date) throw new PreconditionFailedError('If-Unmodified-Since does not hold: the resource was modified since');
  }
  const ifNone = request.headers['if-none-match'];
  if (ifNone !== undefined) {
    const hit = ifNone.trim() === '*' ? entry !== undefined : etag !== undefined && ifNone.split(',').some((t) => t.trim() === etag);
    if (hit) throw new PreconditionFailedError('If-None-Match does not hold');
  }
}

/** The Depth header: '0', '1' or 'infinity' (default `fallback`); anything else is 400. */
export function depthOf(request: FastifyRequest, fallback: '0' | '1' | 'infinity'): '0' | '1' | 'infinity' {
  const h = request.headers.depth;
  if (h === undefined) return fallback;
  const v = (Array.isArray(h) ? h[0] : h).trim().toLowerCase();
  if (v === '0' || v === '1' || v === 'infinity') return v;
  throw new ValidationError(`Depth must be 0, 1 or infinity, not ${JSON.stringify(v)}`);
}

/** The Overwrite header (T by default). */
export function overwriteOf(request: FastifyRequest): boolean {
  const h = request.headers.overwrite;
  if (h === undefined) return true;
  const v = (Array.isArray(h) ? h[0] : h).trim().toUpperCase();
  if (v === 'T') return true;
  if (v === 'F') return false;
  throw new ValidationError('Overwrite must be T or F');
}
