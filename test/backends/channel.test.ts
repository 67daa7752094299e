import { describe, expect, it } from 'vitest';
import { ChannelBackend } from '../../src/backends/channel/channel-backend.js';
import { describeStorageBackend } from '../conformance/storage-backend.js';

describeStorageBackend('channel', async () => ({ backend: new ChannelBackend({ highWaterMark: 256 * 1024 }), cleanup: async () => {} }), { persistent: false });

describe('ChannelBackend specifics', () => {
  it('a writer waits for a reader (an unbuffered channel); its signal bounds the wait', async () => {
    const b = new ChannelBackend();
    const ac = new AbortController();
    const writing = b.write('k', Buffer.from('early'), { signal: ac.signal });
    ac.abort();
    await expect(writing).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
    const late = b.write('k', Buffer.from('on time'));
    const stream = await b.read('k');
    const parts: Buffer[] = [];
    for await (const chunk of stream) parts.push(chunk as Buffer);
    expect(Buffer.concat(parts).toString()).toBe('on time');
    await late;
  });

  it('named channel sets are shared within the process; a reader joins only the next write', async () => {
    const writer = new ChannelBackend({ name: 'shared-test' });
    const reader = new ChannelBackend({ name: 'shared-test' });
    const first = reader.read('news');
    await writer.write('news', Buffer.from('one'));
    const second = reader.read('news');
    await writer.write('news', Buffer.from('two'));
    const text = async (s: Promise<AsyncIterable<unknown>>) => {
      const parts: Buffer[] = [];
      for await (const chunk of await s) parts.push(chunk as Buffer);
      return Buffer.concat(parts).toString();
    };
    expect([await text(first), await text(second)]).toEqual(['one', 'two']);
  });

  it('an offset past the end of what was written fails that reader with FERRY_ERR_RANGE_NOT_SATISFIABLE', async () => {
    const b = new ChannelBackend();
    const reading = b.read('r', { offset: 10 });
    await b.write('r', Buffer.from('short'));
    const err = await (async () => {
      for await (const _ of await reading) void _;
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_ERR_RANGE_NOT_SATISFIABLE' });
  });
});
