/**
 * Users' SSH public keys (the SFTP front logs users in with them), in the metadata store.
 *
 * Only public keys are kept: a row is the key blob as a client presents it, its fingerprint
 * and the comment of the authorized_keys line it came from. A key is unique per user (the
 * same public key on two accounts is allowed, as in two authorized_keys files: it opens
 * nothing without its private half, and the user name the client sends picks the account).
 * Writes are durable: a removed key must stay removed after a power cut.
 *
 * A key may expire (`expires_at`): from then on it is as if removed (not listed, not found,
 * and the same key may be added again); its row goes when it is added again or removed.
 */
import type { ExpressionBuilder, Kysely } from 'kysely';
import { AlreadyExistsError, QuotaExceededError } from '../core/errors.js';
import type { Database, SshKeysTable } from './meta-schema.js';
import type { MetaStore } from './meta-store.js';

export type SshKeyRow = SshKeysTable;

/**
 * Most keys one user may hold (unexpired). Keys are outside the quota: without a bound, a
 * user could add 100 keys a request for ever (each row and its audit entry in the metadata
 * database).
 */
export const MAX_KEYS_PER_USER = 500;

/** Keys that have not expired at `now`. */
function unexpired(now: number) {
  return (eb: ExpressionBuilder<Database, 'ssh_keys'>) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]);
}

export class SshKeyStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly meta: MetaStore) {
    this.db = meta.db;
  }

  /** A user's keys that have not expired at `now`, oldest first. */
  async keysOf(userId: string, now: number): Promise<SshKeyRow[]> {
    return this.db.selectFrom('ssh_keys').selectAll().where('user_id', '=', userId).where(unexpired(now)).orderBy('created_at').orderBy('id').execute();
  }

  /** The user's key with this blob (base64), if registered and not expired at `now`. */
  async findKey(userId: string, publicKey: string, now: number): Promise<SshKeyRow | undefined> {
    return this.db.selectFrom('ssh_keys').selectAll().where('user_id', '=', userId).where('public_key', '=', publicKey).where(unexpired(now)).executeTakeFirst();
  }

  /**
   * Adds keys to one user in one transaction: all or none. FERRY_ERR_ALREADY_EXISTS (with the
   * fingerprint) when the user has one of them already (unexpired at `now`; an expired one is
   * replaced), or when `rows` names a key twice; FERRY_ERR_QUOTA_EXCEEDED when the user would
   * hold more than {@link MAX_KEYS_PER_USER}.
   */
  async addKeys(rows: readonly SshKeyRow[], now: number): Promise<void> {
    const seen = new Set<string>();
    for (const r of rows) {
      if (seen.has(r.user_id + ' ' + r.fingerprint)) throw new AlreadyExistsError(`the key ${r.fingerprint} is given twice`, { details: { fingerprint: r.fingerprint } });
      seen.add(r.user_id + ' ' + r.fingerprint);
    }
    await this.meta.durable(async (trx) => {
      // On PostgreSQL, two requests counting at once would each see room: one at a time per user.
      if (this.meta.dialect !== 'sqlite') for (const userId of new Set(rows.map((r) => r.user_id))) await trx.selectFrom('users').select('id').where('id', '=', userId).forUpdate().execute();
      for (const r of rows) {
        await trx.deleteFrom('ssh_keys').where('user_id', '=', r.user_id).where('fingerprint', '=', r.fingerprint).where('expires_at', '<=', now).execute();
        const dup = await trx.selectFrom('ssh_keys').select('id').where('user_id', '=', r.user_id).where('fingerprint', '=', r.fingerprint).executeTakeFirst();
        if (dup) throw new AlreadyExistsError(`the key ${r.fingerprint} is already registered for this user (id ${dup.id})`, { details: { fingerprint: r.fingerprint, id: dup.id } });
        await trx.insertInto('ssh_keys').values(r).execute();
      }
      for (const userId of new Set(rows.map((r) => r.user_id))) {
        const { n } = await trx.selectFrom('ssh_keys').select((eb) => eb.fn.countAll<string | number>().as('n')).where('user_id', '=', userId).where(unexpired(now)).executeTakeFirstOrThrow();
        if (Number(n) > MAX_KEYS_PER_USER) throw new QuotaExceededError(`a user may have at most ${MAX_KEYS_PER_USER} SSH keys; this would make ${n} (remove some first: ferry user key rm)`, { details: { limit: MAX_KEYS_PER_USER } });
      }
    });
  }

  /** Removes a user's key by id or fingerprint; the row removed, or undefined when none matched. */
  async removeKey(userId: string, idOrFingerprint: string): Promise<SshKeyRow | undefined> {
    return this.meta.durable(async (trx) => {
      const row = await trx
        .selectFrom('ssh_keys')
        .selectAll()
        .where('user_id', '=', userId)
        .where((eb) => eb.or([eb('id', '=', idOrFingerprint), eb('fingerprint', '=', idOrFingerprint)]))
        .executeTakeFirst();
      if (row) await trx.deleteFrom('ssh_keys').where('id', '=', row.id).execute();
      return row;
    });
  }

  /** Records a successful login with the key (not durable: a lost timestamp harms nobody). */
  async touch(id: string, now: number): Promise<void> {
    await this.db.updateTable('ssh_keys').set({ last_used_at: now }).where('id', '=', id).execute();
  }
}
