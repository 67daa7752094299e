/**
 * The server's log for a person at a terminal (`logFormat`): each pino JSON line rewritten as
 * one short line, `12:03:04 INFO  PUT /api/v1/files/a.txt 201 3.20 MiB 41 ms alice` for the
 * access log and `12:03:04 WARN  message key=value ...` for the rest.
 *
 * A pino destination in this thread, not pino-pretty: pino's transports run in a worker
 * thread, which `ferry serve`'s start would pay for (README, Benchmarks: start time), and the
 * few dozen lines here need nothing of pino-pretty's options.
 *
 * It shows only what the JSON line holds: the logs name no secret (the access log has the
 * route and path, never the query string or a header, and the token's id, never the token),
 * and this adds none. Every string is shown with its control characters escaped, as JSON
 * has them: a file name holding a terminal's escape sequence is not played on the terminal.
 * So are Unicode's direction controls (U+202A-U+202E, U+2066-U+2069), which a terminal that
 * lays out bidirectional text obeys: a user name ending in U+202E, tried in a sign-in by
 * anyone, turned the rest of its audit line around (`failed ip=…` read backwards, and text
 * of the attacker's choosing read as the line's end); the CLI writes them out as well
 * (../core/control-chars.ts).
 */
import { formatSize } from '../core/units.js';

/** `auto`: `pretty` when the destination is a terminal, `json` otherwise. */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** What pino writes its lines to. */
export interface LogSink {
  write(line: string): unknown;
}

/**
 * The destination for a log in `format`: `dest` itself for JSON, else a sink that rewrites
 * each line before writing it to `dest`. Colours only when `dest` is a terminal and `NO_COLOR`
 * is unset or empty (no-color.org).
 */
export function logSinkFor(dest: NodeJS.WritableStream, format: LogFormat, env: NodeJS.ProcessEnv = process.env): NodeJS.WritableStream | LogSink {
  const tty = (dest as { isTTY?: boolean }).isTTY === true;
  if (format === 'json' || (format === 'auto' && !tty)) return { write: (text: string) => dest.write(oneLineJson(text)) };
  const colour = tty && !env.NO_COLOR;
  return { write: (text: string) => dest.write(prettyLines(text, colour)) };
}

/**
 * What ends a line to some readers but not to JSON: NEL (U+0085), LINE SEPARATOR and
 * PARAGRAPH SEPARATOR, which JSON.stringify (and pino) leave raw in strings. Python's
 * `splitlines()`, a regular expression's `^`/`$` with the `m` flag and a browser showing the log
 * break a line at them, so a name chosen by anyone (a user name tried at sign-in, a path)
 * started a line of its own text there. `\n` and the other C0 controls are escaped already.
 */
const LINE_BREAKS = /[\u0085\u2028\u2029]/g;

/** Pino's JSON lines with {@link LINE_BREAKS} escaped: the same JSON, each line one line to any reader. */
export function oneLineJson(text: string): string {
  // They can only be inside JSON strings, where `\uXXXX` means the same character.
  return text.replace(LINE_BREAKS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Each JSON line of `text` as its short line; a line that is not a JSON object is kept as it came. */
export function prettyLines(text: string, colour: boolean): string {
  let out = '';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      entry = undefined;
    }
    out += (entry && typeof entry === 'object' && !Array.isArray(entry) ? prettyLine(entry as LogEntry, colour ? COLOURS : PLAIN) : line) + '\n';
  }
  return out;
}

type LogEntry = Record<string, unknown>;

interface Paint {
  dim(s: string): string;
  level(level: number, label: string): string;
  status(status: number, s: string): string;
}

const sgr = (code: string) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
const PLAIN: Paint = { dim: (s) => s, level: (_, s) => s, status: (_, s) => s };
const COLOURS: Paint = {
  dim: sgr('2'),
  level: (level, s) => (level >= 50 ? sgr('31;1') : level >= 40 ? sgr('33') : level >= 30 ? sgr('32') : sgr('2'))(s),
  status: (status, s) => (status >= 500 ? sgr('31') : status >= 400 ? sgr('33') : status >= 300 ? sgr('36') : sgr('32'))(s),
};

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** pino's own fields, and the request id every line of a request carries (the access line shows none to match it with). */
const NOT_SHOWN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v', 'reqId']);

function prettyLine(entry: LogEntry, paint: Paint): string {
  const level = typeof entry.level === 'number' ? entry.level : 30;
  const head = `${paint.dim(clock(entry.time))} ${paint.level(level, (LEVELS[level] ?? String(level)).padEnd(5))}`;
  if (entry.msg === 'request' && typeof entry.method === 'string' && typeof entry.status === 'number') return `${head} ${accessLine(entry, paint)}`;
  const parts = typeof entry.msg === 'string' ? [shown(entry.msg)] : [];
  let stack = '';
  for (const [key, value] of Object.entries(entry)) {
    if (NOT_SHOWN.has(key) || value === undefined) continue;
    if (key === 'err' && value && typeof value === 'object') {
      const err = value as { type?: unknown; message?: unknown; stack?: unknown; code?: unknown };
      parts.push(`${paint.dim('err=')}${quoted(`${typeof err.type === 'string' ? `${err.type}: ` : ''}${String(err.message ?? '')}`)}`);
      if (typeof err.code === 'string') parts.push(`${paint.dim('code=')}${quoted(err.code)}`);
      // Where it failed, for a failure of the server (refusals of a client are logged below error level).
      if (level >= 50 && typeof err.stack === 'string') stack = err.stack.split('\n').slice(1).map((l) => `\n    ${shown(l.trim())}`).join('');
      continue;
    }
    if (key === 'audit' && value && typeof value === 'object') {
      parts.push(...auditParts(value as LogEntry, paint));
      continue;
    }
    parts.push(pair(key, value, paint));
  }
  return `${head} ${parts.join(' ')}${stack}`;
}

function pair(key: string, value: unknown, paint: Paint): string {
  return `${paint.dim(`${shown(key)}=`)}${typeof value === 'string' ? quoted(value) : shown(JSON.stringify(listed(value)))}`;
}

/** Lists longer than this show their first and last items and their length (the JSON log keeps them whole). */
const LIST_SHOWN = 4;

/** A long array cut to its ends: a first start's 22 migrations took a terminal line of 500 characters. */
function listed(value: unknown): unknown {
  if (!Array.isArray(value) || value.length <= LIST_SHOWN) return value;
  return [value[0], `… ${value.length - 2} more …`, value.at(-1)];
}

/**
 * An audit entry (its event is in the message): its target and user, `failed` and the
 * address for a refusal, then its details. Its ids, time, path and front are left to the
 * JSON log and `ferry admin audit`: the access line of its request says the rest.
 */
function auditParts(audit: LogEntry, paint: Paint): string[] {
  const parts: string[] = [];
  if (typeof audit.target === 'string') parts.push(quoted(audit.target));
  if (typeof audit.userName === 'string') parts.push(quoted(audit.userName));
  if (audit.ok === false) parts.push(paint.status(400, 'failed'), ...(typeof audit.ip === 'string' ? [pair('ip', audit.ip, paint)] : []));
  if (audit.details && typeof audit.details === 'object') for (const [k, v] of Object.entries(audit.details)) if (v !== undefined) parts.push(pair(k, v, paint));
  return parts;
}

/** `PUT /api/v1/files/a.txt 201 3.20 MiB 41 ms alice`: the route with the path in its `*`, the larger of the bytes in and out. */
function accessLine(entry: LogEntry, paint: Paint): string {
  const route = typeof entry.route === 'string' ? entry.route : 'unknown';
  const path = typeof entry.path === 'string' ? entry.path : undefined;
  const target = path === undefined ? route : route.includes('*') ? route.replace('*', path.replace(/^\//, '')) : `${route} ${path}`;
  const status = entry.status as number;
  const bytes = Math.max(Number(entry.bytesIn) || 0, Number(entry.bytesOut) || 0);
  const parts = [shown(entry.method as string), shown(target), paint.status(status, String(status))];
  if (bytes > 0) parts.push(formatSize(bytes));
  if (typeof entry.ms === 'number') parts.push(`${entry.ms} ms`);
  if (typeof entry.user === 'string') parts.push(shown(entry.user));
  if (entry.cut === true) parts.push(paint.status(499, 'cut short'));
  return parts.join(' ');
}

/** HH:MM:SS of an epoch time in milliseconds (pino's `time`), in local time. */
function clock(time: unknown): string {
  const d = typeof time === 'number' ? new Date(time) : new Date();
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** What a terminal would act on: C0, DEL, C1, direction embeddings, overrides and isolates; and the line and paragraph separators (LINE_BREAKS). */
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** A string with its control characters escaped (see {@link CONTROLS}). */
function shown(s: string): string {
  return s.replace(CONTROLS, (c) => {
    const json = JSON.stringify(c); // JSON escapes C0 (\n, \u001b), not DEL, C1 or direction controls
    return json.length > 3 ? json.slice(1, -1) : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** A value as it reads best: bare when it is one word, in JSON quotes otherwise. */
function quoted(s: string): string {
  return /^[^\s"=\\\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+$/.test(s) ? s : shown(JSON.stringify(s));
}
