/**
 * V8 doubles the young generation (up to 16 MB per semi-space) after each scavenge in which
 * much survived, and shrinks it only after some idle time. Loading a program is such a time
 * (modules, the server's route tables and prepared statements: long-lived objects, all born
 * young), so every server start left 8 MB of empty young generation resident. Its growth is
 * held while the CLI and the server load, and given back when a command's action starts
 * (`ferry serve`: once the server listens). Under load it then grows as before: transfers
 * depend on it. Left alone when the user sets the flag (NODE_OPTIONS or node's arguments).
 * bin/ferry.js holds it already, before the bundle loads.
 */
import { setFlagsFromString } from 'node:v8';

const userSet = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => /semi[-_]space[-_]growth/.test(a));
let held = false;

export function holdYoungGeneration(): void {
  if (userSet || held) return;
  setFlagsFromString('--semi-space-growth-factor=1');
  held = true;
}

/** V8's default growth again (factor 2). */
export function releaseYoungGeneration(): void {
  if (!held) return;
  setFlagsFromString('--semi-space-growth-factor=2');
  held = false;
}
