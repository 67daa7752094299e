/**
 * The way into a share link, for every route that serves one: the link's public pages and
 * downloads (routes/share-public.ts) and the upload-session routes, which a drop box's page
 * uses with a share upload token (the same chunked, resumable protocol as the web app).
 *
 * A link is checked on every request: unknown keys are 404 (and scored by the defender as
 * probes), revoked, expired, used-up links and links of disabled owners 410. A password
 * travels three ways: HTTP Basic (`curl -u :PASSWORD`), an unlock cookie the share page's
 * form obtains (HttpOnly, SameSite=Strict, scoped to the link's path, signed, hours), or
 * inside a share upload token (`ferryl_…`, signed, naming the link). Cookie and token are
 * only ever issued after the password was checked, and the link itself is checked again
 * each time they are used.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthInvalidError, AuthRequiredError, FerryError, GoneError, NotFoundError, PathInvalidError, QuotaExceededError } from '../core/errors.js';
import { E2E_MARKER_NAME } from '../core/e2e-layout.js';
import { pathSegments } from '../core/path.js';
import { toHttpError } from './http-errors.js';
import type { UserRow } from '../store/auth-store.js';
import type { ShareRow } from '../store/share-store.js';
import type { ServerContext } from './context.js';
import { defenderMark } from './auth.js';
import { can, toServerPath, toUserError, type AuthContext } from './authz.js';
import { readCookies, setCookie } from './cookies.js';
import { addressKey } from './ip-filter.js';
import { verifyPassword } from './passwords.js';
import { shareKeyHash } from './routes/shares.js';

const KEY_SHAPE = /^[A-Za-z0-9_-]{43}$/;
/** Verified share passwords are remembered (as SHA-256) this long, sparing a scrypt per file. */
const PASSWORD_CACHE_MS = 10 * 60_000;
/** How long an unlock (cookie or upload token) lasts. */
export const UNLOCK_TTL_MS = 12 * 60 * 60_000;
export const UNLOCK_COOKIE = 'ferry_share';
const UNLOCK_PREFIX = 'ferryu_';
/** Prefix of share upload tokens (`Authorization: Bearer ferryl_…`). */
export const SHARE_TOKEN_PREFIX = 'ferryl_';

export interface OpenShare {
  row: ShareRow;
  owner: UserRow;
  /** The owner's identity narrowed to the link. */
  as: AuthContext;
  key: string;
  /** No use left (only when `resolve` was asked to let such a link through). */
  spent: boolean;
}

/**
 * The name a drop box's visitor gives a file (`/name`): one segment (`notOneName` otherwise),
 * and not the end-to-end marker's name. A visitor's valid marker in an empty drop box made the
 * owner's folder a vault keyed by the visitor: every later visitor's file refused (`409`), the
 * owner's own uploads asked for a passphrase they never set.
 */
export function visitorFileName(path: string, notOneName: string): string {
  const segments = pathSegments(path);
  if (segments.length !== 1) throw new PathInvalidError(notOneName);
  if (segments[0] === E2E_MARKER_NAME) {
    throw new PathInvalidError(`${E2E_MARKER_NAME} is the name of an end-to-end folder's marker: an upload link does not take it`, { details: { reason: 'e2e marker' } });
  }
  return segments[0];
}

/**
 * A refusal as a link's visitor reads it: paths named from the link's folder (not the
 * owner's home, where the folder lies), and a quota refusal without the owner's figures
 * (usage, quota, other uploads in flight), which are none of a visitor's business; the
 * owner's audit log keeps the original (`share.upload-refused`).
 */
export function toVisitorError(as: AuthContext, err: unknown): unknown {
  if (!(err instanceof FerryError) || !as.share) return err;
  if (err instanceof QuotaExceededError) {
    const limit = err.details?.limit;
    const message = limit === 'sessions' ? "too many uploads through this link (or the owner's other upload links) are in progress: try again later" : "this does not fit in the space the link's owner has left";
    return new QuotaExceededError(message, { cause: err, details: limit === undefined ? undefined : { limit } });
  }
  return toUserError({ home: toServerPath(as, as.share.root) }, err);
}

export class ShareGate {
  private readonly verified = new Map<string, { digest: Buffer; until: number }>();

  constructor(private readonly ctx: ServerContext) {}

  /**
   * The link of `key`, alive, with its owner's narrowed identity; no password check. 404 /
   * 410 otherwise. With `usedUp`, a link with no use left is let through, flagged `spent`:
   * a Range request continuing a counted download is still served (../share-transfers.ts).
   * With `upload`, a link refused here (revoked, expired, used up) is audited as a refused
   * upload ({@link uploadRefused}).
   */
  async resolve(request: FastifyRequest, key: string, options: { usedUp?: boolean; upload?: boolean } = {}): Promise<OpenShare> {
    const { ctx } = this;
    const row = KEY_SHAPE.test(key) ? await ctx.shares.byKeyHash(shareKeyHash(key)) : undefined;
    if (!row) {
      // An unknown key is a probe: the defender counts it as an invalid credential.
      const err = defenderMark(new NotFoundError('no such share link'), 'invalid');
      await ctx.reportAuthFailure(request, err, { event: 'share.unknown' });
      throw err;
    }
    try {
      return { ...(await this.alive(row, options.usedUp ?? false)), key };
    } catch (err) {
      if (options.upload) await this.uploadRefused(request, row.id, err);
      throw err;
    }
  }

  /**
   * Audits a refused drop-box upload (`share.upload-refused`, ok false) under the link's
   * owner: the link, its folder, the refusal's code and reason (a server failure's only as
   * "internal error"). Never the link's key, a password or a token; names are as stored.
   */
  async uploadRefused(request: FastifyRequest, shareId: string, err: unknown): Promise<void> {
    const { ctx } = this;
    const { status, error } = toHttpError(err);
    const row = await ctx.shares.byId(shareId).catch(() => undefined);
    const owner = row ? await ctx.users.userById(row.user_id).catch(() => undefined) : undefined;
    await ctx.audit.record(request, {
      event: 'share.upload-refused',
      ok: false,
      front: 'share',
      userId: row?.user_id ?? null,
      userName: owner?.name ?? null,
      tokenId: `share:${shareId}`,
      target: shareId,
      details: { path: row?.path ?? null, code: error.code, status, reason: status >= 500 ? 'internal error' : error.message },
    });
  }

  private async alive(row: ShareRow, usedUp = false): Promise<Omit<OpenShare, 'key'>> {
    const { ctx } = this;
    const now = ctx.now();
    if (row.revoked_at !== null) throw new GoneError('this link was revoked');
    if (row.expires_at !== null && Number(row.expires_at) <= now) throw new GoneError('this link has expired');
    const spent = row.max_uses !== null && Number(row.uses) >= Number(row.max_uses);
    if (spent && !usedUp) throw new GoneError('this link has been used up');
    const owner = await ctx.users.userById(row.user_id);
    if (!owner || owner.disabled) throw new GoneError('this link is no longer available');
    const as = await ctx.auth.contextFor(owner, { kind: 'token', tokenId: `share:${row.id}`, scopes: row.kind === 'download' ? 'list,read' : 'write', pathPrefix: row.path });
    // An owner who lost their grant on the path: the link is gone as for a disabled owner (a
    // 403 told the visitor the owner's path and what they may no longer do there).
    if (!can(as, row.kind === 'download' ? 'read' : 'write', row.path)) throw new GoneError('this link is no longer available');
    return { row, owner, as: { ...as, share: { id: row.id, root: row.path } }, spent };
  }

  /**
   * Lets the request through a password link: Basic credentials or the unlock cookie. With
   * `challenge`, a refusal carries `WWW-Authenticate` (curl and plain browser downloads);
   * the web app's own requests ask without it, so that no browser dialog appears over its form.
   */
  async checkPassword(request: FastifyRequest, reply: FastifyReply, s: OpenShare, challenge: boolean): Promise<void> {
    const { row } = s;
    if (row.password_hash === null) return;
    // Any of them: a sibling subdomain can plant a `ferry_share` with a longer path, sent
    // before this link's own (it opens nothing, being signed per link, but hid ours).
    if (readCookies(request, UNLOCK_COOKIE).some((cookie) => this.unlockValid(cookie, row.id))) return;
    const ask = (): void => void (challenge && reply.header('www-authenticate', 'Basic realm="Ferry share link (any user name)", charset="UTF-8"'));
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(request.headers.authorization ?? '');
    if (!m) {
      ask();
      throw new AuthRequiredError('this link needs a password: send it as HTTP Basic credentials (curl -u :PASSWORD)', { details: { password: true } });
    }
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    try {
      await this.verify(request, row, decoded.slice(decoded.indexOf(':') + 1));
    } catch (err) {
      ask();
      throw err;
    }
  }

  /** Checks a visitor's password (rate-limited, audited, scored); remembered for a while as a hash. */
  private async verify(request: FastifyRequest, row: ShareRow, password: string): Promise<void> {
    const { ctx } = this;
    const digest = createHash('sha256').update(`${row.id}\0${password}`).digest();
    const limit = ctx.limiters.linkPassword;
    const cached = this.verified.get(row.id);
    if (cached && cached.until > ctx.now() && timingSafeEqual(cached.digest, digest)) {
      // A link whose budget is spent refuses the remembered password too: were it let through
      // while wrong ones are 429 before any check, the answer would tell the right guess from
      // the wrong ones at the speed of a hash, hundreds a second, once a recipient had used it.
      limit.take(row.id);
      limit.giveBack(row.id);
      return;
    }
    await ctx.limiters.authPerIp(request);
    // Taken before the check, so that attempts in flight at once cannot overdraw the link's budget.
    limit.take(row.id);
    let right: boolean;
    try {
      right = await verifyPassword(password, row.password_hash, ctx.auth.scryptCost, addressKey(request.ip));
    } catch (err) {
      limit.giveBack(row.id);
      throw err;
    }
    if (!right) {
      const err = defenderMark(new AuthInvalidError('wrong password for this link', { details: { password: true } }), 'valid');
      await ctx.reportAuthFailure(request, err, { event: 'share.password-failure' });
      throw err;
    }
    limit.giveBack(row.id);
    this.verified.set(row.id, { digest, until: ctx.now() + PASSWORD_CACHE_MS });
  }

  /**
   * The share page's password form: checks the password (when the link has one), sets the
   * unlock cookie for the link's pages and downloads, and returns an upload token for the
   * upload-session routes (drop boxes).
   */
  async unlock(request: FastifyRequest, reply: FastifyReply, s: OpenShare, password: unknown): Promise<{ token: string; expiresAt: number }> {
    const { ctx } = this;
    const { row } = s;
    const expiresAt = ctx.now() + UNLOCK_TTL_MS;
    if (row.password_hash !== null) {
      if (typeof password !== 'string' || password === '') throw new AuthRequiredError('this link needs a password', { details: { password: true } });
      await this.verify(request, row, password);
      const cookie = ctx.auth.signClaims(UNLOCK_PREFIX, { s: row.id, exp: expiresAt });
      setCookie(request, reply, UNLOCK_COOKIE, cookie, { path: `/s/${s.key}`, maxAgeSeconds: UNLOCK_TTL_MS / 1000, publicUrl: ctx.config.publicUrl });
    }
    return { token: ctx.auth.signClaims(SHARE_TOKEN_PREFIX, { s: row.id, exp: expiresAt }), expiresAt };
  }

  private unlockValid(cookie: string, shareId: string): boolean {
    const c = this.ctx.auth.verifyClaims<{ s?: unknown; exp?: unknown }>(UNLOCK_PREFIX, cookie);
    return c !== undefined && c.s === shareId && typeof c.exp === 'number' && c.exp > this.ctx.now();
  }

  /** The identity of a share upload token: the owner narrowed to the link, only for upload links (a link refused here audited as a refused upload). */
  async uploadContext(request: FastifyRequest, token: string): Promise<AuthContext> {
    const c = this.ctx.auth.verifyClaims<{ s?: unknown; exp?: unknown }>(SHARE_TOKEN_PREFIX, token);
    if (!c || typeof c.s !== 'string' || typeof c.exp !== 'number') throw defenderMark(new AuthInvalidError('the share upload token is not valid'), 'invalid');
    if (c.exp <= this.ctx.now()) throw defenderMark(new AuthInvalidError('the share upload token has expired: open the link again'), 'valid');
    const row = await this.ctx.shares.byId(c.s);
    if (!row || row.kind !== 'upload') throw defenderMark(new AuthInvalidError('the share upload token is not valid'), 'invalid');
    try {
      return (await this.alive(row)).as;
    } catch (err) {
      await this.uploadRefused(request, row.id, err);
      throw err;
    }
  }
}
