/**
 * `startServer` from a program (README, "Storage library": `ferry/server`): a field the
 * ServerConfig type does not have is refused before anything starts. `addr` and `data` (the
 * config file's names) were dropped without a word, and the server started on port 7373 with
 * ./ferry-data in the working directory.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/app.js';
import { defaultConfig, type ServerConfig } from '../../src/server/config.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-start-fields-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const silent = new Writable({ write: (_c, _e, cb) => cb() });

describe('startServer and the fields of ServerConfig', () => {
  it.each([
    ['addr', '127.0.0.1:0', /unknown server setting `addr`; ServerConfig says it with `host` and `port`/],
    ['data', join(dir, 'x'), /unknown server setting `data`; ServerConfig says it with `dataDir`/],
    ['drainTimeout', 5000, /unknown server setting `drainTimeout`; ServerConfig says it with `drainTimeoutMs` \(milliseconds\)/],
    ['datadir', join(dir, 'y'), /unknown server setting `datadir` \(the fields of the ServerConfig type/],
  ] as const)('refuses %s (FERRY_ERR_CONFIG), creating nothing', async (key, value, message) => {
    const dataDir = join(dir, `refused-${key}`);
    const config = { ...defaultConfig({ port: 0, dataDir, logDestination: silent }), [key]: value } as ServerConfig;
    await expect(startServer(config)).rejects.toMatchObject({ code: 'FERRY_ERR_CONFIG', message: expect.stringMatching(message), details: { setting: key } });
    expect(existsSync(dataDir)).toBe(false);
  });

  it('takes every field defaultConfig() gives, and the optional ones, and starts', async () => {
    const dataDir = join(dir, 'ok');
    const server = await startServer(defaultConfig({ host: '127.0.0.1', port: 0, dataDir, logDestination: silent, gcIntervalMs: 0, ttlSweepIntervalMs: 0, publicUrl: 'http://files.example', trashDays: 3 }));
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(server.url).not.toBe('http://127.0.0.1:7373');
      expect(existsSync(join(dataDir, 'meta.db'))).toBe(true);
    } finally {
      await server.close({ force: true });
    }
  });
});
