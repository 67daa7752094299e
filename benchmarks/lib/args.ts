/** Command-line options of the benchmarks: `--name value` pairs, flags, sizes with units. */
import { readFileSync } from 'node:fs';

const UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };

/** `1GiB`, `64KiB`, `4MiB`, `1.5GB`, `123` (bytes). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? 'B').toLowerCase()]);
}

/** The first doc comment of a script (its usage), without the comment's markup. */
export function usageOf(source: string): string {
  const m = /\/\*\*([\s\S]*?)\*\//.exec(source);
  if (!m) return '';
  return m[1].split('\n').map((line) => line.replace(/^\s*\* ?/, '')).join('\n').trim() + '\n';
}

/**
 * A script's command line: `--name value` pairs, `--flags` and positional arguments. Anything
 * it cannot use (an unknown option, a value that is not a number or a size, an option without
 * its value) ends the script with exit code 2 and a line that says what, before anything runs:
 * `sdk-import.js --help` read `--help` as its number of runs and printed NaN figures.
 */
export class Args {
  /**
   * `--help` or `-h` prints the script's usage (its header comment) and exits 0, before the
   * script runs anything: a benchmark started by a question can take 20 minutes.
   */
  constructor(private readonly argv: string[] = process.argv.slice(2)) {
    this.helpIfAsked();
  }

  private helpIfAsked(): void {
    if (!this.argv.includes('--help') && !this.argv.includes('-h')) return;
    process.stdout.write(this.usage() || 'Options are --name value pairs and --flags; see the script\'s source.\n');
    process.exit(0);
  }

  private usage(): string {
    try {
      return usageOf(readFileSync(process.argv[1], 'utf8'));
    } catch {
      return ''; // a script read from elsewhere: only the general rule
    }
  }

  /** Ends the script: exit code 2, `message` and where to read the usage. */
  refuse(message: string): never {
    process.stderr.write(`${message} (--help: the usage)\n`);
    process.exit(2);
  }

  /**
   * Refuses an option not in `known` (a misspelt one would otherwise be ignored and the
   * default run), and more than `positional` positional arguments.
   */
  only(known: readonly string[], positional = 0): this {
    for (const a of this.argv) {
      if (a.startsWith('--') && !known.includes(a.slice(2))) {
        this.refuse(`unknown option ${a}; known: ${known.length > 0 ? known.map((k) => '--' + k).join(' ') : 'none'}`);
      }
    }
    const extra = this.positionals().slice(positional);
    if (extra.length > 0) this.refuse(`unexpected argument ${JSON.stringify(extra[0])}`);
    return this;
  }

  /** Arguments that are neither options nor an option's value (an option's value is the argument after it, unless that is an option). */
  positionals(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.argv.length; i++) {
      const a = this.argv[i];
      if (a.startsWith('--') || a === '-h') {
        if (i + 1 < this.argv.length && !this.argv[i + 1].startsWith('--')) i++;
        continue;
      }
      out.push(a);
    }
    return out;
  }

  /** Positional argument `index` as a positive integer (`what` names it in the refusal), or `fallback` when absent. */
  countAt(index: number, what: string, fallback: number): number {
    const text = this.positionals()[index];
    return text === undefined ? fallback : this.count(text, what);
  }

  /** `text` as a positive integer (`what` names it in the refusal). */
  count(text: string, what: string): number {
    const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) this.refuse(`${what} must be a whole number of at least 1, not ${JSON.stringify(text)}`);
    return n;
  }

  string(name: string, fallback: string): string {
    const i = this.argv.indexOf(`--${name}`);
    if (i < 0) return fallback;
    if (i + 1 >= this.argv.length || this.argv[i + 1].startsWith('--')) this.refuse(`--${name} needs a value`);
    return this.argv[i + 1];
  }

  /** A count (runs, files, clients, parallel requests): a whole number of at least 1. */
  number(name: string, fallback: number): number {
    return this.argv.includes(`--${name}`) ? this.count(this.string(name, ''), `--${name}`) : fallback;
  }

  size(name: string, fallback: string): number {
    const text = this.string(name, fallback);
    try {
      return parseSize(text);
    } catch {
      return this.refuse(`--${name} must be a size (1GiB, 64KiB, 123), not ${JSON.stringify(text)}`);
    }
  }

  /** Comma-separated list; undefined when the option is absent. */
  list(name: string): string[] | undefined {
    if (!this.argv.includes(`--${name}`)) return undefined;
    return this.string(name, '').split(',').map((s) => s.trim()).filter(Boolean);
  }

  flag(name: string): boolean {
    return this.argv.includes(`--${name}`);
  }
}

export const MiB = 1024 * 1024;
