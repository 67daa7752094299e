/**
 * undici parses HTTP with llhttp, a WebAssembly module whose parser is one 33 KB function.
 * V8 compiles a WebAssembly function again with its optimizing compiler (TurboFan) once it
 * has run "enough", by a budget each instance gets when it is created
 * (`--wasm-tiering-budget`, 1,800,000 on Node 20), spent at every loop turn by the size of
 * the loop's body: llhttp's whole state machine. So its first response already spends it,
 * and optimizing the parser costs about 80 ms of CPU on a background thread (207 ms in a
 * 0.5 s upload of 32 MiB, 550 ms with the chunk workers busy), which the process also waits
 * for before it exits: a third of a `ferry ls` (measured with `--trace-wasm-compilation-times`).
 *
 * So the instance undici creates (once per process, when the first connection is handed to
 * it, synchronously in the connector's callback) gets about a thousand times the budget: a
 * command's few hundred responses never optimize the parser (uploads of 32 and 256 MiB did
 * not; a 256 MiB download did, once). The budget is restored at once, so that every other
 * WebAssembly instance keeps V8's default: the FastCDC kernel needs its optimized loop within
 * its first megabytes (twice as slow without it). Left alone when the process was started
 * with its own budget.
 *
 * Only for short runs: the `ferry` command turns it on (`raiseParserBudget`). A program that
 * uses the SDK for hours keeps V8's default, so its parser is optimized as usual.
 */
import type { buildConnector } from 'undici';
import { setFlagsFromString } from 'node:v8';

/** V8's default (Node 20, V8 11.3). */
const DEFAULT_BUDGET = 1_800_000;
const PARSER_BUDGET = 2_000_000_000;

let enabled = false;
let parserCreated = false;
const userBudget = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('--wasm-tiering-budget'));

/** Raise the parser's budget in this process (the CLI's short runs; see above). */
export function raiseParserBudget(): void {
  enabled = true;
}

/** `connect` with the parser's budget raised while the first connection is handed to undici, when the process asked for it. */
export function withParserBudget(connect: buildConnector.connector): buildConnector.connector {
  if (userBudget || !enabled) return connect;
  return (options, callback) =>
    connect(options, (err, socket) => {
      if (err || socket === null) {
        callback(err ?? new Error('no socket'), null);
        return;
      }
      if (parserCreated) {
        callback(null, socket);
        return;
      }
      parserCreated = true;
      setFlagsFromString(`--wasm-tiering-budget=${PARSER_BUDGET}`);
      try {
        callback(null, socket);
      } finally {
        setFlagsFromString(`--wasm-tiering-budget=${DEFAULT_BUDGET}`);
      }
    });
}
