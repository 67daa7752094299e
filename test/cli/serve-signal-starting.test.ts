/**
 * SIGINT or SIGTERM while `ferry serve` starts (before its ready line) exits 130 or 143 as
 * before, and now says so on stderr: it ended silently, which read as a crash. The start is
 * held where a real one waits, on its database: a PostgreSQL address whose listener accepts
 * the connection and never answers, and the signal is sent once that connection arrives.
 *
 * A signal sent as the ready line is read is not lost: the server drains and exits. It was
 * dropped when it came between the ready line and the drain's handler taking over (a busy
 * machine pausing the server right after its write: a CI run waited for ever on such a
 * server's exit). The process sends it to itself from inside the ready line's write
 * (test/helpers/signal-at-ready.mjs), which puts it in that gap every time.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, FERRY_BIN } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { tail, until, within, type Watched } from '../helpers/served-state.js';

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

describe('a signal as the ready line is written', () => {
  const atReady = fileURLToPath(new URL('../helpers/signal-at-ready.mjs', import.meta.url));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: not lost: the server drains and exits 0`, async () => {
      const child = spawn(process.execPath, ['--import', atReady, FERRY_BIN, 'serve', '--addr', '127.0.0.1:0', '--data', join(tmp.path, `at-ready-${signal}`)], {
        env: cliEnv({ SIGNAL_AT_READY: signal }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out = tail();
      const err = tail();
      child.stdout.on('data', (d: Buffer) => out.add(d.toString()));
      child.stderr.on('data', (d: Buffer) => err.add(d.toString()));
      const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      const server: Watched = { child, output: () => `stdout: ${out.text()}\nstderr: ${err.text()}` };
      try {
        await until(server, 'start (waiting for the ready line)', 30_000, () => out.text().includes('"event":"ready"') || child.exitCode !== null);
        server.url = /"url":"([^"]+)"/.exec(out.text())?.[1];
        const code = await within(server, `${signal} sent from the ready line's write: waiting for the drain and the exit`, 20_000, exited);
        expect(err.text()).toContain(`ferry: ${signal}: draining: letting the transfers in flight finish`);
        expect(code, err.text()).toBe(0);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    });
  }
});
