/** The access log: one pino JSON line per request, each key once, the file path on file routes. */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

const lines: string[] = [];
let t: TestServer;
beforeAll(async () => {
  let pending = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      pending += chunk.toString();
      const parts = pending.split('\n');
      pending = parts.pop()!;
      lines.push(...parts);
      cb();
    },
  });
  t = await startTestServer({ logLevel: 'info', logDestination: sink });
});
afterAll(async () => t?.close());

/** The access-log line (msg "request") of the request with this id, once written (after the response). */
async function accessLine(reqId: string): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const found = lines.filter((l) => l.includes(reqId) && JSON.parse(l).msg === 'request');
    if (found.length > 0) {
      expect(found).toHaveLength(1);
      return found[0];
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no access-log line for ${reqId}`);
}

describe('access log', () => {
  it('has each key once, reqId included, and the server path of the file a route is about', async () => {
    await addUser(t, 'lou');
    const lou = (await tokenFor(t, 'lou')).token;
    expect((await uploadBuffer(t, '/a b/x.txt', Buffer.from('hello'), 1024, { token: lou })).status).toBe(200);
    const res = await t.api('/api/v1/files/a%20b/x.txt', { token: lou });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const id = res.headers.get('x-request-id')!;
    const line = await accessLine(id);
    expect(line.match(/"reqId":/g)).toHaveLength(1);
    const keys = [...line.matchAll(/"([A-Za-z]+)":/g)].map((m) => m[1]);
    expect(keys.length).toBe(new Set(keys).size);
    expect(JSON.parse(line)).toMatchObject({ reqId: id, user: 'lou', method: 'GET', route: '/api/v1/files/*', status: 200, path: '/users/lou/a b/x.txt', bytesOut: 5 });

    const other = await t.api('/api/v1/me', { token: lou });
    await other.arrayBuffer();
    const me = JSON.parse(await accessLine(other.headers.get('x-request-id')!)) as Record<string, unknown>;
    expect(me.path).toBeUndefined();
    expect(me.route).toBe('/api/v1/me');
  });
});
