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
    let usage = '';
    try {
      usage = usageOf(readFileSync(process.argv[1], 'utf8'));
    } catch {
      // a script read from elsewhere: only the general rule below
    }
    process.stdout.write(usage || 'Options are --name value pairs and --flags; see the script\'s source.\n');
    process.exit(0);
  }

  /** Refuses an option not in `known` (a misspelt one would otherwise be ignored and the default run). */
  only(known: readonly string[]): this {
    for (const a of this.argv) {
      if (a.startsWith('--') && !known.includes(a.slice(2))) {
        process.stderr.write(`unknown option ${a}; known: ${known.map((k) => '--' + k).join(' ')} (--help: the usage)\n`);
        process.exit(2);
      }
    }
    return this;
  }

  string(name: string, fallback: string): string {
    const i = this.argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < this.argv.length ? this.argv[i + 1] : fallback;
  }

  number(name: string, fallback: number): number {
    const v = Number(this.string(name, String(fallback)));
    if (!Number.isFinite(v)) throw new Error(`--${name} must be a number`);
    return v;
  }

  size(name: string, fallback: string): number {
    return parseSize(this.string(name, fallback));
  }

  /** Comma-separated list; undefined when the option is absent. */
  list(name: string): string[] | undefined {
    const i = this.argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < this.argv.length ? this.argv[i + 1].split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  }

  flag(name: string): boolean {
    return this.argv.includes(`--${name}`);
  }
}

export const MiB = 1024 * 1024;
