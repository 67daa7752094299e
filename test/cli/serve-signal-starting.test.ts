/**
 * SIGINT or SIGTERM while `ferry serve` starts (before its ready line) exits 130 or 143 as
 * before, and now says so on stderr: it ended silently, which read as a crash. The start is
 * held where a real one waits, on its database: a PostgreSQL address whose listener accepts
 * the connection and never answers, and the signal is sent once that connection arrives.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, FERRY_BIN } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

let tmp: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir('ferry-serve-signal-');
});
afterAll(async () => {
  await tmp.cleanup();
});

async function signalWhileStarting(signal: 'SIGINT' | 'SIGTERM'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const held: Socket[] = [];
  let arrived!: () => void;
  const connected = new Promise<void>((r) => (arrived = r));
  const silent = createServer((s) => {
    held.push(s);
    arrived();
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as AddressInfo).port;
  const child = spawn(process.execPath, [FERRY_BIN, 'serve', '--addr', '127.0.0.1:0', '--data', join(tmp.path, signal), '--db', `postgres://ferry@127.0.0.1:${port}/ferry`], {
    env: cliEnv({ FERRY_SESSION_KEY: randomBytes(32).toString('base64'), PGPASSWORD: 'unused' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  try {
    await Promise.race([connected, exited]);
    child.kill(signal);
    return { code: await exited, stdout, stderr };
  } finally {
    for (const s of held) s.destroy();
    silent.close();
  }
}

describe('a signal before the ready line', () => {
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`${signal}: exits ${code} and says it stopped while starting`, async () => {
      const r = await signalWhileStarting(signal);
      expect(r.stderr).toContain(`ferry: ${signal} while starting, before the server was ready: stopped, nothing was served\n`);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stdout).not.toContain('"ready"');
    });
  }
});
