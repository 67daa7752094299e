/**
 * Asking the person at the terminal: a line (user name) or a secret (password, never echoed).
 * When stdin is not a terminal (scripts, tests, `--password-stdin`), answers are read from
 * it one line each, in order, without any prompt.
 */
import { createRequire } from 'node:module';
import type { Interface, ReadLineOptions } from 'node:readline';
import { AbortedError, UsageError } from '../core/errors.js';

// node:readline (and the five modules it loads) only when a prompt or a stdin line is asked
// for: this module is in the CLI's entry, which every command (`ferry serve` too) loads.
const load = createRequire(import.meta.url);
const createInterface = (options: ReadLineOptions): Interface => (load('node:readline') as typeof import('node:readline')).createInterface(options);

let lines: { rl: Interface; queue: string[]; waiting: ((line: string | undefined) => void)[]; ended: boolean } | undefined;

/** The next line of a non-terminal stdin (undefined at its end). */
function nextStdinLine(): Promise<string | undefined> {
  if (!lines) {
    const rl = createInterface({ input: process.stdin, terminal: false });
    const state = { rl, queue: [] as string[], waiting: [] as ((line: string | undefined) => void)[], ended: false };
    rl.on('line', (line) => {
      const w = state.waiting.shift();
      if (w) w(line);
      else state.queue.push(line);
    });
    rl.on('close', () => {
      state.ended = true;
      for (const w of state.waiting.splice(0)) w(undefined);
    });
    lines = state;
  }
  const state = lines;
  if (state.queue.length > 0) return Promise.resolve(state.queue.shift());
  if (state.ended) return Promise.resolve(undefined);
  return new Promise((resolve) => state.waiting.push(resolve));
}

/** Stops reading stdin (so that the process can exit). */
export function closePrompts(): void {
  lines?.rl.close();
  lines = undefined;
}

/** The next line of stdin, whatever stdin is (`--password-stdin`, `--token -`); `hint`: what to do when there is none. */
export async function stdinLine(what: string, hint?: string): Promise<string> {
  return fromStdin(what, hint);
}

/** What to do when a question a terminal would have been asked finds stdin, which is none, at its end. */
const ASKED = "stdin is not a terminal, so each answer is read from a line of it; run this at a terminal, or give the answers as lines (printf '%s\\n' \"$ANSWER\" | ferry …)";

/** `hint`: what to do when stdin has no line left. */
async function fromStdin(what: string, hint?: string): Promise<string> {
  const line = await nextStdinLine();
  if (line === undefined) throw new UsageError(`no ${what} on stdin${hint ? `: ${hint}` : ''}`);
  return line.replace(/\r$/, '');
}

/** Asks for a line, echoed. */
export async function promptLine(question: string): Promise<string> {
  if (!process.stdin.isTTY) return fromStdin(question.replace(/:\s*$/, '').toLowerCase(), ASKED);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
  }
}

/** Asks for a secret: the terminal shows nothing while it is typed. */
export async function promptSecret(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return fromStdin(question.replace(/:\s*$/, '').toLowerCase(), ASKED);
  // Echo off before the question shows: what is typed (or pasted) the moment it appears
  // must not reach the screen (the other order lost that race on a loaded machine).
  stdin.setRawMode(true);
  process.stderr.write(question);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise<string>((resolve, reject) => {
    let value = '';
    const done = (err?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new AbortedError('interrupted'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** Asks for a new password twice on a terminal (once from stdin). */
export async function promptNewPassword(question = 'New password: '): Promise<string> {
  const first = await promptSecret(question);
  if (process.stdin.isTTY) {
    const again = await promptSecret('Again: ');
    if (again !== first) throw new UsageError('the two passwords differ');
  }
  return first;
}
