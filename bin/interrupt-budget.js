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
// Every `ferry` command but `serve` sets it before the bundle loads (bin/ferry.js); `ferry
// serve` sets it once ready, with TurboFan back on (./serve-start.js). A budget named on
// node's command line is left alone. Setting a V8 flag makes Node refuse its code cache for
// built-in modules compiled after it (./serve-start.js); measured, `ferry --version` and a
// no-change sync cost the same CPU with and without it.

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

/** For every command but `serve`: V8 optimizes only what stays hot (see above). */
function laterOptimization() {
  if (budgetChosen()) return;
  const flags = [BUDGET_FLAG];
  const { setFlagsFromString } = require('node:v8');
  for (const flag of flags) setFlagsFromString(flag);
  globalThis[CLIENT_FLAGS_KEY] = flags;
}

module.exports = { FERRY_INTERRUPT_BUDGET, BUDGET_FLAG, CLIENT_FLAGS_KEY, budgetChosen, laterOptimization };
