/**
 * Kysely's SqliteDialect, with a rollback that keeps the error that caused it.
 *
 * On some errors SQLite rolls the whole transaction back by itself: a full disk
 * (`SQLITE_FULL`, also `max_page_count` reached), an I/O error, out of memory. Kysely then
 * sends its own `rollback`, which fails with "cannot rollback - no transaction is active",
 * and that error replaces the real one: a server whose disk filled up answered
 * `500 FERRY_ERR_INTERNAL` instead of `507 FERRY_ERR_NO_SPACE`, and its log named the
 * rollback, not the full disk. Here the rollback is sent only while a transaction is open.
 */
import { SqliteDialect, type DatabaseConnection, type Driver, type SqliteDialectConfig } from 'kysely';

/** What the dialect needs to know of the connection besides what Kysely's config holds. */
export interface TransactionState {
  /** Whether a transaction is open on the connection (better-sqlite3's `inTransaction`). */
  readonly inTransaction: boolean;
}

export class SqliteDialectKeepingErrors extends SqliteDialect {
  constructor(
    config: SqliteDialectConfig,
    private readonly connection: TransactionState,
  ) {
    super(config);
  }

  override createDriver(): Driver {
    const driver = super.createDriver();
    const rollback = driver.rollbackTransaction.bind(driver);
    driver.rollbackTransaction = async (conn: DatabaseConnection) => {
      if (this.connection.inTransaction) await rollback(conn);
    };
    return driver;
  }
}
