// V8's optimizing compiler (TurboFan) optimizes a JavaScript function once the function has
// spent a budget of work (`--interrupt-budget`, 66 KiB of bytecode "ticks" on Node 20). A
// first `ferry sync` of 10,000 small files had TurboFan compile 128 times in the client and 350
// times in a fresh server, mostly functions run a few thousand times for that sync and rarely
// again: 22% of the client's CPU samples (perf) and ~17% of the server's, on background
// threads of a 2-core machine where the other side needed that core. With eight times the
// budget (42 and 68 compilations) only
// the functions that stay hot are optimized (the per-chunk and per-byte loops still are,
// within their first milliseconds; SHA-256, zstd and the FastCDC kernel are native or
// WebAssembly, which this flag does not govern). Measured on that sync (4 and 3 alternating
// pairs): the client's user CPU 0.87-0.98 -> 0.76-0.83 s, a fresh server's 1.90-2.06 ->
// 1.65-1.68 s; a no-change sync and a 1 GiB put and get cost what they did
// (benchmarks/results/issue-15-speed.md, branch speedsmall).
//
// Every `ferry` command but `serve` sets it before the bundle runs (bin/ferry.js); `ferry
// serve` sets it once ready, with TurboFan back on (./serve-start.js). A budget named on
// node's command line is left alone.
//
// Setting a V8 flag makes Node refuse its code cache for the built-in modules compiled after it
// (./serve-start.js): a client command compiled ~90 of them from source, Node's ES module loader
// and the HTTP stack among them (`--cpu-prof` of a small `ferry put`: 46 ms in
// compileForInternalLoader, 20 without the flag). So the flag is set once Node's loader is up
// (bin/ferry.js calls this right after it starts importing the bundle: `import()` loads the
// loader synchronously, the bundle's files are read and compiled later), and the public
// built-ins a client command loads later are loaded first, from the cache (CLIENT_BUILTINS).
// Measured (CPU of the whole process, chrt, four sets of 12-30 runs each, alternating, load
// 25-34): a small `ferry put` 5-30 ms less (median ~24 ms of ~240), `ferry --version` about the
// same (benchmarks/results/issue-15-speed.md, branch delta8b, 2026-12-06 evening).

/** Eight times V8's default (67,584 on Node 20, V8 11.3). */
const FERRY_INTERRUPT_BUDGET = 8 * 67_584;
const BUDGET_FLAG = `--interrupt-budget=${FERRY_INTERRUPT_BUDGET}`;

/** Where bin/ferry.js records the flags a client command set (test/cli/client-v8-flags.test.ts reads them). */
const CLIENT_FLAGS_KEY = Symbol.for('ferry.client.v8Flags');

/** Whether node's command line or NODE_OPTIONS names a budget. */
function budgetChosen() {
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return args.some((a) => /^--interrupt[-_]budget(=|$)/.test(a));
}

/**
 * Node's public built-in modules a client command loads after Node's module loader is up, other
 * than those Node loads by itself: the bundle's own imports, and the HTTP stack, worker threads
 * and timing of the commands that talk to a server (test/cli/client-v8-flags.test.ts keeps the
 * list whole for `put`, `get`, `ls` and `sync`). One missing still loads, only slower; one
 * loaded for nothing (`ferry --version`) costs ~1 ms from the cache.
 */
const CLIENT_BUILTINS = ['assert', 'child_process', 'crypto', 'dgram', 'diagnostics_channel', 'fs/promises', 'http', 'http2', 'module', 'net', 'os', 'perf_hooks', 'process', 'timers/promises', 'tls', 'worker_threads'];

/** For every command but `serve`: V8 optimizes only what stays hot (see above). */
function laterOptimization() {
  if (budgetChosen()) return;
  for (const name of CLIENT_BUILTINS) require(`node:${name}`);
  const flags = [BUDGET_FLAG];
  const { setFlagsFromString } = require('node:v8');
  for (const flag of flags) setFlagsFromString(flag);
  globalThis[CLIENT_FLAGS_KEY] = flags;
}

module.exports = { FERRY_INTERRUPT_BUDGET, BUDGET_FLAG, CLIENT_FLAGS_KEY, CLIENT_BUILTINS, budgetChosen, laterOptimization };
