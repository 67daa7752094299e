/**
 * settleHeapAfterStart (src/cli/commands/serve.ts): once a server is ready, one collection
 * through an in-process inspector session sizes V8's heap for idling; it is logged, the
 * process keeps answering, and a Node without the inspector only logs that it was skipped.
 * During that collection only, V8 drops the code of functions not running (the start's).
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
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

  it("drops the start's compiled code during its collection, and V8's usual aging is back after it", () => {
    // In a Node of its own, the built module (npm run build): V8 prints each function whose
    // code it drops (--trace-flush-bytecode). A function run before the collection loses its
    // code there; one run after it keeps its code through three mark-compacts (V8 drops an
    // unused function's code after 5): the stress flag did not stay on.
    const serve = fileURLToPath(new URL('../../dist/src/cli/commands/serve.js', import.meta.url));
    const script = `
      import { settleHeapAfterStart } from ${JSON.stringify(serve)};
      function ranAtStart() { return [1, 2, 3].map((x) => x * 2).join(','); }
      ranAtStart();
      const alive = setInterval(() => {}, 1000); // the settle's timer is unref'd, as a server's listening socket keeps it alive
      settleHeapAfterStart({ debug: (o, msg) => setTimeout(() => {
        console.log('SETTLED: ' + msg);
        function ranAfterwards() { return [4, 5].map((x) => x + 1).join(','); }
        ranAfterwards();
        for (let i = 0; i < 3; i++) globalThis.gc();
        console.log('END ' + ranAfterwards());
        clearInterval(alive);
      }) });`;
    const out = execFileSync(process.execPath, ['--expose-gc', '--trace-flush-bytecode', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const [before, after] = out.split('SETTLED: ');
    expect(after).toMatch(/^heap settled after start\n/);
    expect(after).toContain('END 5,6');
    expect(before).toMatch(/<SharedFunctionInfo ranAtStart>/);
    expect(after).not.toMatch(/<SharedFunctionInfo ranAfterwards>/);
  });

  it('after traffic grew the young generation, collects again once the event loop has idled, not while it is busy', () => {
    // In a Node of its own (the built module), checking every 200 ms: the young generation is
    // grown by short-lived garbage, then the event loop is kept busy (setImmediate work) for
    // 1 s, then left idle. The collection comes only in the idle part, and shrinks it back.
    const serve = fileURLToPath(new URL('../../dist/src/cli/commands/serve.js', import.meta.url));
    const script = `
      import { getHeapSpaceStatistics } from 'node:v8';
      import { settleHeapWhenIdle } from ${JSON.stringify(serve)};
      const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
      const initial = young();
      const phase = { name: 'growing' };
      const alive = setInterval(() => {}, 1000); // its timer is unref'd, as a server's sockets keep it alive
      const stop = settleHeapWhenIdle({ debug: (o, msg) => {
        clearInterval(alive);
        console.log(JSON.stringify({ msg, phase: phase.name, grown, youngBefore: o.youngBefore, youngAfter: o.youngAfter, initial }));
        stop();
      } }, undefined, 200);
      let keep = [];
      for (let i = 0; i < 400000; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 2000) keep = []; }
      const grown = young();
      phase.name = 'busy';
      const until = Date.now() + 1000;
      const spin = () => { const t = Date.now() + 5; while (Date.now() < t); if (Date.now() < until) setImmediate(spin); else phase.name = 'idle'; };
      spin();`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    const logged = JSON.parse(out.trim().split('\n').at(-1)!) as { msg: string; phase: string; grown: number; youngBefore: number; youngAfter: number; initial: number };
    expect(logged.grown).toBeGreaterThan(logged.initial); // the garbage did grow it
    expect(logged.msg).toBe('heap settled when idle');
    expect(logged.phase).toBe('idle');
    expect(logged.youngBefore).toBeGreaterThan(logged.youngAfter);
    expect(logged.youngAfter).toBeLessThanOrEqual(logged.initial);
  });

  it('after a burst that kept the event loop busy without growing the young generation, collects once idle, inside `around`', () => {
    // The burst is arithmetic on small integers (nothing allocated on V8's heap): before the
    // burst counted, only a grown young generation brought the collection, and glibc's free
    // memory (given back by `around`, the allocator's trimDuring) stayed after such traffic.
    const serve = fileURLToPath(new URL('../../dist/src/cli/commands/serve.js', import.meta.url));
    const script = `
      import { getHeapSpaceStatistics } from 'node:v8';
      import { settleHeapWhenIdle } from ${JSON.stringify(serve)};
      const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
      const phase = { name: 'busy' };
      const events = [];
      const alive = setInterval(() => {}, 1000); // its timer is unref'd, as a server's sockets keep it alive
      const around = async (collect) => { events.push('around:' + phase.name); await collect(); events.push('collected'); };
      let sizes;
      const stop = settleHeapWhenIdle({ debug: (o, msg) => {
        clearInterval(alive);
        console.log(JSON.stringify({ msg, events, sizes }));
        stop();
      } }, around, 200);
      const before = young();
      const until = Date.now() + 1000;
      let x = 0;
      const spin = () => {
        for (let i = 0; i < 2e6; i++) x = (x + i) | 0;
        if (Date.now() < until) return setImmediate(spin);
        sizes = { before, after: young() };
        phase.name = 'idle';
        setTimeout(() => { console.log(JSON.stringify({ msg: 'none', events, sizes, x })); process.exit(0); }, 3000).unref();
      };
      spin();`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    const logged = JSON.parse(out.trim().split('\n').at(-1)!) as { msg: string; events: string[]; sizes: { before: number; after: number } };
    expect(logged.sizes.after).toBe(logged.sizes.before); // the burst did not grow it
    expect(logged.msg).toBe('heap settled when idle');
    expect(logged.events).toEqual(['around:idle', 'collected']);
  });
});
