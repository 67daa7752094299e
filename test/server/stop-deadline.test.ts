/**
 * The test helper's stop(): a server that does not exit on SIGTERM fails the test that stops
 * it, with the server's last output, instead of being SIGKILLed quietly (which let a server
 * that ignores SIGTERM pass every suite). A stopped (SIGSTOPped) process stands in for one
 * that ignores the signal: it cannot run its handler until it is continued.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../helpers/server.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const dataDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'ferry-stop-deadline-'));
  dirs.push(d);
  return d;
};

describe('startServer().stop()', () => {
  it('fails, with the last output, when the server is still running at the deadline; the server is gone all the same', async () => {
    const server = await startServer({ dataDir: await dataDir(), stopDeadlineMs: 2_000 });
    process.kill(server.process.pid!, 'SIGSTOP');
    const stopped = server.stop();
    await expect(stopped).rejects.toThrow(/^ferry serve did not exit within 2 s of SIGTERM \(killed with SIGKILL\); its last output:\n/);
    const said = await stopped.then(() => '', (err: Error) => err.message);
    expect(server.output().trim()).not.toBe('');
    expect(said.endsWith(server.output().slice(-4000))).toBe(true);
    expect(server.process.signalCode).toBe('SIGKILL');
  });

  it('resolves when the server drains and exits on SIGTERM', async () => {
    const server = await startServer({ dataDir: await dataDir() });
    await server.stop();
    expect(server.process.exitCode).toBe(0);
  });
});
