/**
 * Clients that never take their answer (eleventh security round). A download whose client
 * reads nothing, or grants no HTTP/2 flow-control window, held its connection (and the
 * file's read buffers) for as long as it liked: no account needed through a share link, and
 * on HTTP/2 another stream's head could trickle beside it for ever, since the head limit
 * applies only while no request is in flight. An answer its client takes none of for
 * `bodyTimeout` is now cut, as nginx's `send_timeout` does; a client that reads is served whole.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as h2connect, constants as h2constants, type ClientHttp2Session } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createServerCert } from '../../src/server/x509.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-slow-readers-'));
const ca = createCa({ name: 'Ferry test CA' });
const leaf = createServerCert(ca, ['localhost', '127.0.0.1']);
writeFileSync(join(dir, 'server.crt'), leaf.certPem);
writeFileSync(join(dir, 'server.key'), leaf.keyPem);
// Larger than what loopback's socket buffers hold, so that the server's writes wait.
const SIZE = 64 << 20;

let t: TestServer;

/** One request on an HTTP/2 session: its status and the bytes of its answer. */
function h2request(h2: ClientHttp2Session, headers: Record<string, string>): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = h2.request(headers);
    let status = 0;
    let bytes = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => resolve({ status, bytes }));
    req.on('error', reject);
    req.end();
  });
}

/** The server's count of answers cut for a client that took none of them (its metrics). */
async function answersCut(): Promise<number> {
  const agent = new Agent({ connect: { ca: ca.certPem } });
  try {
    const res = await request(`${t.url}/metrics`, { dispatcher: agent, headers: { authorization: `Bearer ${t.token}` } });
    const text = await res.body.text();
    return Number(/^ferry_slow_clients_cut_total\{phase="answer"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  } finally {
    await agent.close();
  }
}

beforeAll(async () => {
  t = await startTestServer({ tlsCert: join(dir, 'server.crt'), tlsKey: join(dir, 'server.key'), connections: { maxPerAddress: 8, headersTimeoutMs: 600, bodyTimeoutMs: 600, bodyMinRate: 1 } });
  const agent = new Agent({ connect: { ca: ca.certPem } });
  try {
    // Zeros: one chunk, stored once.
    const put = await request(`${t.url}/api/v1/files/big.bin`, { method: 'PUT', dispatcher: agent, headers: { authorization: `Bearer ${t.token}` }, body: Buffer.alloc(SIZE) });
    await put.body.dump();
    expect(put.statusCode).toBeLessThan(300);
  } finally {
    await agent.close();
  }
}, 120_000);

afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('an answer its client takes none of', () => {
  it('on HTTP/2 (no flow-control window granted) its stream is reset; the connection goes on', async () => {
    const h2 = h2connect(t.url, { ca: ca.certPem, settings: { initialWindowSize: 1024 } });
    try {
      const stalled = h2.request({ ':path': '/api/v1/files/big.bin', authorization: `Bearer ${t.token}` });
      stalled.on('error', () => undefined);
      stalled.pause();
      const closed = new Promise<number | undefined>((resolve) => stalled.once('close', () => resolve(stalled.rstCode)));
      expect(await closed).toBe(h2constants.NGHTTP2_CANCEL);
      expect((await h2request(h2, { ':path': '/healthz' })).status).toBe(200);
    } finally {
      h2.destroy();
    }
  });

  it('on HTTP/1.1 its connection is closed', async () => {
    const url = new URL(t.url);
    const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca: ca.certPem, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    try {
      socket.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
      const before = await answersCut();
      socket.write(`GET /api/v1/files/big.bin HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${t.token}\r\n\r\n`);
      socket.pause();
      // A paused socket notices no close: wait for the server to say it cut the answer, then read.
      while ((await answersCut()) === before) await new Promise((resolve) => setTimeout(resolve, 100));
      let bytes = 0;
      socket.on('data', (d: Buffer) => (bytes += d.length));
      socket.resume();
      await closed;
      expect(bytes).toBeGreaterThan(0);
      expect(bytes).toBeLessThan(SIZE);
    } finally {
      socket.destroy();
    }
  });

  it('a client that reads gets the whole file, over HTTP/2 and HTTP/1.1', async () => {
    const h2 = h2connect(t.url, { ca: ca.certPem });
    try {
      expect(await h2request(h2, { ':path': '/api/v1/files/big.bin', authorization: `Bearer ${t.token}` })).toEqual({ status: 200, bytes: SIZE });
    } finally {
      h2.close();
    }
    const url = new URL(t.url);
    const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca: ca.certPem, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    const received = await new Promise<number>((resolve, reject) => {
      let bytes = 0;
      socket.on('data', (d: Buffer) => (bytes += d.length));
      socket.on('close', () => resolve(bytes));
      socket.on('error', reject);
      socket.once('secureConnect', () => socket.write(`GET /api/v1/files/big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer ${t.token}\r\n\r\n`));
    });
    expect(received).toBeGreaterThan(SIZE);
  });
});
