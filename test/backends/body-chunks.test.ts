/**
 * bodyChunks (src/backends/shared.ts), the loop every backend write reads its body through:
 * with an abort signal, the pieces it has handed on must not stay reachable from it. It once
 * raced each pull against one abort promise that lived as long as the body; every race left
 * a reaction on that promise holding the race's result, so a streamed chunk body kept all
 * its socket reads until its last byte (issue 15, workload 6: hundreds of MB at 200 clients).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { bodyChunks } from '../../src/backends/shared.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Lets the current job end (WeakRef targets are kept alive until it does), then collects. */
async function collect(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  gc();
}

describe('bodyChunks', () => {
  it('keeps no piece it has handed on reachable while the body is still being read (with a signal)', async () => {
    const refs: WeakRef<Buffer>[] = [];
    async function* pieces(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 40; i++) {
        const piece = Buffer.alloc(64 * 1024, i);
        refs.push(new WeakRef(piece));
        yield piece;
      }
    }
    const controller = new AbortController();
    let seen = 0;
    let aliveMidway = -1;
    for await (const piece of bodyChunks(pieces(), { size: 40 * 64 * 1024, signal: controller.signal, what: 'test' })) {
      expect(piece[0]).toBe(seen);
      seen++;
      if (seen === 30) {
        await collect();
        // All but the piece in hand (and the producer's next one) must be gone.
        aliveMidway = refs.slice(0, 28).filter((r) => r.deref() !== undefined).length;
      }
    }
    expect(seen).toBe(40);
    expect(aliveMidway).toBe(0);
  });

  it('still fails a stalled pull at once when the signal aborts', async () => {
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* slow(): AsyncGenerator<Buffer> {
      yield Buffer.from('first');
      await stalled; // never settles before the abort
      yield Buffer.from('second');
    }
    const controller = new AbortController();
    const got: string[] = [];
    const reading = (async () => {
      for await (const piece of bodyChunks(slow(), { signal: controller.signal, what: 'test' })) {
        got.push(Buffer.from(piece).toString());
        if (got.length === 1) setImmediate(() => controller.abort());
      }
    })();
    await expect(reading).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
    expect(got).toEqual(['first']);
    release();
  });

  it('fails at once when the producer itself aborts while making a piece, then stalls', async () => {
    const controller = new AbortController();
    async function* abortsThenStalls(): AsyncGenerator<Buffer> {
      yield Buffer.from('one');
      controller.abort(); // inside the second next(), before anything awaits it
      await new Promise(() => {});
    }
    const reading = (async () => {
      for await (const _ of bodyChunks(abortsThenStalls(), { signal: controller.signal, what: 'test' })) void _;
    })();
    await expect(reading).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
  });

  it('an abort between pulls fails the next step, and a body that errors is reported as such', async () => {
    const controller = new AbortController();
    async function* two(): AsyncGenerator<Buffer> {
      yield Buffer.from('a');
      yield Buffer.from('b');
    }
    const seen: string[] = [];
    const reading = (async () => {
      for await (const piece of bodyChunks(two(), { signal: controller.signal, what: 'test' })) {
        seen.push(Buffer.from(piece).toString());
        controller.abort();
      }
    })();
    await expect(reading).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
    expect(seen).toEqual(['a']);

    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.from('x');
      throw Object.assign(new Error('disk on fire'), { code: 'EIO' });
    }
    const failing = (async () => {
      for await (const _ of bodyChunks(broken(), { signal: new AbortController().signal, what: 'test' })) void _;
    })();
    await expect(failing).rejects.toThrow(/disk on fire|reading the body/);
  });
});
