/**
 * The CLI starts fast: registering commands must not load their implementations. A command
 * module imports commander and light core modules at the top and its engine (server, SDK,
 * sync engine, progress bars) inside its action. This test records every module that
 * `ferry --help` loads and fails if a heavy one is among them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const HEAVY = ['fastify', 'kysely', 'better-sqlite3', 'prom-client', 'pino', 'undici', 'cli-progress', '@aws-sdk', 'ssh2', '/dist/src/server/app.js', '/dist/src/client/client.js', '/dist/src/sync/'];

function importsOf(args: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-imports-'));
  const out = join(dir, 'imports.txt');
  try {
    execFileSync(process.execPath, ['--import', join(root, 'test/helpers/record-imports.mjs'), join(root, 'bin/ferry.js'), ...args], {
      env: { ...process.env, RECORD_IMPORTS_TO: out },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return readFileSync(out, 'utf8').split('\n').filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('CLI start-up', () => {
  it('loads no engine to print help or the version', () => {
    for (const args of [['--version'], ['--help'], ['put', '--help'], ['serve', '--help'], ['sync', '--help'], ['bisync', '--help']]) {
      const loaded = importsOf(args);
      expect(loaded.length).toBeGreaterThan(5); // the recorder works
      const heavy = loaded.filter((url) => HEAVY.some((h) => url.includes(h)));
      expect({ args, heavy }).toEqual({ args, heavy: [] });
    }
  });
});
