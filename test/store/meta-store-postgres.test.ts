/** The metadata conformance suite on a real PostgreSQL server: a private cluster, one database per test. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeMetaStore } from '../conformance/meta-store.js';
import { MetaStore } from '../../src/store/meta-store.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';

let pg: PostgresHandle;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

// The suite moves a fake clock past leases' ends: here their times come from that clock, not the database's.
describeMetaStore('postgres', async () => {
  const url = await pg.createDatabase();
  return { nodes: 'many', open: (now) => MetaStore.openPostgres(url, { now, poolSize: 4, leaseClock: 'node' }), cleanup: async () => undefined };
});

describe('leases on PostgreSQL keep the database server’s time, not the nodes’', () => {
  const MINUTES = 10 * 60_000;
  const opened: MetaStore[] = [];
  afterAll(async () => {
    for (const s of opened) await s.close().catch(() => undefined);
  });
  const open = async (url: string, skewMs: number) => {
    const store = await MetaStore.openPostgres(url, { now: () => Date.now() + skewMs, poolSize: 2 });
    opened.push(store);
    return store;
  };

  it('a node whose clock is ten minutes ahead cannot take a live lease', async () => {
    const url = await pg.createDatabase();
    const [holder, ahead] = [await open(url, 0), await open(url, MINUTES)];
    expect(await holder.leases.acquire('sweep', 60_000, 'holder')).toBe(true);
    expect(await ahead.leases.acquire('sweep', 60_000, 'ahead')).toBe(false);
    expect((await ahead.leases.holderOf('sweep'))?.holder).toBe('holder');
    expect(await ahead.leases.heldByOthers('swe', 'ahead')).toBe(true);
    expect((await ahead.leases.run('sweep', 60_000, async () => 'ran')).ran).toBe(false);
    // And the holder renews it as its own.
    expect(await holder.leases.acquire('sweep', 60_000, 'holder')).toBe(true);
  });

  it('a lease lapses on time for a node whose clock is ten minutes behind', async () => {
    const url = await pg.createDatabase();
    const [holder, behind] = [await open(url, 0), await open(url, -MINUTES)];
    expect(await holder.leases.acquire('gc', 300, 'holder')).toBe(true);
    expect(await behind.leases.acquire('gc', 60_000, 'behind')).toBe(false);
    // With the nodes' clocks it lapsed for the one behind only ten minutes later (the test timed out).
    while (!(await behind.leases.acquire('gc', 60_000, 'behind'))) await new Promise((r) => setTimeout(r, 50));
    expect((await holder.leases.holderOf('gc'))?.holder).toBe('behind');
    expect(await holder.leases.acquire('gc', 300, 'holder')).toBe(false);
  }, 20_000);
});
