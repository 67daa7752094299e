/**
 * Paths stay within MAX_PATH_BYTES whatever door makes them (twelfth security round): a
 * move or copy of a deep folder under a longer name made paths that no route takes
 * (listed, but `GET` answered FERRY_ERR_PATH_INVALID), so a file nobody could read,
 * download or delete by name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PATH_BYTES } from '../../src/core/path.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';

let t: TestServer;
const seg = 'd'.repeat(200);
/** `/deep/ddd…/ddd…/…/f.txt`: 20 names of 200 bytes, 4,030 bytes in all. */
const deepDir = '/deep' + `/${seg}`.repeat(20);
const longName = '/' + 'L'.repeat(250);

beforeAll(async () => {
  t = await startTestServer();
  expect((await uploadBuffer(t, `${deepDir}/f.txt`, Buffer.from('deep'))).status).toBe(200);
}, 60_000);
afterAll(async () => t?.close());

const post = (op: 'move' | 'copy', from: string, to: string) => t.api(`/api/v1/${op}`, { method: 'POST', json: { from, to } });

describe('moves and copies that would make paths too long', () => {
  it('a move or copy of a deep folder under a longer name is 400 FERRY_ERR_PATH_INVALID; nothing moves', async () => {
    expect(Buffer.byteLength(longName + deepDir.slice('/deep'.length) + '/f.txt')).toBeGreaterThan(MAX_PATH_BYTES);
    for (const op of ['move', 'copy'] as const) {
      const res = await post(op, '/deep', longName);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status, op).toBe(400);
      expect(body.error.code).toBe('FERRY_ERR_PATH_INVALID');
      expect(body.error.message).toMatch(/longer than 4096 bytes/);
    }
    const dav = await fetch(t.url + '/dav/deep', { method: 'MOVE', headers: { authorization: `Bearer ${t.token}`, destination: `/dav${longName}` } });
    expect(dav.status).toBe(400);
    expect((await t.api(`/api/v1/stat${longName}`)).status).toBe(404);
    const file = await t.api(`/api/v1/files${deepDir}/f.txt`);
    expect(await file.text()).toBe('deep');
  });

  it('one that stays within the limit goes through, and its file is read at its new path', async () => {
    const res = await post('move', '/deep', '/D');
    expect(res.status).toBe(200);
    const file = await t.api(`/api/v1/files/D${deepDir.slice('/deep'.length)}/f.txt`);
    expect(await file.text()).toBe('deep');
  });
});
