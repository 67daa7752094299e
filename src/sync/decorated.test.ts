import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/index.js';
import type { FerryError } from '../core/errors.js';
import { instrument } from '../../test/helpers/sync-trees.js';
import { decorateRemotes, retryPolicy } from './decorated.js';
import { makeRemote, sameBackend } from './remote.js';

describe('decorateRemotes', () => {
  it('wraps each backend once: remotes that shared a backend still share one (server-side moves keep working)', () => {
    const store = new MemoryBackend();
    const other = new MemoryBackend();
    const r = decorateRemotes({ src: makeRemote(store, 'a'), dst: makeRemote(store, 'b'), backup: makeRemote(other) }, { retry: retryPolicy() });
    expect(sameBackend(r.src!, r.dst!)).toBe(true);
    expect(sameBackend(r.src!, r.backup!)).toBe(false);
    expect(r.src!.backend).not.toBe(store);
    expect([r.src!.prefix, r.dst!.prefix]).toEqual(['a', 'b']);
  });

  it('dry run: nothing reaches the store; retries are reported with the path inside the remote', async () => {
    const store = new MemoryBackend();
    await store.write('b/x', Buffer.from('x'));
    const r = decorateRemotes({ dst: makeRemote(store, 'b') }, { retry: retryPolicy(), dryRun: true });
    await r.dst!.backend.delete('b/x');
    expect((await store.stat('b/x')).size).toBe(1);

    const flaky = instrument(new MemoryBackend(), { failRead: { keys: ['d/f'], times: 1, retryable: true } });
    await flaky.backend.write('d/f', Buffer.from('f'));
    const retried: string[] = [];
    const s = decorateRemotes({ src: makeRemote(flaky.backend, 'd') }, { retry: retryPolicy(3, 1), onRetry: (path, err, attempt) => retried.push(`${path} ${attempt} ${(err as FerryError).code}`) });
    const stream = await s.src!.backend.read('d/f');
    stream.destroy();
    expect(retried).toEqual(['f 1 FERRY_ERR_IO']);
  });
});
