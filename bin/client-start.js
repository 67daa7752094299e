// Every `ferry` command but `serve` is a short run, and V8's optimizing compiler (TurboFan)
// cost such a run more than it gave back: it optimizes a JavaScript function once the
// function has spent a budget of work (`--interrupt-budget`, 66 KiB of bytecode "ticks" on
// Node 20), and a first `ferry sync` of 10,000 small files made ~170 functions hot that way,
// most of them run a few thousand times and then never again: 22% of the client's CPU
// samples (perf) were TurboFan compiling on a background thread, on a 2-core machine where
// the server needs that core. With eight times the budget only the functions that stay hot
// are optimized (the per-chunk and per-byte loops still are, within their first
// milliseconds; SHA-256, zstd and the FastCDC kernel are native or WebAssembly, which this
// flag does not govern): the client's user CPU for that sync fell by ~0.15 s (17%), a no-change
// sync's and a 1 GiB put's and get's did not rise (benchmarks/results/issue-15-speed.md,
// branch speedsmall). A long-running server keeps V8's default: it optimizes once and runs
// that code for hours (./serve-start.js). Left alone when node's command line or
// NODE_OPTIONS names a budget.
//
// Setting a V8 flag makes Node refuse its code cache for built-in modules compiled after it
// (./serve-start.js); measured here, `ferry --version` and a no-change sync cost the same
// CPU with and without the flag.

/** Eight times V8's default (67,584 on Node 20, V8 11.3). */
const CLIENT_INTERRUPT_BUDGET = 8 * 67_584;

/** Where bin/ferry.js records the flags it set (test/cli/client-startup.test.ts reads them). */
const CLIENT_FLAGS_KEY = Symbol.for('ferry.client.v8Flags');

function budgetChosen() {
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return args.some((a) => /^--interrupt[-_]budget(=|$)/.test(a));
}

/** For every command but `serve`: V8 optimizes only what stays hot (see above). */
function laterOptimization() {
  if (budgetChosen()) return;
  const flags = [`--interrupt-budget=${CLIENT_INTERRUPT_BUDGET}`];
  const { setFlagsFromString } = require('node:v8');
  for (const flag of flags) setFlagsFromString(flag);
  globalThis[CLIENT_FLAGS_KEY] = flags;
}

module.exports = { CLIENT_INTERRUPT_BUDGET, CLIENT_FLAGS_KEY, laterOptimization };
