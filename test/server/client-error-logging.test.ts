/**
 * What the server logs at error level is its own failures: a refusal of the client's request
 * is logged at debug, whatever its status. A WebDAV MOVE or COPY whose Destination is on
 * another host answers 502 (RFC 4918 9.8.5, 9.9.4) but is the client's error: it was logged
 * at error level like a failure of the server.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dav } from '../helpers/dav.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';

const NORA = basic('nora', 'nora-password-1');

describe('log levels of client errors', () => {
  let t: TestServer;
  const lines: { level: number; code?: string; msg?: string }[] = [];
  const sink = new Writable({ write: (c, _e, cb) => (lines.push(...String(c).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number })), cb()) });

  beforeAll(async () => {
    t = await startTestServer({ logLevel: 'debug', logDestination: sink });
    await addUser(t, 'nora', { password: 'nora-password-1' });
    expect((await dav(t.url, 'PUT', '/dav/a.txt', { auth: NORA, body: 'a' })).status).toBe(201);
  });
  afterAll(async () => t?.close());

  for (const method of ['MOVE', 'COPY']) {
    it(`${method} to a Destination on another host: 502, logged at debug, nothing at error level`, async () => {
      lines.length = 0;
      const r = await dav(t.url, method, '/dav/a.txt', { auth: NORA, headers: { destination: 'https://other.example.com/dav/b.txt' } });
      expect(r.status).toBe(502);
      const refusal = lines.filter((l) => l.code === 'FERRY_ERR_DESTINATION_FOREIGN');
      expect(refusal.map((l) => l.level)).toEqual([20]);
      expect(lines.filter((l) => l.level >= 50)).toEqual([]);
      // The file stays where it was.
      expect((await dav(t.url, 'GET', '/dav/a.txt', { auth: NORA })).text).toBe('a');
    });
  }
});
