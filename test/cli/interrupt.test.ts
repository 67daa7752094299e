/**
 * Ctrl-C (SIGINT) during `producer | ferry put - DEST` whose producer outlives it (a writer
 * that ignores SIGINT, another process group, `ssh host cat`): the CLI ends at once with 130
 * and nothing appears on the server, instead of waiting for the pipe's next piece.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, spawnFerry } from '../helpers/cli.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-interrupt-'));
let server: RunningServer;
let env: Record<string, string>;

beforeAll(async () => {
  server = await startServer({ dataDir: join(work, 'data'), extraArgs: ['--no-fsync'] });
  env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken, HOME: join(work, 'home') };
});
afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('Ctrl-C while reading stdin', () => {
  it('put - ends with 130 though the writer keeps the pipe open, and leaves no file', async () => {
    const child = spawnFerry(['put', '-', '/piped.bin', '--no-progress'], { env });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.resume();
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    // 4 MiB flushed into a 64 KiB pipe: the CLI is reading stdin (its interrupt handler is set).
    await new Promise<void>((resolve, reject) => child.stdin!.write(randomBytes(4 * 1024 * 1024), (err) => (err ? reject(err) : resolve())));
    child.kill('SIGINT');
    // The pipe stays open, as a writer that outlives the Ctrl-C keeps it; the guard only ends a hang.
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code, signal] = await closed;
    clearTimeout(guard);
    child.stdin!.destroy();
    expect(signal).toBeNull();
    expect(code).toBe(130);
    expect(stderr).toContain('interrupted by SIGINT');
    const stat = await runFerry(['stat', '/piped.bin'], { env });
    expect(stat.code).toBe(3);
  });
});
