import { describe, expect, it } from 'vitest';
import { ShareTransfers } from './share-transfers.js';

describe('ShareTransfers', () => {
  it('a counted download may be continued up to twice the file size, then counts again', () => {
    const tr = new ShareTransfers(() => 0);
    const key = ShareTransfers.key('s', '/f', '"h"', '1.2.3.4');
    expect(tr.continue(key, 10)).toBeUndefined(); // nothing counted yet
    tr.start(key, 100, 100).settle(100);
    const more = tr.continue(key, 99);
    expect(more).toBeDefined();
    more!.settle(99);
    expect(tr.continue(key, 2)).toBeUndefined(); // 199 of 200 used
    expect(tr.continue(key, 1)).toBeDefined();
  });

  it('bytes not sent are given back; parallel reservations cannot overdraw', () => {
    const tr = new ShareTransfers(() => 0);
    const key = ShareTransfers.key('s', '/f', '"h"', 'a');
    tr.start(key, 100, 100).settle(30); // the client hung up after 30 bytes
    const a = tr.continue(key, 70);
    const b = tr.continue(key, 70);
    const c = tr.continue(key, 70);
    expect([a, b, c].map((r) => r !== undefined)).toEqual([true, true, false]);
  });

  it('another address, another file content, or after the window: not a continuation', () => {
    let now = 0;
    const tr = new ShareTransfers(() => now, 1000);
    tr.start(ShareTransfers.key('s', '/f', '"h"', 'a'), 100, 100).settle(100);
    expect(tr.continue(ShareTransfers.key('s', '/f', '"h"', 'b'), 1)).toBeUndefined();
    expect(tr.continue(ShareTransfers.key('s', '/f', '"other"', 'a'), 1)).toBeUndefined();
    expect(tr.continue(ShareTransfers.key('s', '/f', '"h"', 'a'), 1)).toBeDefined();
    now = 1000;
    expect(tr.continue(ShareTransfers.key('s', '/f', '"h"', 'a'), 1)).toBeUndefined();
  });

  it('remembers a bounded number of transfers, forgetting the oldest', () => {
    const tr = new ShareTransfers(() => 0, 1000, 3);
    for (const a of ['a', 'b', 'c', 'd']) tr.start(ShareTransfers.key('s', '/f', '"h"', a), 10, 10);
    expect(tr.size).toBe(3);
    expect(tr.continue(ShareTransfers.key('s', '/f', '"h"', 'a'), 1)).toBeUndefined();
    expect(tr.continue(ShareTransfers.key('s', '/f', '"h"', 'd'), 1)).toBeDefined();
  });
});
