/**
 * The signed-in person's session. The access token lives only in this page's memory; the
 * refresh token in an HttpOnly cookie the server sets (scripts never see it). A reload, or a
 * second tab, gets a fresh access token from the cookie. Refreshes are serialized across
 * tabs with the Web Locks API: a refresh token is single-use, and two tabs presenting the
 * same one at once would look like a stolen token to the server (which then ends the session).
 */
import { FerryApi } from '../../src/client/api.js';
import { refreshSession, resumeSession, startSession, logout } from '../../src/client/account-api.js';
import { FetchTransport } from '../../src/client/fetch-transport.js';
import { webSha256 } from '../../src/client/hashing.js';
import { HttpCore } from '../../src/client/wire.js';
import type { WebSession } from '../../src/core/protocol.js';
import { isFerryError } from '../../src/core/errors.js';

/** Renew the access token this long before it expires. */
const MARGIN_MS = 60_000;

export interface SessionUser {
  name: string;
  role: 'admin' | 'user';
}

/** Dispatched on the window for each request tried again (the server did not answer, or 503): `detail` is the request's path. */
export const RETRY_EVENT = 'ferry-retry';

/**
 * A FerryApi of this server, speaking with the given credentials; `onUnauthorized` is told
 * of every 401 answer (after the page's fetch, before the caller sees the error).
 */
export function makeApi(credentials: { token?: () => Promise<string | undefined>; authorization?: () => string | undefined; onUnauthorized?: () => void }): FerryApi {
  const { onUnauthorized } = credentials;
  const transport = new FetchTransport(async (input, init) => {
    const res = await fetch(input, init);
    if (res.status === 401) onUnauthorized?.();
    return res;
  });
  const http = new HttpCore({
    server: location.origin,
    transport,
    token: credentials.token,
    authorization: credentials.authorization,
    retry: { retries: 6, baseMs: 250, capMs: 10_000, maxRetryAfterMs: 60_000 },
    onRetry: (info) => dispatchEvent(new CustomEvent(RETRY_EVENT, { detail: info.path })),
  });
  return new FerryApi({ http, sha: webSha256, parallel: 4, explainAuthFailures: false });
}

/** Why the sign-in form is back when the session could not be renewed. */
const ENDED = 'Your session has ended (it expired, or you signed out in another tab, or the password was changed): sign in again.';

export class Session {
  private access?: string;
  private expiresAt = 0;
  private refreshing?: Promise<void>;
  user?: SessionUser;
  /** Why the session ended, for the sign-in form (ended on the server, a password change); cleared by a sign-in. */
  notice?: string;
  /** Told when the session starts or ends (the app re-renders). */
  onChange: () => void = () => {};
  /** The API with this session's token. */
  readonly api = makeApi({ token: () => this.token(), onUnauthorized: () => this.recheck() });
  /** The API without credentials (sign-in, refresh). */
  private readonly anon = makeApi({});

  get signedIn(): boolean {
    return this.user !== undefined;
  }

  private accept(s: WebSession): void {
    this.access = s.accessToken;
    // Server and browser clocks may differ: count the lifetime from now.
    this.expiresAt = Date.now() + Math.max(0, s.accessExpiresAt - Date.now());
    const changed = this.user?.name !== s.user.name;
    this.user = s.user;
    if (changed) this.onChange();
  }

  /** The current access token, renewed from the cookie when it is about to expire. */
  async token(): Promise<string | undefined> {
    if (this.access && Date.now() < this.expiresAt - MARGIN_MS) return this.access;
    if (this.user === undefined && this.access === undefined) return undefined;
    await this.refresh();
    return this.access;
  }

  /** Resumes a session from the cookie (page load); false when there is none (no cookie: no failed request either). */
  async resume(): Promise<boolean> {
    try {
      await this.lock(async () => {
        const s = await resumeSession(this.anon);
        if (s) this.accept(s);
      });
      return this.user !== undefined;
    } catch (err) {
      if (isFerryError(err, 'FERRY_ERR_AUTH_REQUIRED') || isFerryError(err, 'FERRY_ERR_AUTH_INVALID')) this.clear();
      return false;
    }
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.lock(async () => {
      try {
        this.accept(await refreshSession(this.anon));
      } catch (err) {
        if (isFerryError(err, 'FERRY_ERR_AUTH_REQUIRED') || isFerryError(err, 'FERRY_ERR_AUTH_INVALID')) {
          // Signed in until now: the sign-in form says why it is back (an expired session,
          // renewed when its access token ran out, showed the form saying nothing).
          if (this.user !== undefined) this.notice ??= ENDED;
          this.clear();
        }
        throw err;
      }
    }).finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /**
   * A request with this session's token was refused: if the session was ended on the server
   * (another tab signed out, the password was changed), the refresh fails and the page goes
   * back to the sign-in form instead of showing "the session was ended" on every action. A
   * refusal that is not about the session (a wrong current password) refreshes and stays.
   */
  private recheck(): void {
    if (this.user === undefined) return;
    // A refresh that fails ends the session here, saying why (refresh()).
    void this.refresh().catch((err: unknown) => err);
  }

  private async lock(fn: () => Promise<void>): Promise<void> {
    const locks = (navigator as Navigator & { locks?: LockManager }).locks;
    if (!locks) return fn();
    await locks.request('ferry-session-refresh', fn);
  }

  async signIn(user: string, password: string): Promise<void> {
    this.notice = undefined;
    this.accept(await startSession(this.anon, user, password, { cookie: true }));
  }

  /** Ends the session here and on the server; `notice` is shown on the sign-in form. */
  async signOut(notice?: string): Promise<void> {
    try {
      await logout(this.api);
    } finally {
      this.notice = notice;
      this.clear();
    }
  }

  private clear(): void {
    const had = this.user !== undefined;
    this.access = undefined;
    this.expiresAt = 0;
    this.user = undefined;
    if (had) this.onChange();
  }
}
