/**
 * The CLI starts fast: registering commands must not load their implementations. A command
 * module imports commander and light core modules at the top and its engine (server, SDK,
 * sync engine, progress bars) inside its action. Checked twice: on the unbundled build (no
 * heavy module among those loaded, by name) and on the bundle that `bin/ferry.js` runs (the
 * bytes of code loaded stay small, so the engines' chunks were not loaded).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const HEAVY = ['fastify', 'kysely', 'better-sqlite3', 'prom-client', 'pino', 'undici', 'cli-progress', '@aws-sdk', 'ssh2', '/dist/src/server/app.js', '/dist/src/client/client.js', '/dist/src/sync/'];

function importsOf(entry: string[], args: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-imports-'));
  const out = join(dir, 'imports.txt');
  try {
    execFileSync(process.execPath, ['--import', join(root, 'test/helpers/record-imports.mjs'), ...entry, ...args], {
      env: { ...process.env, RECORD_IMPORTS_TO: out },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return readFileSync(out, 'utf8').split('\n').filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const COMMANDS = [['--version'], ['--help'], ['put', '--help'], ['serve', '--help'], ['sync', '--help']];

describe('CLI start-up', () => {
  it('loads no engine to print help or the version (unbundled build)', () => {
    const unbundled = ['--input-type=module', '-e', `const { main } = await import(${JSON.stringify(join(root, 'dist/src/cli/main.js'))}); process.exitCode = await main(["node", "ferry", ...process.argv.slice(1)]);`, '--'];
    for (const args of COMMANDS) {
      const loaded = importsOf(unbundled, args);
      expect(loaded.length).toBeGreaterThan(5); // the recorder works
      const heavy = loaded.filter((url) => HEAVY.some((h) => url.includes(h)));
      expect({ args, heavy }).toEqual({ args, heavy: [] });
    }
  });

  it('loads only a small part of the bundle to print help or the version', () => {
    for (const args of COMMANDS) {
      const loaded = importsOf([join(root, 'bin/ferry.js')], args).filter((u) => u.includes('/dist/bundle/'));
      expect(loaded.length).toBeGreaterThan(0); // bin/ferry.js runs the bundle
      const bytes = [...new Set(loaded)].reduce((a, u) => a + statSync(fileURLToPath(u)).size, 0);
      // The entry (commander and the commands' definitions) is ~210 KiB; the server's chunk alone is over 2 MiB.
      expect(bytes, `ferry ${args.join(' ')} loaded ${Math.round(bytes / 1024)} KiB of the bundle`).toBeLessThan(600 * 1024);
    }
  });
});
