#!/usr/bin/env node
// The `ferry` command. The compiled CLI lives in dist/ (built by `npm install` / `npm run build`).

// libuv's thread pool runs file system calls (and fsync); its default of 4 threads caps a
// server storing many small chunks, or a client writing many small files. It is sized
// when first used, so this must run before any import does I/O.
process.env.UV_THREADPOOL_SIZE ??= '16';

// dist/bundle is the compiled CLI bundled by scripts/bundle.mjs (faster start, less memory);
// dist/src is the same code unbundled, used when the bundle was not built.
import { existsSync } from 'node:fs';

const bundled = new URL('../dist/bundle/ferry.js', import.meta.url);
const { main } = await import(existsSync(bundled) ? bundled.href : '../dist/src/cli/main.js');

// A command whose promise never settles while nothing is left to wait for would let Node
// exit with status 0, as if it had succeeded: that is a bug, and says so (exit 70).
let settled = false;
process.once('beforeExit', () => {
  if (settled) return;
  console.error('ferry: internal error: the command stopped with nothing left to wait for and did not finish (a bug; please report it)');
  process.exitCode = 70;
});

main(process.argv).then(
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
