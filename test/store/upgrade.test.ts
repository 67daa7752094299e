/**
 * A database the previous version left (its last migration 0020-chunk-stored-size) upgrades:
 * the cluster migration (0021) sorts after every migration that version ran, so Kysely's
 * migrator runs it instead of refusing the database, on SQLite (through `ferry serve`'s
 * start, with a file stored before) and on PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetaStore } from '../../src/store/meta-store.js';
import { migrationProvider } from '../../src/store/migrations.js';
import { runFerry } from '../helpers/cli.js';
import { startTestServer } from '../helpers/in-process-server.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';

const PREVIOUS = '0020-chunk-stored-size';
/** The migrations the previous version has (and a database of it has run). */
const PREVIOUS_MIGRATIONS = ['0001-initial', '0002-security', '0003-chunk-stores', '0004-upload-entries-by-hash', '0005-upload-reservations', '0006-files-name-fold', '0007-webdav-tus', '0010-audit-files', '0011-webhooks', '0012-versions-trash', '0013-chunk-quarantine', '0014-sftp', PREVIOUS];

async function migrationNames(db: Kysely<any>): Promise<string[]> {
  const rows = await db.selectFrom('kysely_migration').select('name').orderBy('name').execute();
  return rows.map((r) => r.name as string);
}

describe('upgrading a database of the previous version', () => {
  let postgres: PostgresHandle;
  beforeAll(async () => {
    postgres = await startPostgres();
  });
  afterAll(async () => {
    await postgres?.stop();
  });

  it('SQLite: a data directory at 0020 starts, keeps its files and gains the cluster tables', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-upgrade-'));
    try {
      // The first start of this version made the files; then the database is put back to
      // what the previous version left: every migration up to 0020, none after.
      const first = await startTestServer({ dataDir });
      const put = await first.api('/api/v1/files/kept.txt', { method: 'PUT', body: 'made before the upgrade' });
      expect(put.status).toBe(201);
      await first.server.close();
      const old = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(join(dataDir, 'meta.db')) }) });
      await old.schema.dropTable('leases').execute();
      await old.schema.dropTable('chunk_writes').execute();
      await old.schema.dropTable('bans').execute();
      // And what later migrations added (0022: the drop-box byte cap; 0023: SSH key expiry; 0024: login tokens).
      await old.schema.alterTable('shares').dropColumn('max_bytes').execute();
      await old.schema.alterTable('shares').dropColumn('bytes_received').execute();
      await old.schema.alterTable('ssh_keys').dropColumn('expires_at').execute();
      await old.schema.alterTable('tokens').dropColumn('from_login').execute();
      await old.schema.alterTable('shares').dropColumn('target_type').execute(); // 0026's
      await old.schema.dropIndex('shares_made_with').execute(); // and 0030's
      await old.schema.alterTable('shares').dropColumn('made_with').execute();
      await old.deleteFrom('kysely_migration').where('name', 'not in', PREVIOUS_MIGRATIONS).execute();
      expect(await migrationNames(old)).toEqual(PREVIOUS_MIGRATIONS);
      await old.destroy();

      const again = await startTestServer({ dataDir });
      try {
        expect(await (await again.api('/api/v1/files/kept.txt')).text()).toBe('made before the upgrade');
        const names = await migrationNames(again.server.ctx.meta.db as unknown as Kysely<any>);
        expect(names).toContain('0021-cluster');
        expect(await again.server.ctx.meta.leases.acquire('upgrade-test', 60_000)).toBe(true);
        // The start ran (and logs) exactly the migrations the old database lacked; the next runs none.
        expect(again.server.ctx.meta.migrationsRun).toEqual(names.filter((n) => !PREVIOUS_MIGRATIONS.includes(n)));
        expect(again.server.ctx.meta.migrationsRun).toContain('0021-cluster');
        await again.restart();
        expect(again.server.ctx.meta.migrationsRun).toEqual([]);
        expect(await (await again.api('/api/v1/files/kept.txt')).text()).toBe('made before the upgrade');
      } finally {
        await again.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a data directory a newer version migrated: ferry serve refuses it by name (exit 2), the database untouched', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-downgrade-'));
    try {
      const first = await startTestServer({ dataDir });
      expect((await first.api('/api/v1/files/kept.txt', { method: 'PUT', body: 'made by the newer version' })).status).toBe(201);
      await first.server.close();
      const newer = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(join(dataDir, 'meta.db')) }) });
      await newer.insertInto('kysely_migration').values({ name: '9999-from-a-newer-version', timestamp: new Date().toISOString() }).execute();
      const before = await migrationNames(newer);
      await newer.destroy();

      const r = await runFerry(['serve', '--addr', '127.0.0.1:0', '--data', dataDir], { timeoutMs: 30_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        'ferry: the metadata database was upgraded by a newer version of Ferry (its migration 9999-from-a-newer-version is unknown to this one): run that version or a later one, or restore the backup made before the upgrade (FERRY_ERR_CONFIG)\n',
      );
      expect(r.stdout).not.toContain('"ready"');
      const after = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(join(dataDir, 'meta.db')) }) });
      try {
        expect(await migrationNames(after)).toEqual(before);
        expect(await after.selectFrom('files').select('path').where('name', '=', 'kept.txt').execute()).toHaveLength(1);
      } finally {
        await after.destroy();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('PostgreSQL: a database at 0020 opens on every node and gains the cluster tables', async () => {
    const url = await postgres.createDatabase();
    const old = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
    const migrated = await new Migrator({ db: old, provider: migrationProvider('postgres') }).migrateTo(PREVIOUS);
    expect(migrated.error).toBeUndefined();
    await old.insertInto('chunks').values({ hash: 'a'.repeat(64), size: 10, pack: null, pack_offset: null, refs: 0, created_at: 1, store: null, stored_size: 12 }).execute();
    await old.destroy();

    const nodes = await Promise.all([1, 2].map(() => MetaStore.openPostgres(url, { poolSize: 2 })));
    try {
      expect(await migrationNames(nodes[0].db as unknown as Kysely<any>)).toContain('0021-cluster');
      expect(await nodes[1].chunkLocation('a'.repeat(64))).toMatchObject({ size: 10, stored: 12 });
      expect(await nodes[0].leases.acquire('upgrade-test', 60_000, 'node-0')).toBe(true);
      expect(await nodes[1].leases.acquire('upgrade-test', 60_000, 'node-1')).toBe(false);
    } finally {
      for (const n of nodes) await n.close();
    }
  });
});
