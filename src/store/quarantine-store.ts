/**
 * Chunks found corrupt or missing by `ferry admin check`. A quarantined chunk keeps its
 * index row and reference count (files still need it; garbage collection must not take
 * the row), loses its owners (so every upload that contains it is told to send it again),
 * and the next verified bytes that arrive for it are written by the chunk store (which
 * writes every verified copy it receives and points the index at it); the next check that
 * reads it sound ends the quarantine.
 */
import type { Kysely } from 'kysely';
import type { Database } from './meta-schema.js';

export interface QuarantinedChunk {
  hash: string;
  reason: 'corrupt' | 'missing';
  objectKey: string | null;
  at: number;
}

export class QuarantineStore {
  constructor(private readonly db: Kysely<Database>) {}

  async add(c: QuarantinedChunk): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('chunk_quarantine')
        .values({ hash: c.hash, reason: c.reason, object_key: c.objectKey, at: c.at })
        .onConflict((oc) => oc.column('hash').doUpdateSet({ reason: c.reason, object_key: c.objectKey, at: c.at }))
        .execute();
      await trx.deleteFrom('chunk_owners').where('hash', '=', c.hash).execute();
    });
  }

  async has(hash: string): Promise<boolean> {
    return (await this.db.selectFrom('chunk_quarantine').select('hash').where('hash', '=', hash).executeTakeFirst()) !== undefined;
  }

  async list(): Promise<QuarantinedChunk[]> {
    const rows = await this.db.selectFrom('chunk_quarantine').selectAll().orderBy('at').execute();
    return rows.map((r) => ({ hash: r.hash, reason: r.reason as QuarantinedChunk['reason'], objectKey: r.object_key, at: Number(r.at) }));
  }

  /** Ends a quarantine: the chunk was read and verified sound (repaired since). */
  async release(hash: string): Promise<void> {
    await this.db.deleteFrom('chunk_quarantine').where('hash', '=', hash).execute();
  }

  /** Of `hashes`, those in quarantine. */
  async among(hashes: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < hashes.length; i += 400) {
      const rows = await this.db.selectFrom('chunk_quarantine').select('hash').where('hash', 'in', hashes.slice(i, i + 400)).execute();
      out.push(...rows.map((r) => r.hash));
    }
    return out;
  }

  /**
   * Verified bytes were stored, as a loose chunk in `store` or inside a pack: the index
   * points there now, and the quarantine ends.
   */
  async repaired(hash: string, store: string | null, inPack?: { pack: string; offset: number }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('chunks')
        .set(inPack ? { pack: inPack.pack, pack_offset: inPack.offset, store: null } : { pack: null, pack_offset: null, store })
        .where('hash', '=', hash)
        .execute();
      await trx.deleteFrom('chunk_quarantine').where('hash', '=', hash).execute();
    });
  }
}
