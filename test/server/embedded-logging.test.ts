/**
 * A program embedding the server (`startServer` of `ferry/server`) keeps its stdout: the
 * server logs nowhere unless given a destination or a logger (`ferry serve` gives stdout,
 * test/cli/serve-startup.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startServer } from '../../src/server/app.js';
import { defaultConfig, type ServerConfig } from '../../src/server/config.js';
import { startServer as startFerryServe } from '../helpers/server.js';

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function config(overrides: Partial<ServerConfig> = {}): ServerConfig {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-embedded-log-'));
  dirs.push(dataDir);
  return defaultConfig({ port: 0, dataDir, adminToken: randomBytes(32).toString('hex'), gcIntervalMs: 0, ttlSweepIntervalMs: 0, scryptCost: { log2N: 10, r: 8, p: 1 }, ...overrides });
}

/** Starts a server, answers one request that logs an access line, stops it; the stdout writes seen meanwhile. */
async function runOnce(c: ServerConfig): Promise<string[]> {
  const written: string[] = [];
  const real = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown, ...rest: never[]) => {
    written.push(String(chunk));
    return real(chunk as string, ...rest);
  }) as typeof process.stdout.write);
  const server = await startServer(c);
  try {
    const res = await fetch(`${server.url}/api/v1/stat/nothing-here`, { headers: { authorization: `Bearer ${c.adminToken}` } });
    expect(res.status).toBe(404);
    await res.arrayBuffer();
  } finally {
    await server.close();
  }
  return written;
}

describe('startServer as a library', () => {
  it('writes nothing to stdout by default, at the default log level', async () => {
    const c = config();
    expect(c.logLevel).toBe('info');
    expect((await runOnce(c)).filter((w) => w.includes('"level"'))).toEqual([]);
  });

  it('logs to a destination it is given, and to a pino logger it is given', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
    expect((await runOnce(config({ logDestination: sink }))).filter((w) => w.includes('"level"'))).toEqual([]);
    expect(lines.some((l) => l.includes('"route":"/api/v1/stat/*"'))).toBe(true);

    const mine: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void mine.push(l) });
    await runOnce(config({ logger }));
    expect(mine.some((l) => l.includes('"route":"/api/v1/stat/*"'))).toBe(true);
  });

  it('ferry serve still logs its JSON lines to stdout', { timeout: 60_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-serve-log-'));
    dirs.push(dataDir);
    const served = await startFerryServe({ dataDir });
    try {
      const res = await fetch(`${served.url}/api/v1/stat/nothing-here`, { headers: { authorization: `Bearer ${served.adminToken}` } });
      expect(res.status).toBe(404);
      await res.arrayBuffer();
      // The access line is written after the answer: wait for it (bounded), not for a fixed time.
      for (let i = 0; i < 500 && !served.output().includes('"route":"/api/v1/stat/*"'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(served.output()).toContain('"route":"/api/v1/stat/*"');
    } finally {
      await served.stop();
    }
  });
});
