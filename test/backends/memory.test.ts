import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { describeStorageBackend } from '../conformance/storage-backend.js';

describeStorageBackend('memory (virtual directories)', async () => ({ backend: new MemoryBackend(), cleanup: async () => {} }));
describeStorageBackend('memory (real directories)', async () => ({
  backend: new MemoryBackend({ directories: 'real' }),
  cleanup: async () => {},
}));

describe('MemoryBackend named stores', () => {
  it('the same name shares one store within the process; other names and anonymous stores do not', async () => {
    const a = MemoryBackend.named('shared-test');
    const b = MemoryBackend.named('shared-test');
    await a.write('k', Buffer.from('v'));
    expect((await b.stat('k')).size).toBe(1);
    expect(b.name).toBe('memory:shared-test');
    await expect(MemoryBackend.named('other-test').stat('k')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    await expect(new MemoryBackend().stat('k')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    MemoryBackend.forget('shared-test');
    await expect(MemoryBackend.named('shared-test').stat('k')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    MemoryBackend.forget('shared-test');
  });

  it('refuses to reopen a named store with the other kind of directories', () => {
    MemoryBackend.named('kind-test', { directories: 'real' });
    expect(MemoryBackend.named('kind-test').features().directories).toBe('real');
    expect(() => MemoryBackend.named('kind-test', { directories: 'virtual' })).toThrow(/already exists/);
    MemoryBackend.forget('kind-test');
  });

  it('virtual stores have no mkdir/rmdir ability', async () => {
    const { hasDirectories } = await import('../../src/core/storage.js');
    expect(hasDirectories(new MemoryBackend())).toBe(false);
    expect(hasDirectories(new MemoryBackend({ directories: 'real' }))).toBe(true);
  });
});
