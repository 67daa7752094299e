/**
 * A database of the version before drop-box byte caps (its last migration 0021-cluster)
 * upgrades: 0022-share-byte-cap adds `shares.max_bytes` (null: no cap) and
 * `shares.bytes_received` (0) to the links it holds, which keep working, on SQLite (through
 * `ferry serve`'s start) and on PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ShareInfo } from '../../src/core/protocol.js';
import { MetaStore } from '../../src/store/meta-store.js';
import { migrationProvider } from '../../src/store/migrations.js';
import { startTestServer } from '../helpers/in-process-server.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { share } from '../helpers/users.js';

const PREVIOUS = '0021-cluster';

async function lastMigration(db: Kysely<any>): Promise<string> {
  const rows = await db.selectFrom('kysely_migration').select('name').orderBy('name').execute();
  return rows.at(-1)!.name as string;
}

async function hasMigration(db: Kysely<any>, name: string): Promise<boolean> {
  return !!(await db.selectFrom('kysely_migration').select('name').where('name', '=', name).executeTakeFirst());
}

describe('upgrading a database from before drop-box byte caps', () => {
  let postgres: PostgresHandle;
  beforeAll(async () => {
    postgres = await startPostgres();
  });
  afterAll(async () => {
    await postgres?.stop();
  });

  it('SQLite: an upload link made at 0021 gains no cap and 0 bytes, and still takes files', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-upgrade-cap-'));
    try {
      const first = await startTestServer({ dataDir });
      expect((await first.api('/api/v1/mkdir/inbox', { method: 'POST' })).status).toBe(201);
      const link = await share(first, first.token, { path: '/inbox', kind: 'upload' });
      await first.server.close();
      // Put back to what the previous version left: no cap columns, no 0022.
      const old = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(join(dataDir, 'meta.db')) }) });
      await old.schema.alterTable('shares').dropColumn('max_bytes').execute();
      await old.schema.alterTable('shares').dropColumn('bytes_received').execute();
      await old.schema.alterTable('ssh_keys').dropColumn('expires_at').execute(); // and 0023's, 0024's
      await old.schema.alterTable('tokens').dropColumn('from_login').execute();
      await old.schema.alterTable('shares').dropColumn('target_type').execute(); // 0026's
      await old.schema.dropIndex('shares_made_with').execute(); // and 0030's
      await old.schema.alterTable('shares').dropColumn('made_with').execute();
      await old.deleteFrom('kysely_migration').where('name', '>', PREVIOUS).execute();
      expect(await lastMigration(old)).toBe(PREVIOUS);
      await old.destroy();

      const again = await startTestServer({ dataDir });
      try {
        expect(await hasMigration(again.server.ctx.meta.db as unknown as Kysely<any>, '0022-share-byte-cap')).toBe(true);
        const before = ((await (await again.api('/api/v1/shares')).json()) as ShareInfo[]).find((s) => s.id === link.id);
        expect(before).toMatchObject({ maxBytes: null, bytesReceived: 0 });
        expect((await fetch(`${again.url}/s/${link.url.split('/s/')[1]}/after.txt`, { method: 'PUT', body: 'sent after the upgrade' })).status).toBe(201);
        const after = ((await (await again.api('/api/v1/shares')).json()) as ShareInfo[]).find((s) => s.id === link.id);
        expect(after).toMatchObject({ maxBytes: null, bytesReceived: 22, uses: 1 });
      } finally {
        await again.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('PostgreSQL: a link stored at 0021 gains no cap and 0 bytes', async () => {
    const url = await postgres.createDatabase();
    const old = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
    const migrated = await new Migrator({ db: old, provider: migrationProvider('postgres') }).migrateTo(PREVIOUS);
    expect(migrated.error).toBeUndefined();
    await old
      .insertInto('shares')
      .values({ id: 'sh_old', key_hash: 'k'.repeat(64), user_id: 'u1', path: '/inbox', kind: 'upload', name: 'inbox', password_hash: null, expires_at: null, max_uses: null, uses: 3, created_at: 1, revoked_at: null, last_used_at: null })
      .execute();
    await old.destroy();

    const meta = await MetaStore.openPostgres(url, { poolSize: 2 });
    try {
      expect(await hasMigration(meta.db as unknown as Kysely<any>, '0022-share-byte-cap')).toBe(true);
      const row = await meta.db.selectFrom('shares').select(['uses', 'max_bytes', 'bytes_received']).where('id', '=', 'sh_old').executeTakeFirstOrThrow();
      expect({ uses: Number(row.uses), max: row.max_bytes, received: Number(row.bytes_received) }).toEqual({ uses: 3, max: null, received: 0 });
    } finally {
      await meta.close();
    }
  });
});
