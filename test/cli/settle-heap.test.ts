/**
 * settleHeapAfterStart (src/cli/commands/serve.ts): once a server is ready, one collection
 * through an in-process inspector session sizes V8's heap for idling; it is logged, the
 * process keeps answering, and a Node without the inspector only logs that it was skipped.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';

interface Logged {
  o: { err?: unknown; rssBefore?: number; rssAfter?: number };
  msg: string;
}

function logger(): { log: { debug(o: object, msg: string): void }; next: Promise<Logged> } {
  let resolve!: (l: Logged) => void;
  const next = new Promise<Logged>((r) => (resolve = r));
  return { log: { debug: (o, msg) => resolve({ o, msg }) }, next };
}

afterEach(() => {
  vi.doUnmock('node:inspector');
  vi.resetModules();
});

describe('settleHeapAfterStart', () => {
  it('runs one collection a moment after the start, logs the RSS before and after, and the event loop goes on', async () => {
    const { settleHeapAfterStart } = await import('../../src/cli/commands/serve.js');
    const server = createServer((_req, res) => res.end('still here'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { log, next } = logger();
      settleHeapAfterStart(log);
      const logged = await next;
      expect(logged.msg).toBe('heap settled after start');
      expect(logged.o.err).toBeUndefined();
      expect(logged.o.rssBefore).toBeGreaterThan(0);
      expect(logged.o.rssAfter).toBeGreaterThan(0);
      // The session is let go outside its callback: requests are still answered afterwards.
      await new Promise((r) => setTimeout(r, 50));
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      expect(await res.text()).toBe('still here');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('runs the collection inside `around` (the allocator lowers its trim threshold for it)', async () => {
    const { settleHeapAfterStart } = await import('../../src/cli/commands/serve.js');
    const { log, next } = logger();
    const events: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    settleHeapAfterStart(log, async (collect) => {
      events.push('before');
      await collect();
      events.push('after');
      done();
    });
    const logged = await next;
    expect(logged.msg).toBe('heap settled after start');
    await finished;
    expect(events).toEqual(['before', 'after']);
  });

  it('a Node built without the inspector: logs that it skipped the collection, throws nothing', async () => {
    vi.doMock('node:inspector', () => {
      throw new Error('Inspector is not available');
    });
    const { settleHeapAfterStart } = await import('../../src/cli/commands/serve.js');
    const { log, next } = logger();
    expect(() => settleHeapAfterStart(log)).not.toThrow();
    const logged = await next;
    expect(logged.msg).toBe('heap not settled after start: no inspector');
    expect(logged.o.err).toBeInstanceOf(Error); // vitest's wrapping of the import's failure
  });
});
