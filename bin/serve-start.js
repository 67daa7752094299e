// `ferry serve` starts with V8's compilers beyond its interpreter off: TurboFan (`--opt`) and
// Sparkplug (`--sparkplug`) are turned back on once the server is ready (src/cli/commands/serve.ts
// sets the flags this file leaves in AFTER_READY_KEY). Only bin/ferry.js can do this: the
// functions that get hot during a start are Node's own ES module loader's (resolving the ~200
// imports of the bundle's ~50 files: getPathFromURLPosix, normalizeString, URL internals) and
// Kysely's query compiler, so the flags must be set before the bundle is imported.
//
// Why: the first function TurboFan optimises pages ~3.5 MB of its compiler's code (in the node
// binary) into the process, and a start optimised ~10 functions; Sparkplug's code for the
// start's functions, though dropped by the settle collection after the ready line, left ~0.5 MB
// behind. An idle server, measured as the bench does (RSS 1 s after a restart's ready line), 8
// alternating pairs: 61.2 -> 56.7 MiB; the start's CPU time 190 -> 180 ms
// (benchmarks/results/issue-15-speed.md, branch idle3). The first traffic after the start
// optimises what it makes hot, as before, and a server that has served requests holds that code.
//
// Changing any V8 flag makes Node refuse its code cache for the built-in modules compiled while
// the flags differ from the defaults (19 built-ins: 21 ms of CPU instead of 7), so the built-ins
// a start loads are loaded first, before the flags change (also 0.4 MiB less idle RSS than
// compiling them without the cache); once ready, the flags are back as they would have been
// without this. A built-in missing from the list still loads, only slower.

/** Node's public built-in modules `ferry serve` loads before its ready line (test/cli/server-start.test.ts keeps the list whole). */
const SERVE_BUILTINS = ['assert', 'child_process', 'cluster', 'crypto', 'dgram', 'diagnostics_channel', 'dns', 'fs/promises', 'http', 'module', 'net', 'os', 'perf_hooks', 'process', 'stream', 'stream/promises', 'string_decoder', 'timers/promises', 'v8', 'worker_threads', 'zlib'];

const OFF = ['--no-opt', '--no-sparkplug'];
const AFTER_READY = ['--opt', '--sparkplug'];

/** Where bin/ferry.js leaves the flags for src/cli/commands/serve.ts to set once ready. */
const AFTER_READY_KEY = Symbol.for('ferry.serve.v8FlagsAfterReady');

/**
 * Node's own flags that decide the compilers (`node --jitless bin/ferry.js serve`, NODE_OPTIONS):
 * when any is given, the start leaves V8's flags alone (turning TurboFan back on under
 * --jitless would crash V8).
 */
const CHOSEN = /^--(no-opt|opt|no-turbofan|turbofan|no-sparkplug|sparkplug|jitless|lite-mode|max-lazy|always-sparkplug)(=|$)/;

function compilersChosen() {
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return args.some((a) => CHOSEN.test(a.replace(/_/g, '-')));
}

/**
 * For `ferry serve`: loads SERVE_BUILTINS, then turns TurboFan and Sparkplug off until the
 * serve command turns them back on, with V8's interrupt budget raised unless node's command
 * line named one (./interrupt-budget.js says why).
 */
function compilersOffForStart() {
  if (compilersChosen()) return;
  for (const name of SERVE_BUILTINS) require(`node:${name}`);
  const { setFlagsFromString } = require('node:v8');
  for (const flag of OFF) setFlagsFromString(flag);
  const budget = require('./interrupt-budget.js');
  globalThis[AFTER_READY_KEY] = budget.budgetChosen() ? AFTER_READY : [...AFTER_READY, budget.BUDGET_FLAG];
}

module.exports = { SERVE_BUILTINS, AFTER_READY_KEY, compilersOffForStart };
