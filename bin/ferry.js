#!/usr/bin/env node
// The `ferry` command. The compiled CLI lives in dist/ (built by `npm install` / `npm run build`).
//
// This file is CommonJS (bin/package.json says so) for one reason: libuv's thread pool, which
// runs file system calls and fsync, is sized once, when first used, from UV_THREADPOOL_SIZE.
// Node's ES module loader reads an ES module entry file through that pool, so an ES module
// entry would start it with the default 4 threads before its first line ran; the CommonJS
// loader reads this file synchronously, so the variable set here is the one the pool sees.
// 16 threads, not 4: measured on the 2-core bench machine (1 GiB `ferry put` into a fresh
// server, 4 and 16 alternating, 3 sets): wall medians 4.8 against 6.0 s, 3.7 against 3.7 s,
// 3.4 against 5.0 s, the server's CPU and the idle and peak RSS the same within the noise.
// The likely reason: with 4, a publication's fsyncs hold every thread of the pool and the
// next chunks' opens and writes wait behind them (see benchmarks/results/issue-15-speed.md).
process.env.UV_THREADPOOL_SIZE ??= '16';

// `ferry serve` starts with TurboFan and Sparkplug off (./serve-start.js says why); every other
// command has V8 optimize only the functions that stay hot from the start (./interrupt-budget.js),
// set below once the import of the bundle has begun. The command is the first argument but
// --debug, as src/cli/main.ts reads it.
const serve = process.argv.slice(2).find((a) => a !== '--debug') === 'serve';
if (serve) require('./serve-start.js').compilersOffForStart();

const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { pathToFileURL } = require('node:url');

// dist/bundle is the compiled CLI bundled by scripts/bundle.mjs (faster start, less memory);
// dist/src is the same code unbundled, used when the bundle was not built.
const bundled = join(__dirname, '../dist/bundle/ferry.js');
const entry = existsSync(bundled) ? bundled : join(__dirname, '../dist/src/cli/main.js');

// A command whose promise never settles while nothing is left to wait for would let Node
// exit with status 0, as if it had succeeded: that is a bug, and says so (exit 70).
let settled = false;
process.once('beforeExit', () => {
  if (settled) return;
  console.error('ferry: internal error: the command stopped with nothing left to wait for and did not finish (a bug; please report it)');
  process.exitCode = 70;
});

// A client command runs the CLI compiled from the code cache the build wrote when that cache fits
// this process (./client-code-cache.js says why and when), after the flag it was made with.
// Otherwise the ES module bundle's import() starts first: it loads Node's ES module loader now
// (synchronously), from Node's code cache; the bundle is read and compiled later, after the
// flag (./interrupt-budget.js says why).
const codeCache = serve ? undefined : require('./client-code-cache.js');
const clientCache = codeCache !== undefined && existsSync(bundled) && !codeCache.nodeOptionsGiven() ? codeCache.readClientCache(dirname(bundled)) : undefined;
if (clientCache !== undefined) require('./interrupt-budget.js').laterOptimization();
let loading;
try {
  const cached = clientCache !== undefined ? codeCache.runCachedClient(dirname(bundled), clientCache) : undefined;
  loading = cached !== undefined ? Promise.resolve(cached) : import(pathToFileURL(entry).href);
} catch (err) {
  loading = Promise.reject(err); // the client's top level threw: reported below, as an import's error is
}
if (!serve && clientCache === undefined) require('./interrupt-budget.js').laterOptimization();
loading
  .then(({ main }) => main(process.argv))
  .then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (err) => {
      settled = true;
      console.error(`ferry: ${err?.stack ?? err}`);
      process.exitCode = 70;
    },
  );
