/**
 * What the server's idle settle lets go of before its collection (src/cli/commands/serve.ts,
 * settleAround): the buffers kept for the next chunk bodies, the local backend's staging
 * spares and the chunk store's delta bases, then SQLite's page cache after it.
 */
import { describe, expect, it } from 'vitest';
import { settleAround } from '../../src/cli/commands/serve.js';

describe('settleAround', () => {
  it('drops every kept buffer, the delta bases included, before the collection', async () => {
    const done: string[] = [];
    const kept = (name: string) => ({ dropKept: () => void done.push(name) });
    const around = settleAround(
      async (collect) => {
        done.push('trim:start');
        await collect();
        done.push('trim:end');
      },
      { meta: { releaseMemory: () => void done.push('sqlite') }, bodies: kept('bodies'), sendMemory: kept('send'), ingestMemory: kept('ingest'), chunks: kept('delta-bases') },
      () => void done.push('spares'),
    );
    await around(async () => void done.push('collect'));
    expect(done).toEqual(['trim:start', 'bodies', 'send', 'ingest', 'delta-bases', 'spares', 'collect', 'sqlite', 'trim:end']);
  });
});
