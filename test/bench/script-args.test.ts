/**
 * Every benchmark script's command line (benchmarks/lib/args.ts): `--help` prints its usage and
 * exits 0, a bad number (or size) and an unknown option exit 2 with a line that says what,
 * all before anything runs. `sdk-import.js --help` read `--help` as its number of runs and
 * printed NaN figures. The table must name every script that reads its command line.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { usageOf } from '../../benchmarks/lib/args.js';
import { REPO_ROOT, benchScript } from '../../benchmarks/peers/ferry-bin.js';

/** Each script (its path under benchmarks/, .ts) with arguments holding a bad value, and what the refusal says. */
const SCRIPTS: { script: string; bad: string[]; says: string }[] = [
  { script: 'run.ts', bad: ['--runs', 'x'], says: '--runs must be a whole number of at least 1, not "x"' },
  { script: 'chunk-put.ts', bad: ['--chunks', 'many'], says: '--chunks must be a whole number' },
  { script: 'cluster.ts', bad: ['--clients', '-3'], says: '--clients must be a whole number' },
  { script: 'profile.ts', bad: ['--top', '1.5'], says: '--top must be a whole number' },
  { script: 'e2e/transfer.ts', bad: ['--runs', '0'], says: '--runs must be a whole number' },
  { script: 'micro/chunk-store.ts', bad: ['--size', 'big'], says: '--size must be a size' },
  { script: 'micro/encryption.ts', bad: ['--runs', 'NaN'], says: '--runs must be a whole number' },
  { script: 'micro/gcm.ts', bad: ['--rounds'], says: '--rounds needs a value' },
  { script: 'micro/chunking.ts', bad: ['--mem-size', '12 parsecs'], says: '--mem-size must be a size' },
  { script: 'web/browser.ts', bad: ['--runs', 'x'], says: '--runs must be a whole number' },
  { script: 'web/small-uploads.ts', bad: ['--files', 'x'], says: '--files must be a whole number' },
  { script: 'web/upload-cpu.ts', bad: ['--pairs', 'x'], says: '--pairs must be a whole number' },
  { script: 'sync-small-files.ts', bad: ['--files', '1e3'], says: '--files must be a whole number' },
  { script: 'sdk-import.ts', bad: ['abc'], says: 'runs must be a whole number of at least 1, not "abc"' },
  { script: 'quota-usage.ts', bad: ['-5'], says: 'files must be a whole number' },
  { script: 'storage-throughput.ts', bad: ['0'], says: 'MiB must be a whole number' },
  { script: 'vault-guard.ts', bad: ['x'], says: 'commits must be a whole number' },
  { script: 'request-overhead.ts', bad: ['5'], says: 'unexpected argument "5"' },
  { script: 'large-tree.ts', bad: ['--levels', 'x'], says: '--levels must be a whole number' },
  { script: 'tree-move-postgres.ts', bad: ['--per-dir', 'x'], says: '--per-dir must be a whole number' },
  { script: 'idle-rss.ts', bad: ['two', '/tmp/build'], says: 'PAIRS must be a whole number' },
  { script: 'tools/ferry-load.ts', bad: [], says: 'usage: ferry-load.js' },
  { script: 'tools/tus-put.ts', bad: [], says: 'usage: FERRY_TOKEN=... tus-put.js' },
];

const run = (script: string, argv: string[]) =>
  spawnSync(process.execPath, [benchScript(script.replace(/\.ts$/, '.js')), ...argv], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, FERRY_TOKEN: '' } });

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) yield* tsFiles(join(dir, e.name));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) yield join(dir, e.name);
  }
}

describe('benchmark scripts: command line', () => {
  it('the table names every script that reads its command line', () => {
    const root = join(REPO_ROOT, 'benchmarks');
    const readers = [...tsFiles(root)]
      .filter((f) => !relative(root, f).startsWith('lib/'))
      .filter((f) => /process\.argv|new Args\(/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(root, f))
      .sort();
    expect(readers).toEqual(SCRIPTS.map((s) => s.script).sort());
  });

  describe.each(SCRIPTS)('$script', ({ script, bad, says }) => {
    it('--help prints its usage and exits 0', () => {
      const r = run(script, ['--help']);
      expect(r.status, r.stderr).toBe(0);
      const usage = usageOf(readFileSync(join(REPO_ROOT, 'benchmarks', script), 'utf8'));
      expect(usage.length).toBeGreaterThan(20);
      expect(r.stdout).toBe(usage);
    });

    it('a bad value is refused with exit code 2, saying what', () => {
      const r = run(script, bad);
      expect(r.status, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toContain(says);
      expect(r.stdout).toBe('');
    });

    it('an unknown option is refused with exit code 2', () => {
      const r = run(script, ['--no-such-option']);
      expect(r.status, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toContain('unknown option --no-such-option');
    });
  });
});
