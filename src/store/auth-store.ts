/**
 * Users, grants, API tokens and web sessions: one job of the metadata store (Kysely,
 * portable SQL; the contract is docs/metadata.md, its tests test/conformance/meta-store.ts).
 *
 * Nothing here is cached: on PostgreSQL every node reads the rows, so a token revoked or a
 * user disabled through one node is refused by every node at its next request (the
 * authenticator caches only where it can see every writer: `MetaStore.securityEpoch`).
 *
 * Only hashes of secrets are stored: token and refresh-token secrets as SHA-256 (they are
 * 256-bit random, so a fast hash is enough), passwords as scrypt (see server/passwords.ts).
 * Every write is durable (MetaStore.durable): a revocation or a password change that was
 * acknowledged must not come undone in a power cut.
 */
import type { ExpressionBuilder, Kysely, Transaction } from 'kysely';
import { QuotaExceededError } from '../core/errors.js';
import type { Database, GrantsTable, TokensTable, UsersTable, WebSessionsTable } from './meta-schema.js';
import { dropSessionProofs } from './upload-sessions.js';
import { keysetAfter, pageOf, withinPrefix, type RowPage, type PageQuery } from './keyset-page.js';

/** What the users-and-tokens store needs of the metadata store (MetaStore provides it). */
export interface AuthDb {
  readonly db: Kysely<Database>;
  readonly dialect: 'sqlite' | 'postgres';
  /** A transaction on stable storage when it returns (MetaStore.durable). */
  durable<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
}

export type UserRow = UsersTable;
export type TokenRow = TokensTable;
export type GrantRow = GrantsTable;
export type WebSessionRow = WebSessionsTable;

export type UserPatch = Partial<Omit<UsersTable, 'id' | 'created_at'>>;

/** Tokens neither revoked nor expired at `now`. */
function liveToken(now: number) {
  return (eb: ExpressionBuilder<Database, 'tokens'>) => eb.and([eb('revoked_at', 'is', null), eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)])]);
}

export class AuthStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly meta: AuthDb) {
    this.db = meta.db;
  }

  // ------------------------------------------------------------------ users

  async userById(id: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async userByName(name: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async listUsers(): Promise<UserRow[]> {
    return this.db.selectFrom('users').selectAll().orderBy('name').execute();
  }

  /** Inserts a user unless one with the same id exists (the admin, at every start). Limits default to none. */
  async ensureUser(user: Pick<UsersTable, 'id' | 'name' | 'role' | 'password_hash' | 'home' | 'created_at'> & Partial<UsersTable>): Promise<void> {
    const row: UsersTable = { disabled: 0, quota_bytes: null, quota_files: null, max_file_size: null, max_sessions: null, ip_allow: null, ip_deny: null, ...user };
    await this.meta.durable((trx) => trx.insertInto('users').values(row).onConflict((oc) => oc.column('id').doNothing()).execute());
  }

  /** Inserts a user and their grants in one transaction. */
  async createUser(user: UserRow, grants: { path: string; perms: string }[]): Promise<void> {
    await this.meta.durable(async (trx) => {
      await trx.insertInto('users').values(user).execute();
      if (grants.length) await trx.insertInto('grants').values(grants.map((g) => ({ user_id: user.id, path: g.path, perms: g.perms }))).execute();
    });
  }

  async updateUser(id: string, patch: UserPatch): Promise<void> {
    if (Object.keys(patch).length === 0) return;
    await this.meta.durable((trx) => trx.updateTable('users').set(patch).where('id', '=', id).execute());
  }

  /**
   * Deletes a user with everything that lets anyone act as them: grants, tokens, web
   * sessions, share links, upload sessions, WebDAV locks (which would refuse others' writes
   * until they time out) and tus rows (the server's TusUploads.terminateAllOf removes their
   * tails first). Their files stay (an admin decides about those).
   */
  async deleteUser(id: string): Promise<void> {
    await this.meta.durable(async (trx) => {
      const ups = await trx.selectFrom('uploads').select('id').where('owner', '=', id).execute();
      for (const { id: up } of ups) {
        await trx.deleteFrom('upload_entries').where('upload_id', '=', up).execute();
        await trx.deleteFrom('upload_files').where('upload_id', '=', up).execute();
        await trx.deleteFrom('uploads').where('id', '=', up).execute();
        await dropSessionProofs(trx, up);
      }
      await trx.deleteFrom('grants').where('user_id', '=', id).execute();
      await trx.deleteFrom('tokens').where('user_id', '=', id).execute();
      await trx.deleteFrom('web_sessions').where('user_id', '=', id).execute();
      await trx.deleteFrom('shares').where('user_id', '=', id).execute();
      await trx.deleteFrom('chunk_owners').where('user_id', '=', id).execute();
      await trx.deleteFrom('ssh_keys').where('user_id', '=', id).execute();
      await trx.deleteFrom('dav_locks').where('user_id', '=', id).execute();
      await trx.deleteFrom('tus_uploads').where('owner', '=', id).execute();
      await trx.deleteFrom('users').where('id', '=', id).execute();
    });
  }

  // ------------------------------------------------------------------ grants

  async grantsOf(userId: string): Promise<GrantRow[]> {
    return this.db.selectFrom('grants').selectAll().where('user_id', '=', userId).orderBy('path').execute();
  }

  /** Sets the grant on one path; an empty `perms` removes it. */
  async setGrant(userId: string, path: string, perms: string): Promise<void> {
    if (perms === '') {
      await this.meta.durable((trx) => trx.deleteFrom('grants').where('user_id', '=', userId).where('path', '=', path).execute());
      return;
    }
    await this.meta.durable((trx) =>
      trx
        .insertInto('grants')
        .values({ user_id: userId, path, perms })
        .onConflict((oc) => oc.columns(['user_id', 'path']).doUpdateSet({ perms }))
        .execute(),
    );
  }

  async replaceGrants(userId: string, grants: { path: string; perms: string }[]): Promise<void> {
    await this.meta.durable(async (trx) => {
      await trx.deleteFrom('grants').where('user_id', '=', userId).execute();
      if (grants.length) await trx.insertInto('grants').values(grants.map((g) => ({ user_id: userId, path: g.path, perms: g.perms }))).execute();
    });
  }

  // ------------------------------------------------------------------ tokens

  /**
   * Inserts a token if its user holds fewer than `max` live ones of its kind (not revoked, not
   * expired at `now`; 0: no limit), else FERRY_ERR_QUOTA_EXCEEDED (`details.limit` 'tokens').
   * Tokens a password login makes (`from_login`) and tokens made through the API are counted
   * apart, and a login at its limit makes room by revoking the user's oldest login tokens: a
   * machine that logs in often must not lock its user out of logging in, nor may a narrow
   * token's holder, by making tokens, lock the user out or end their other logins. Once the
   * user's rows reach `max`, their dead tokens are deleted, so that the table holds at most
   * `2 × max` rows per user (one more after a login made room) however many were made and
   * revoked.
   */
  async insertToken(row: TokenRow, limit: { max: number; now: number } = { max: 0, now: 0 }): Promise<void> {
    await this.meta.durable(async (trx) => {
      if (limit.max > 0) await this.makeTokenRoom(trx, row, limit.max, limit.now);
      await trx.insertInto('tokens').values(row).execute();
    });
  }

  private async makeTokenRoom(trx: Transaction<Database>, row: TokenRow, max: number, now: number): Promise<void> {
    // On PostgreSQL, two requests counting at once would each see room: one at a time per user.
    if (this.meta.dialect !== 'sqlite') await trx.selectFrom('users').select('id').where('id', '=', row.user_id).forUpdate().execute();
    const count = async (live: boolean) => {
      let q = trx.selectFrom('tokens').select((eb) => eb.fn.countAll<string | number>().as('n')).where('user_id', '=', row.user_id);
      if (live) q = q.where(liveToken(now)).where('from_login', '=', row.from_login ?? 0);
      return Number((await q.executeTakeFirstOrThrow()).n);
    };
    if ((await count(false)) >= max) await trx.deleteFrom('tokens').where('user_id', '=', row.user_id).where((eb) => eb.not(liveToken(now)(eb))).execute();
    const over = (await count(true)) - max + 1;
    if (over <= 0) return;
    if (row.from_login === 1) {
      const oldest = await trx.selectFrom('tokens').select('id').where('user_id', '=', row.user_id).where('from_login', '=', 1).where(liveToken(now)).orderBy('created_at').orderBy('id').limit(over).execute();
      if (oldest.length === over) {
        await trx.updateTable('tokens').set({ revoked_at: now }).where('id', 'in', oldest.map((t) => t.id)).execute();
        return;
      }
    }
    throw new QuotaExceededError(`a user may have at most ${max} live tokens (not revoked, not expired); revoke some first (ferry token rm ID)`, { details: { limit: 'tokens', max } });
  }

  /** Inserts a token, or gives an existing one with the same id this secret hash again, unrevoked (the admin's tokens at each start). */
  async upsertToken(row: TokenRow): Promise<void> {
    await this.meta.durable((trx) =>
      trx
        .insertInto('tokens')
        .values(row)
        .onConflict((oc) => oc.column('id').doUpdateSet({ secret_hash: row.secret_hash, revoked_at: null, expires_at: row.expires_at }))
        .execute(),
    );
  }

  async tokenById(id: string): Promise<TokenRow | undefined> {
    return this.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Records a use (not durable: losing it in a power cut costs nothing). */
  async touchToken(id: string, now: number): Promise<void> {
    await this.db.updateTable('tokens').set({ last_used_at: now }).where('id', '=', id).execute();
  }

  /** Tokens of one user (or of everyone), newest first. */
  async listTokens(userId?: string): Promise<(TokenRow & { user_name: string; user_role: string })[]> {
    let q = this.db.selectFrom('tokens as t').innerJoin('users as u', 'u.id', 't.user_id').selectAll('t').select(['u.name as user_name', 'u.role as user_role']);
    if (userId !== undefined) q = q.where('t.user_id', '=', userId);
    return q.orderBy('t.created_at', 'desc').orderBy('t.id').execute();
  }

  /**
   * One page of {@link listTokens}, newest first: at most `limit` tokens after `after` (the
   * `next` of the page before); `pathPrefix`: only tokens limited to a prefix within it.
   */
  async listTokensPage(userId: string | undefined, page: PageQuery & { pathPrefix?: string | null }): Promise<RowPage<TokenRow & { user_name: string; user_role: string }>> {
    let q = this.db.selectFrom('tokens as t').innerJoin('users as u', 'u.id', 't.user_id').selectAll('t').select(['u.name as user_name', 'u.role as user_role']);
    if (userId !== undefined) q = q.where('t.user_id', '=', userId);
    if (page.pathPrefix != null) q = q.where(withinPrefix('t.path_prefix', page.pathPrefix));
    if (page.after) q = q.where(keysetAfter('t.created_at', 't.id', page.after));
    const rows = await q.orderBy('t.created_at', 'desc').orderBy('t.id').limit(page.limit + 1).execute();
    return pageOf(rows, page.limit);
  }

  /** Revokes a token; false when it does not exist or was already revoked. */
  async revokeToken(id: string, now: number): Promise<boolean> {
    const r = await this.meta.durable((trx) => trx.updateTable('tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst());
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Revokes the user's tokens made by a password login (`from_login`), but `keep` (the
   * token that proved the new password's change, if one); how many it revoked.
   */
  async revokeLoginTokens(userId: string, now: number, keep?: string): Promise<number> {
    const r = await this.meta.durable((trx) => {
      let q = trx.updateTable('tokens').set({ revoked_at: now }).where('user_id', '=', userId).where('from_login', '=', 1).where('revoked_at', 'is', null);
      if (keep !== undefined) q = q.where('id', '!=', keep);
      return q.executeTakeFirst();
    });
    return Number(r.numUpdatedRows);
  }

  async revokeUserTokens(userId: string, now: number): Promise<number> {
    const r = await this.meta.durable((trx) => trx.updateTable('tokens').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirst());
    return Number(r.numUpdatedRows);
  }

  // ------------------------------------------------------------------ web sessions

  async insertSession(row: WebSessionRow): Promise<void> {
    await this.meta.durable((trx) => trx.insertInto('web_sessions').values(row).execute());
  }

  async sessionById(id: string): Promise<WebSessionRow | undefined> {
    return this.db.selectFrom('web_sessions').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /**
   * Replaces the session's refresh hash if it still is `expected` (compare-and-set: of two
   * concurrent refreshes with the same token only one wins). Returns whether it did.
   */
  async rotateSession(id: string, expected: string, next: string, now: number): Promise<boolean> {
    const r = await this.meta.durable((trx) =>
      trx
        .updateTable('web_sessions')
        .set({ refresh_hash: next, prev_refresh_hash: expected, refreshed_at: now })
        .where('id', '=', id)
        .where('refresh_hash', '=', expected)
        .where('revoked_at', 'is', null)
        .executeTakeFirst(),
    );
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * A new refresh token in place of the current one, the retired one and the rotation's time
   * kept (a retired token presented within the grace: Authenticator.refreshSession); false
   * when the current one changed meanwhile or the session was revoked.
   */
  async replaceSessionToken(id: string, expected: string, next: string): Promise<boolean> {
    const r = await this.meta.durable((trx) =>
      trx.updateTable('web_sessions').set({ refresh_hash: next }).where('id', '=', id).where('refresh_hash', '=', expected).where('revoked_at', 'is', null).executeTakeFirst(),
    );
    return Number(r.numUpdatedRows) > 0;
  }

  async revokeSession(id: string, now: number): Promise<void> {
    await this.meta.durable((trx) => trx.updateTable('web_sessions').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).execute());
  }

  async revokeUserSessions(userId: string, now: number): Promise<void> {
    await this.meta.durable((trx) => trx.updateTable('web_sessions').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute());
  }
}
