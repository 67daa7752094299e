/** Command-line options of the benchmarks: `--name value` pairs, flags, sizes with units. */

const UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };

/** `1GiB`, `64KiB`, `4MiB`, `1.5GB`, `123` (bytes). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? 'B').toLowerCase()]);
}

export class Args {
  constructor(private readonly argv: string[] = process.argv.slice(2)) {}

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
