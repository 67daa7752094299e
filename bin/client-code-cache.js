// Every `ferry` command but `serve` runs from one CommonJS file of the whole CLI,
// dist/bundle/ferry-client.cjs, compiled with a V8 code cache written by the build
// (scripts/bundle.mjs runs this file): Node 20 has no code cache for ES modules, so the ES module
// bundle (dist/bundle/ferry.js and its chunks) is read, resolved and compiled file by file at
// every start (60 files for a small `ferry put`, ~50 ms of its CPU), and V8 parses each function
// again when first called. With the cache, V8 takes the compiled top level and the functions'
// outlines from it and parses nothing of the 3.6 MB up front.
// Measured (CPU of the process, chrt, 12 runs each alternating, load 15-20, branch speed14):
// a 1 KiB `ferry put` 178 -> 143 ms, `ferry ls /` 171 -> 130 ms, `ferry --version` the same
// (~98 ms). The same file without a cache costs more than the ES module bundle (put 199,
// --version 152 ms: V8 pre-parses all of it), so the file is used only with a cache that fits.
//
// The ES module bundle runs instead, as before, when:
// - node was started with options (`node --import x bin/ferry.js`, --enable-source-maps): a
//   preload or loader hook then sees the bundle's modules as it did, and source maps apply
//   (they map the files of Node's loaders, not a vm.Script);
// - the cache does not fit this process: V8 takes a cache only from the same V8 version and
//   the same V8 flags (its header says which; compared with a cache of an empty script made
//   here: the version before bin/interrupt-budget.js sets the client's flag, so that the ES
//   module bundle then starts as it always did, the flags after, as the build made it), or
//   the files are not the ones the build wrote together (CRC-32 of each, ferry-client.json).
//   V8 checks no checksum of the cache's body itself: a damaged cache must never reach it.
// `ferry serve` never uses it (bin/serve-start.js has its own start).

'use strict';

const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
const vm = require('node:vm');
const { crc32 } = require('node:zlib');
const Module = require('node:module');

const SCRIPT = 'ferry-client.cjs';
const CACHE = 'ferry-client.v8cache';
const META = 'ferry-client.json';

/** Where this file records what happened to the cache (test/cli/client-code-cache.test.ts reads it). */
const CODE_CACHE_KEY = Symbol.for('ferry.client.codeCache');

/**
 * V8's code cache header (uint32 words, little-endian, V8 11.3): at 0 a magic number and at 4
 * the V8 version, which a process's V8 flags do not change; at 12 the V8 flags; at 8 the
 * source's length (V8 checks it), 16 the payload's, 20 a checksum V8 leaves at 0.
 */
const HEADER_BYTES = 24;
const SAME_NODE_WORDS = [0, 4];
const SAME_FLAGS_WORDS = [12];

/** Whether `cache`'s header has this process's values at `words` (V8 would otherwise reject it, after a full parse). */
function headerFits(cache, words) {
  const probe = new vm.Script('0').createCachedData();
  return cache.length >= HEADER_BYTES && probe.length >= HEADER_BYTES && words.every((at) => cache.readUInt32LE(at) === probe.readUInt32LE(at));
}

/** The client's script as Node's CommonJS loader would wrap it; `cachedData` undefined to make one. */
function compile(file, text, cachedData) {
  return new vm.Script(Module.wrap(text), { filename: file, cachedData });
}

function runAsModule(script, file) {
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, Module.createRequire(file), module, file, dirname(file));
  return module.exports;
}

/** Whether node was started with options of its own (its command line; NODE_OPTIONS is checked through the cache's flags). */
const nodeOptionsGiven = () => process.execArgv.length > 0 || process.sourceMapsEnabled === true;

const says = (state) => {
  globalThis[CODE_CACHE_KEY] = state;
};

/**
 * The build's cache in `dir` when it was made by this node's V8 and is whole, else undefined
 * (the ES module bundle runs; the reason is recorded under CODE_CACHE_KEY). Called before the
 * client's V8 flags are set: when it says no, bin/ferry.js starts the ES module bundle's
 * import() first, as it always did (./interrupt-budget.js says why). Only when
 * nodeOptionsGiven() is false.
 */
function readClientCache(dir) {
  try {
    const meta = JSON.parse(readFileSync(join(dir, META), 'utf8'));
    const cache = readFileSync(join(dir, CACHE));
    if (!headerFits(cache, SAME_NODE_WORDS)) return says('another node'), undefined;
    if (crc32(cache) !== meta.cacheCrc32) return says('damaged'), undefined;
    return { meta, cache };
  } catch {
    return says('absent'), undefined;
  }
}

/**
 * The CLI's exports (`main`) from the cached CommonJS client in `dir`, or undefined when the
 * cache was made with other V8 flags or the script is not the one it was made from. Called
 * after the client's V8 flags are set, with what readClientCache returned.
 */
function runCachedClient(dir, { meta, cache }) {
  if (!headerFits(cache, SAME_FLAGS_WORDS)) return says('other flags'), undefined;
  const file = join(dir, SCRIPT);
  let bytes;
  try {
    bytes = readFileSync(file);
  } catch {
    return says('absent'), undefined;
  }
  if (crc32(bytes) !== meta.scriptCrc32) return says('damaged'), undefined;
  // The build wrote the script in ASCII (scripts/bundle.mjs escapes the rest): latin1 is the same text, decoded faster.
  const script = compile(file, bytes.toString('latin1'), cache);
  // Rejected all the same (a V8 check the header does not show): it runs, compiled from source.
  says(script.cachedDataRejected ? 'rejected' : 'used');
  return runAsModule(script, file);
}

/** Writes the cache of `dir`'s client script and ferry-client.json, each by a rename (the build: `node bin/client-code-cache.js DIR`). */
function writeClientCache(dir) {
  const file = join(dir, SCRIPT);
  const bytes = readFileSync(file);
  const cache = compile(file, bytes.toString('latin1')).createCachedData();
  const meta = { node: process.version, v8: process.versions.v8, scriptCrc32: crc32(bytes), cacheCrc32: crc32(cache) };
  for (const [name, data] of [[CACHE, cache], [META, JSON.stringify(meta) + '\n']]) {
    writeFileSync(join(dir, `${name}.tmp`), data);
    renameSync(join(dir, `${name}.tmp`), join(dir, name));
  }
  return cache.length;
}

if (require.main === module) {
  // The client's flags first, as bin/ferry.js sets them before it loads the client.
  require('./interrupt-budget.js').laterOptimization();
  const bytes = writeClientCache(process.argv[2]);
  console.log(`client code cache: ${(bytes / 1024).toFixed(0)} KiB for Node ${process.version}`);
}

module.exports = { SCRIPT, CACHE, META, CODE_CACHE_KEY, nodeOptionsGiven, readClientCache, runCachedClient, writeClientCache };
