/**
 * Checks of numeric option values, shared by the CLI's flags (`--parallel`, `--retries`, ...)
 * and the SDK's constructor options (`parallel`, `retry.retries`, ...), so that both refuse
 * the same values in the same words: FERRY_ERR_USAGE naming the option and what it allows.
 * Each returns the value when it is allowed.
 */
import { UsageError } from './errors.js';

/** Chunks in flight at once, at most (`--parallel`, the SDK's `parallel`). */
export const MAX_PARALLEL = 256;
/** Retries after the first attempt, at most (`--retries`, the SDK's `retry.retries`). */
export const MAX_RETRIES = 100;

/** Seconds an uploaded file may live, at most (`ferry put --ttl`, the SDK's `ttlSeconds`, the API's): ten years. */
export const MAX_TTL_SECONDS = 10 * 365 * 86_400;
/** Chunking threads, at most (the SDK's `chunkWorkers`; 0 chunks on the calling thread). */
export const MAX_CHUNK_WORKERS = 64;
/** Permission bits a file may record (the SDK's `mode`): the server keeps these and drops the type bits. */
export const MAX_MODE = 0o7777;

/** What an upload records and how it is chunked, as the SDK's put options give them. */
export interface UploadMetaOptions {
  ttlSeconds?: number;
  mtime?: number;
  mode?: number;
  chunkWorkers?: number;
}

/**
 * Refuses an upload's `ttlSeconds`, `mtime` (ms since the epoch), `mode` and `chunkWorkers`
 * that the server would refuse or the chunker could not use, before anything is read or sent:
 * `ttlSeconds: 0.5` was sent, `mtime: -1` or `NaN` failed only at the commit after every
 * chunk had travelled, and `chunkWorkers: 1e6` tried to start a million threads.
 */
export function checkUploadMeta(options: UploadMetaOptions): void {
  if (options.ttlSeconds !== undefined) intBetween('ttlSeconds', options.ttlSeconds, 1, MAX_TTL_SECONDS);
  if (options.mtime !== undefined) intBetween('mtime (ms since the epoch)', options.mtime, 0, Number.MAX_SAFE_INTEGER);
  if (options.mode !== undefined) intBetween('mode', options.mode, 0, MAX_MODE);
  if (options.chunkWorkers !== undefined) intBetween('chunkWorkers', options.chunkWorkers, 0, MAX_CHUNK_WORKERS);
}

/** `value` when it is an integer from `min` to `max`. */
export function intBetween(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new UsageError(`${name} must be an integer from ${min} to ${max}`);
  return value;
}

/** `value` when it is a finite number of `unit` of at least `min` (NaN and Infinity are not); `hint` ends the message. */
export function numberAtLeast(name: string, value: unknown, min: number, unit: string, hint = ''): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) throw new UsageError(`${name} must be a number of ${unit} of at least ${min}, not ${describe(value)}${hint && `; ${hint}`}`);
  return value;
}

function describe(value: unknown): string {
  return typeof value === 'number' || value === undefined || value === null ? String(value) : `${typeof value} ${JSON.stringify(value) ?? String(value)}`;
}
