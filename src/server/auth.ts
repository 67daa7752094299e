/**
 * Authentication: API tokens, passwords, and the short-lived signed tokens of web sessions.
 *
 * API token: `ferry_<id>_<secret>`. `id` is 16 random hex digits, unrelated to the secret
 * (goflux derived its token id from the secret and leaked 48 bits of it), `secret` 256 random
 * bits in base64url. Only SHA-256 of the whole token is stored; a presented token is looked
 * up by id and its hash compared in constant time. A revocation takes effect on the next
 * request, on every node: each request reads the token row or, on SQLite (one node), reuses
 * the row read earlier only while no security state was written since (see
 * `Authenticator.verified`). The operator-chosen `FERRY_ADMIN_TOKEN` (any string strong enough for
 * ./secret-strength.ts, checked at start) is stored
 * the same way under the fixed id `env-admin`.
 *
 * Web session: a login returns an access token `ferrys_<payload>.<mac>` (HMAC-SHA256 over the
 * payload `{sid, uid, exp}` with the server's session key, valid minutes) and a refresh token
 * `ferryr_<sid>_<secret>` (stored hashed, single use). A refresh returns a new pair and
 * retires the old refresh token; presenting a retired one again means it was copied, and
 * the whole session is revoked (refresh-token reuse detection), unless it comes within
 * seconds of its retirement (a page reloaded before the answer arrived: refreshSession).
 * Access tokens are checked against their session row too, so a logout or a disabled user
 * cuts them off at once.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { replaceFile } from './replace-file.js';
import { join } from 'node:path';
import { AuthInvalidError, AuthRequiredError, FerryError, ForbiddenError } from '../core/errors.js';
import { parsePermissions, PERMISSIONS, type Permission } from '../core/permissions.js';
import type { WebSession } from '../core/protocol.js';
import type { AuthStore, TokenRow, UserRow } from '../store/auth-store.js';
import type { MetaStore } from '../store/meta-store.js';
import { sortGrants, type AuthContext, type Grant } from './authz.js';
import type { DefenderEvent } from './defender.js';
import { IpPolicy, addressKey } from './ip-filter.js';
import { isWithin } from '../core/path.js';
import { DEFAULT_SCRYPT_COST, hashPassword, verifyPassword, type ScryptCost } from './passwords.js';

export type { AuthContext } from './authz.js';

export const ENV_TOKEN_ID = 'env-admin';
const GENERATED_ADMIN_TOKEN_ID_SETTING = 'bootstrap.admin-token-id';
export const ADMIN_USER_ID = 'u-admin';
const TOKEN_SHAPE = /^ferry_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;
const ACCESS_PREFIX = 'ferrys_';
/** Download tickets (see {@link Authenticator.issueTicket}). */
export const TICKET_PREFIX = 'ferryt_';
const REFRESH_SHAPE = /^ferryr_([A-Za-z0-9_-]{22})_[A-Za-z0-9_-]{43}$/;
/** last_used_at is written at most this often per token: a chunk upload is thousands of requests. */
const TOUCH_INTERVAL_MS = 60_000;
/**
 * How long after a refresh the refresh token it retired is still taken (once more rotated,
 * not a theft): long enough for a reload on a slow machine to present it, short against a
 * copied token (whose owner's next refresh then fails and signs the owner out).
 */
export const REFRESH_GRACE_MS = 30_000;

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function newToken(): { id: string; token: string } {
  const id = randomBytes(8).toString('hex');
  return { id, token: `ferry_${id}_${randomBytes(32).toString('base64url')}` };
}

/**
 * What to say when the password typed has the shape of an API token (the admin token the
 * first start printed, pasted into the sign-in page): said from the text alone, whoever the
 * user and whatever the token, so it tells nothing about either.
 */
function tokenAsPassword(password: string): string {
  if (!/^ferry_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/.test(password.trim())) return '';
  return ': that password is an API token (ferry_…), which never signs in with a user name; make the user a password with ferry user add NAME --password (or ferry user passwd NAME), or log the command line in with ferry login URL --token -';
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

// The defender weighs failures differently (unknown credential vs. a real one gone bad);
// the kind rides on the error without reaching the response body.
const DEFENDER_EVENT = Symbol('ferry.defenderEvent');

/** Tags an error as an authentication failure the defender should score (`invalid`: names nothing; `valid`: a real credential gone wrong). */
export function defenderMark<E extends Error>(err: E, event: DefenderEvent): E {
  Object.defineProperty(err, DEFENDER_EVENT, { value: event, enumerable: false });
  return err;
}
const failure = defenderMark;

/** The user name of HTTP Basic credentials (for the audit of a failed login), if the header holds some. */
export function basicUserName(header: string | undefined): string | undefined {
  const m = /^Basic[ ]+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 && colon <= 200 ? decoded.slice(0, colon) : undefined;
}

/** The defender event an authentication error stands for, if it should count. */
export function defenderEventOf(err: unknown): DefenderEvent | undefined {
  return err instanceof FerryError ? ((err as unknown as Record<symbol, DefenderEvent | undefined>)[DEFENDER_EVENT] ?? undefined) : undefined;
}

export interface AuthenticatorOptions {
  now?: () => number;
  /** HMAC key of web-session access tokens (32+ random bytes). */
  sessionKey: Buffer;
  accessTtlMs: number;
  refreshTtlMs: number;
  scryptCost?: ScryptCost;
  /** Live tokens a user may hold (read at each creation: SIGHUP may change it); 0 or absent: no limit. */
  maxTokensPerUser?: () => number;
}

/** A Basic password verified earlier (see `Authenticator.passwords`). */
interface RememberedPassword {
  /** The stored scrypt hash it matched. */
  hash: string;
  /** MetaStore.securityEpoch when `user` and `context` were read; undefined: re-read them each time. */
  epoch: string | undefined;
  user: UserRow;
  context: AuthContext;
}

/** A token that passed every check but the per-request ones (expiry, IP), and when. */
interface VerifiedToken {
  /** MetaStore.securityEpoch when the rows were read. */
  epoch: string | undefined;
  row: TokenRow;
  user: UserRow;
  context: AuthContext;
}

/** Verified API tokens remembered at most (the oldest is forgotten first). */
const VERIFIED_TOKENS_KEPT = 1000;
/** Verified Basic passwords remembered at most (see `Authenticator.passwords`). */
const VERIFIED_PASSWORDS_KEPT = 1000;

/**
 * Where the admin token of this start is, for the start-up notes: `set` given by the operator
 * (FERRY_ADMIN_TOKEN, adminToken); `file` in `tokenFile` (with `generatedToken` at the start
 * that made it); `kept` made at an earlier start whose file is gone.
 */
export interface AdminTokenNotice {
  adminToken: 'set' | 'file' | 'kept';
  generatedToken?: string;
  tokenFile?: string;
}

export interface VerifyOptions {
  /**
   * Accept HTTP Basic credentials too (WebDAV): a user name with the account's password or
   * with one of the user's API tokens. Called before a password is checked the slow way
   * (scrypt): the per-address limit of password attempts.
   */
  basic?: () => Promise<void>;
}

function checkNotExpired(row: TokenRow, now: number): void {
  if (row.expires_at !== null && Number(row.expires_at) <= now) throw failure(new AuthInvalidError('the token has expired'), 'valid');
}

export class Authenticator {
  private readonly touched = new Map<string, number>();
  /**
   * API tokens verified earlier, by the hash of the presented token: a chunk upload is
   * thousands of requests with one token, and reading the token, its user and their grants
   * for each was three queries a request. An entry is used only while the metadata store's
   * security epoch is unchanged (no user, grant, token or session written since, here or by
   * another connection), so a revocation or a disabled user still counts from the next
   * request on; expiry and the user's IP lists are checked on every request.
   */
  private readonly verified = new Map<string, VerifiedToken>();
  /**
   * Basic credentials verified earlier: SHA-256 of `name NUL password` -> the scrypt hash it
   * matched, with the user and request identity read then. A WebDAV client sends the password
   * with every request, and a scrypt per request (tens of ms by design) would make a copy of
   * 10,000 files take minutes. An entry is used as it is while the security epoch is unchanged
   * (as verified tokens are: any write to users, grants, tokens or sessions changes it); after
   * that, only while the user's stored hash is still the one it matched (the row is re-read:
   * `disabled` too); the IP lists are checked on every request. So a changed password or a
   * disabled account takes effect at once, on every node. Only the right password finds it.
   */
  private readonly passwords = new Map<string, RememberedPassword>();
  private readonly now: () => number;
  readonly scryptCost: ScryptCost;

  constructor(
    private readonly meta: MetaStore,
    private readonly store: AuthStore,
    private readonly options: AuthenticatorOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.scryptCost = options.scryptCost ?? DEFAULT_SCRYPT_COST;
  }

  /**
   * Makes the admin user and its token: FERRY_ADMIN_TOKEN's (`adminToken: 'set'`), or at the
   * first start a new one written (mode 0600) to `DATA/initial-admin-token` and returned once
   * as `generatedToken`. At later starts `tokenFile` names that file while it exists; once it
   * is gone (removed, or a data directory restored from a backup, which never holds it) the
   * answer is `adminToken: 'kept'`: the token made then still works, from wherever it was kept.
   * Call it once the server listens: a start that fails before must not use up the token's one
   * showing. A start without FERRY_ADMIN_TOKEN revokes the token an earlier one set: taking it
   * out of the environment is how an operator ends it (set again, it works again).
   */
  async bootstrap(dataDir: string, envToken?: string): Promise<AdminTokenNotice> {
    const now = this.now();
    await this.store.ensureUser({ id: ADMIN_USER_ID, name: 'admin', role: 'admin', password_hash: null, home: '/', created_at: now });
    const base = { user_id: ADMIN_USER_ID, scopes: '*', path_prefix: null, created_at: now, expires_at: null, last_used_at: null, revoked_at: null };
    if (envToken) {
      await this.store.upsertToken({ ...base, id: ENV_TOKEN_ID, name: 'FERRY_ADMIN_TOKEN', secret_hash: hashSecret(envToken) });
      return { adminToken: 'set' };
    }
    await this.store.revokeToken(ENV_TOKEN_ID, now);
    const tokenFile = join(dataDir, 'initial-admin-token');
    if (await this.meta.getSetting(GENERATED_ADMIN_TOKEN_ID_SETTING)) {
      // Made at an earlier start: point at the file while it is there (it may have been removed).
      return (await stat(tokenFile).catch(() => undefined))?.isFile() ? { adminToken: 'file', tokenFile } : { adminToken: 'kept' };
    }
    const { id, token } = newToken();
    await this.store.upsertToken({ ...base, id, name: 'initial admin token', secret_hash: hashSecret(token) });
    await replaceFile(tokenFile, token + '\n', 0o600);
    await this.meta.setSetting(GENERATED_ADMIN_TOKEN_ID_SETTING, id);
    return { adminToken: 'file', generatedToken: token, tokenFile };
  }

  /**
   * The identity behind an `Authorization` header. FERRY_ERR_AUTH_REQUIRED without one,
   * FERRY_ERR_AUTH_INVALID for anything wrong with it, FERRY_ERR_FORBIDDEN when the user
   * may not connect from `ip` (their own allow/deny lists).
   */
  async verify(header: string | undefined, ip: string, options: VerifyOptions = {}): Promise<AuthContext> {
    if (!header) {
      throw new AuthRequiredError(options.basic ? 'authentication required: your user name and password (or an API token as the password)' : 'authentication required: send Authorization: Bearer <token>');
    }
    if (options.basic) {
      const b = /^Basic[ ]+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
      if (b) return this.verifyBasic(b[1], ip, options.basic);
    }
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!m) throw failure(new AuthInvalidError('the Authorization header must read "Bearer <token>"'), 'invalid');
    const presented = m[1];
    return presented.startsWith(ACCESS_PREFIX) ? this.verifyAccessToken(presented, ip) : this.verifyApiToken(presented, ip);
  }

  /** HTTP Basic: `user:password`, or `user:<API token of that user>`. */
  private async verifyBasic(encoded: string, ip: string, beforeScrypt: () => Promise<void>): Promise<AuthContext> {
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw failure(new AuthInvalidError('Basic credentials must read user:password'), 'invalid');
    const name = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    if (TOKEN_SHAPE.test(secret)) {
      const context = await this.verifyApiToken(secret, ip);
      if (context.userName !== name) throw failure(new AuthInvalidError('wrong user name or password'), 'valid');
      return context;
    }
    const key = hashSecret(`${name}\0${secret}`);
    const remembered = this.passwords.get(key);
    // Read before the rows it vouches for (see MetaStore.securityEpoch). As for tokens: while it
    // is unchanged (SQLite), nothing about users or grants changed since the entry was made.
    const epoch = await this.meta.securityEpoch();
    if (remembered !== undefined && epoch !== undefined && remembered.epoch === epoch) {
      this.checkIp(remembered.user, ip);
      return { ...remembered.context };
    }
    let user = remembered === undefined || name.length > 200 ? undefined : await this.store.userByName(name);
    if (user === undefined || user.disabled || user.password_hash !== remembered?.hash) {
      this.passwords.delete(key);
      await beforeScrypt();
      user = await this.checkPassword(name, secret, ip);
    } else {
      this.checkIp(user, ip);
    }
    const context = await this.contextFor(user, { kind: 'password', tokenId: `password:${user.id}`, scopes: '*', pathPrefix: null });
    if (user.password_hash !== null) {
      this.passwords.delete(key);
      if (this.passwords.size >= VERIFIED_PASSWORDS_KEPT) this.passwords.delete(this.passwords.keys().next().value as string);
      this.passwords.set(key, { hash: user.password_hash, epoch, user, context });
    }
    return { ...context };
  }

  private checkIp(user: UserRow, ip: string): void {
    if ((user.ip_allow || user.ip_deny) && !userIpPolicy(user).permits(ip)) throw new ForbiddenError(`the account ${user.name} may not be used from ${ip}`);
  }

  private async verifyApiToken(presented: string, ip: string): Promise<AuthContext> {
    // Hash even when the id is unknown, so a miss costs the same as a wrong secret.
    const presentedHash = hashSecret(presented);
    // Read before the rows it vouches for (see MetaStore.securityEpoch).
    const epoch = await this.meta.securityEpoch();
    let known = epoch === undefined ? undefined : this.verified.get(presentedHash);
    if (known !== undefined && known.epoch !== epoch) {
      this.verified.delete(presentedHash);
      known = undefined;
    }
    const now = this.now();
    if (known === undefined) {
      const shaped = TOKEN_SHAPE.exec(presented)?.[1];
      const row = await this.store.tokenById(shaped ?? ENV_TOKEN_ID);
      if (!row) throw failure(new AuthInvalidError('the token is not valid'), 'invalid');
      if (!sameHash(presentedHash, row.secret_hash)) throw failure(new AuthInvalidError('the token is not valid'), shaped ? 'valid' : 'invalid');
      if (row.revoked_at !== null) throw failure(new AuthInvalidError('the token was revoked'), 'valid');
      checkNotExpired(row, now);
      const user = await this.store.userById(row.user_id);
      if (!user || user.disabled) throw failure(new AuthInvalidError("the token's user is disabled or gone"), 'valid');
      const context = await this.contextFor(user, { kind: 'token', tokenId: row.id, scopes: row.scopes, pathPrefix: row.path_prefix });
      known = { epoch, row, user, context };
      if (epoch !== undefined) {
        if (this.verified.size >= VERIFIED_TOKENS_KEPT) this.verified.delete(this.verified.keys().next().value as string);
        this.verified.set(presentedHash, known);
      }
    } else {
      checkNotExpired(known.row, now);
    }
    this.checkIp(known.user, ip);
    const id = known.row.id;
    if ((this.touched.get(id) ?? 0) + TOUCH_INTERVAL_MS <= now) {
      this.touched.set(id, now);
      await this.store.touchToken(id, now);
    }
    return { ...known.context };
  }

  /** Builds the request identity of a user acting through a token or session. */
  async contextFor(user: UserRow, via: { kind: AuthContext['kind']; tokenId: string; scopes: string; pathPrefix: string | null }): Promise<AuthContext> {
    const grants: Grant[] = (await this.store.grantsOf(user.id)).map((g) => ({ path: g.path, perms: new Set(parsePermissions(g.perms)) }));
    return {
      kind: via.kind,
      userId: user.id,
      userName: user.name,
      role: user.role,
      home: user.home,
      tokenId: via.tokenId,
      scopes: new Set(via.scopes === '*' ? PERMISSIONS : parsePermissions(via.scopes)),
      pathPrefix: via.pathPrefix,
      grants: sortGrants(grants),
      historySince: user.home === '/' ? undefined : Number(user.created_at),
      limits: {
        quotaBytes: user.quota_bytes === null ? null : Number(user.quota_bytes),
        quotaFiles: user.quota_files === null ? null : Number(user.quota_files),
        maxFileSize: user.max_file_size === null ? null : Number(user.max_file_size),
        maxSessions: user.max_sessions === null ? null : Number(user.max_sessions),
      },
    };
  }

  /**
   * Checks a user name and password. The same FERRY_ERR_AUTH_INVALID for an unknown user, a
   * disabled one and a wrong password, the same cost (an unknown user still pays one
   * scrypt) and the same defender score: scoring an unknown name higher than a wrong
   * password (as for tokens) would let anyone count the attempts to a ban and learn which
   * names exist. Every failed password counts as an unknown credential.
   */
  async checkPassword(name: string, password: string, ip: string): Promise<UserRow> {
    const user = typeof name === 'string' && name.length <= 200 ? await this.store.userByName(name) : undefined;
    const ok = await verifyPassword(String(password), user?.password_hash ?? null, this.scryptCost, addressKey(ip));
    if (!user || !ok || user.disabled) throw failure(new AuthInvalidError(`wrong user name or password${tokenAsPassword(String(password))}`), 'invalid');
    this.checkIp(user, ip);
    return user;
  }

  /** `party`: whom the hash is for (a user id), who waits their turn among others' (passwords.ts). */
  hashPassword(password: string, party: string): Promise<string> {
    return hashPassword(password, this.scryptCost, party);
  }

  /** Creates an API token; the secret is returned once and only its hash stored. */
  /** A new API token; `fromLogin`: made by a password login, so a password change ends it. */
  async createToken(user: UserRow, spec: { name: string; scopes: Permission[] | '*'; pathPrefix: string | null; expiresAt: number | null; fromLogin?: boolean }): Promise<{ row: TokenRow; token: string }> {
    const { id, token } = newToken();
    const row: TokenRow = {
      id,
      user_id: user.id,
      name: spec.name,
      secret_hash: hashSecret(token),
      scopes: spec.scopes === '*' ? '*' : spec.scopes.join(','),
      path_prefix: spec.pathPrefix,
      created_at: this.now(),
      expires_at: spec.expiresAt,
      last_used_at: null,
      revoked_at: null,
      from_login: spec.fromLogin ? 1 : 0,
    };
    await this.store.insertToken(row, { max: this.options.maxTokensPerUser?.() ?? 0, now: row.created_at });
    return { row, token };
  }

  // ---------------------------------------------------------------- web sessions

  /** Starts a web session for a user who just proved their password. */
  async startSession(user: UserRow, ip: string): Promise<WebSession> {
    const now = this.now();
    const sid = randomBytes(16).toString('base64url');
    const refresh = `ferryr_${sid}_${randomBytes(32).toString('base64url')}`;
    await this.store.insertSession({ id: sid, user_id: user.id, refresh_hash: hashSecret(refresh), prev_refresh_hash: null, created_at: now, refreshed_at: now, expires_at: now + this.options.refreshTtlMs, revoked_at: null, ip });
    return this.sessionAnswer(user, sid, refresh, now + this.options.refreshTtlMs);
  }

  /**
   * Trades a refresh token for a new access token and a new refresh token (rotation). A
   * retired refresh token presented again revokes the session: one of its holders is not
   * its owner. Except within {@link REFRESH_GRACE_MS} of its retirement: a page reloaded
   * while its refresh was on the way never got the new token (the server rotated, the
   * answer and its cookie were lost with the page), and presents the retired one again.
   * That gets a new token too, and the one it replaced (which nobody received) is void.
   */
  async refreshSession(refreshToken: unknown): Promise<{ session: WebSession; user: UserRow }> {
    const m = typeof refreshToken === 'string' ? REFRESH_SHAPE.exec(refreshToken) : null;
    if (!m) throw failure(new AuthInvalidError('not a refresh token'), 'invalid');
    const sid = m[1];
    const presented = hashSecret(refreshToken as string);
    // A second pass when another refresh rotated the row between its read and the update.
    for (let pass = 0; ; pass++) {
      const now = this.now();
      const row = await this.store.sessionById(sid);
      if (!row) throw failure(new AuthInvalidError('the session is not valid'), 'invalid');
      const retired = row.prev_refresh_hash !== null && sameHash(presented, row.prev_refresh_hash);
      const graced = retired && now - Number(row.refreshed_at) <= REFRESH_GRACE_MS;
      if (retired && !graced && row.revoked_at === null) {
        await this.store.revokeSession(sid, now);
        throw failure(new AuthInvalidError('this refresh token was already used: the session is revoked', { details: { reason: 'refresh-token-reuse' } }), 'valid');
      }
      if (!graced && !sameHash(presented, row.refresh_hash)) throw failure(new AuthInvalidError('the session is not valid'), 'valid');
      if (row.revoked_at !== null) throw failure(new AuthInvalidError('the session was ended'), 'valid');
      if (Number(row.expires_at) <= now) throw failure(new AuthInvalidError('the session has expired: log in again'), 'valid');
      const user = await this.store.userById(row.user_id);
      if (!user || user.disabled) throw failure(new AuthInvalidError('the user is disabled or gone'), 'valid');
      const next = `ferryr_${sid}_${randomBytes(32).toString('base64url')}`;
      const done = graced
        ? await this.store.replaceSessionToken(sid, row.refresh_hash, hashSecret(next))
        : await this.store.rotateSession(sid, row.refresh_hash, hashSecret(next), now);
      if (done) return { session: this.sessionAnswer(user, sid, next, Number(row.expires_at)), user };
      if (pass > 0) throw failure(new AuthInvalidError('the session was refreshed concurrently: log in again'), 'valid');
    }
  }

  // ---------------------------------------------------------------- signed claims

  /**
   * A token carrying `claims`, signed with the session key: `<prefix><payload>.<HMAC>`. Used
   * for download tickets, share-link unlocks and share upload tokens: short-lived, verified
   * without a database row, and tied to something that is checked again on every use (a
   * session, a token, a share link), so that ending that ends them too.
   */
  signClaims(prefix: string, claims: object): string {
    const payload = Buffer.from(prefix + JSON.stringify(claims)).toString('base64url');
    return `${prefix}${payload}.${this.mac(payload).toString('base64url')}`;
  }

  /** The claims of a {@link signClaims} token of this prefix, or undefined when it is malformed or forged (expiry is the caller's). */
  verifyClaims<T extends object>(prefix: string, token: string): T | undefined {
    if (typeof token !== 'string' || !token.startsWith(prefix) || token.length > 4096) return undefined;
    const [payload, sig] = token.slice(prefix.length).split('.');
    const given = Buffer.from(sig ?? '', 'base64url');
    const expected = this.mac(payload ?? '');
    if (!payload || given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      const text = Buffer.from(payload, 'base64url').toString('utf8');
      // The prefix is inside the signed payload: a token of one kind is never accepted as another.
      if (!text.startsWith(prefix)) return undefined;
      const claims = JSON.parse(text.slice(prefix.length)) as unknown;
      return claims !== null && typeof claims === 'object' ? (claims as T) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A download ticket: lets a browser fetch files below `path` by URL (`?ticket=`), where it
   * cannot send an Authorization header (a download link, an <img> or <video> source). It
   * reads only (`list`, `read`, within what the issuing credential holds), only below `path`,
   * for `ttlMs`, and only while the session or token that issued it is alive.
   */
  issueTicket(auth: AuthContext, path: string, ttlMs: number): { ticket: string; expiresAt: number } {
    const expiresAt = this.now() + ttlMs;
    const scopes = (['list', 'read'] as const).filter((p) => auth.scopes.has(p)).join(',');
    const prefix = auth.pathPrefix !== null && !isWithin(path, auth.pathPrefix) ? auth.pathPrefix : path;
    return { ticket: this.signClaims(TICKET_PREFIX, { via: auth.tokenId, uid: auth.userId, exp: expiresAt, p: prefix, s: scopes }), expiresAt };
  }

  async verifyTicket(ticket: string, ip: string): Promise<AuthContext> {
    const c = this.verifyClaims<{ via?: unknown; uid?: unknown; exp?: unknown; p?: unknown; s?: unknown }>(TICKET_PREFIX, ticket);
    if (!c || typeof c.via !== 'string' || typeof c.uid !== 'string' || typeof c.exp !== 'number' || typeof c.p !== 'string' || typeof c.s !== 'string') {
      throw failure(new AuthInvalidError('the download ticket is not valid'), 'invalid');
    }
    if (c.exp <= this.now()) throw failure(new AuthInvalidError('the download ticket has expired: open the link again from the app'), 'valid');
    if (c.via.startsWith('session:')) {
      const session = await this.store.sessionById(c.via.slice('session:'.length));
      if (!session || session.revoked_at !== null || session.user_id !== c.uid) throw failure(new AuthInvalidError('the session that made this ticket was ended'), 'valid');
    } else {
      const row = await this.store.tokenById(c.via);
      if (!row || row.revoked_at !== null || row.user_id !== c.uid) throw failure(new AuthInvalidError('the token that made this ticket was revoked'), 'valid');
      checkNotExpired(row, this.now());
    }
    const user = await this.store.userById(c.uid);
    if (!user || user.disabled) throw failure(new AuthInvalidError('the user is disabled or gone'), 'valid');
    this.checkIp(user, ip);
    return this.contextFor(user, { kind: 'token', tokenId: `ticket:${c.via}`, scopes: c.s, pathPrefix: c.p });
  }

  /**
   * `at` (null: never), but no later than the API token behind `auth` expires (not a token: a
   * web session or a password, no limit). What a token makes that lets others in (a token, a
   * share link) must not outlive it.
   */
  async notAfterToken(auth: AuthContext, at: number | null): Promise<number | null> {
    if (auth.kind !== 'token') return at;
    const expires = (await this.store.tokenById(auth.tokenId))?.expires_at;
    if (expires === null || expires === undefined) return at;
    return at === null ? Number(expires) : Math.min(at, Number(expires));
  }

  /**
   * What outlives the credential that makes it and cannot expire with it (a password, the
   * admin role, a webhook) needs a credential that does not expire either: a token without
   * expiry and without a path prefix, or a web session. A token that expires (one made for an
   * hour, a leaked `ferry login` token) must not turn itself into access that outlives it, the
   * rule for a first password; what can expire with it instead does ({@link notAfterToken}).
   * FERRY_ERR_FORBIDDEN naming `what`.
   */
  async requireLasting(auth: AuthContext, what: string): Promise<void> {
    if (auth.pathPrefix !== null) throw new ForbiddenError(`${what} needs a token without a path prefix`);
    if ((await this.notAfterToken(auth, null)) !== null) {
      throw new ForbiddenError(`${what} needs a token that does not expire (it would outlive this one): use the web app, or a token made there without expiry`);
    }
  }

  async endSession(sid: string): Promise<void> {
    await this.store.revokeSession(sid, this.now());
  }

  private sessionAnswer(user: UserRow, sid: string, refresh: string, refreshExpiresAt: number): WebSession {
    const exp = this.now() + this.options.accessTtlMs;
    return { accessToken: this.signAccess({ sid, uid: user.id, exp }), accessExpiresAt: exp, refreshToken: refresh, refreshExpiresAt, user: { name: user.name, role: user.role } };
  }

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.options.sessionKey).update(payload).digest();
  }

  private signAccess(claims: { sid: string; uid: string; exp: number }): string {
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${ACCESS_PREFIX}${payload}.${this.mac(payload).toString('base64url')}`;
  }

  private async verifyAccessToken(token: string, ip: string): Promise<AuthContext> {
    const [payload, sig] = token.slice(ACCESS_PREFIX.length).split('.');
    const given = Buffer.from(sig ?? '', 'base64url');
    const expected = this.mac(payload ?? '');
    if (!payload || given.length !== expected.length || !timingSafeEqual(given, expected)) throw failure(new AuthInvalidError('the session token is not valid'), 'invalid');
    let claims: { sid?: unknown; uid?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      throw failure(new AuthInvalidError('the session token is not valid'), 'invalid');
    }
    if (typeof claims.sid !== 'string' || typeof claims.uid !== 'string' || typeof claims.exp !== 'number') {
      throw failure(new AuthInvalidError('the session token is not valid'), 'invalid');
    }
    if (claims.exp <= this.now()) throw failure(new AuthInvalidError('the session token has expired: refresh it'), 'valid');
    const session = await this.store.sessionById(claims.sid);
    if (!session || session.revoked_at !== null || session.user_id !== claims.uid) throw failure(new AuthInvalidError('the session was ended'), 'valid');
    const user = await this.store.userById(claims.uid);
    if (!user || user.disabled) throw failure(new AuthInvalidError('the user is disabled or gone'), 'valid');
    this.checkIp(user, ip);
    return this.contextFor(user, { kind: 'session', tokenId: `session:${claims.sid}`, scopes: '*', pathPrefix: null });
  }
}

export function userIpPolicy(user: Pick<UserRow, 'ip_allow' | 'ip_deny'>): IpPolicy {
  return new IpPolicy(user.ip_allow ? user.ip_allow.split(',') : [], user.ip_deny ? user.ip_deny.split(',') : []);
}
