/**
 * Memory stays bounded whatever the size of what comes in: a real `ferry serve` receives
 * 384 MiB by one WebDAV PUT and 384 MiB by one tus PATCH (and a GET of the first), and its
 * resident memory, sampled all along, never grows by more than a fixed allowance over
 * where it started. The bytes are random (no dedup to hide behind), generated as they are
 * sent, and checked by hash on the way back.
 */
import { randomBytes } from 'node:crypto';
import { createHash, randomFillSync } from 'node:crypto';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic } from '../helpers/dav.js';
import { startServer, type RunningServer } from '../helpers/server.js';

/** Kept across the server's restarts (a chosen admin token must look random: see secret-strength.ts). */
const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;

const SIZE = 384 * 1024 * 1024;
const PIECE = 1024 * 1024;
/** What the server may grow by, whatever the size: chunker and chunk buffers, sockets, V8's slack. */
const ALLOWANCE = 200 * 1024 * 1024;

let dir: string;
let ferry: RunningServer;
let token = '';

function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** Sends SIZE random bytes as the body of one request; resolves with the status, the body's hash and the peak RSS seen. */
function send(method: string, path: string, headers: Record<string, string>): Promise<{ status: number; sha256: string; peak: number }> {
  const u = new URL(ferry.url);
  const pid = ferry.process.pid!;
  let peak = rssOf(pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 50);
  const hash = createHash('sha256');
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { ...headers, 'content-length': String(SIZE) } }, (res) => {
      res.resume();
      res.on('end', () => {
        clearInterval(sampler);
        resolve({ status: res.statusCode!, sha256: hash.digest('hex'), peak: Math.max(peak, rssOf(pid)) });
      });
    });
    req.on('error', (e) => {
      clearInterval(sampler);
      reject(e);
    });
    let sent = 0;
    const more = () => {
      while (sent < SIZE) {
        const piece = randomFillSync(Buffer.allocUnsafe(PIECE));
        hash.update(piece);
        sent += PIECE;
        if (!req.write(piece)) return void req.once('drain', more);
      }
      req.end();
    };
    more();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-memory-'));
  ferry = await startServer({ dataDir: join(dir, 'data'), adminToken: ADMIN_TOKEN, extraArgs: ['--log-level', 'warn'] });
  const made = await fetch(`${ferry.url}/api/v1/users`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'mo', password: 'mo-password-1' }) });
  expect(made.status).toBe(201);
  token = ((await (await fetch(`${ferry.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'mo', password: 'mo-password-1' }) })).json()) as { token: string }).token;
});
afterAll(async () => {
  await ferry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('memory is bounded for any size', () => {
  it(`WebDAV PUT and tus PATCH of ${SIZE >> 20} MiB each: the server grows by less than ${ALLOWANCE >> 20} MB`, async () => {
    const base = rssOf(ferry.process.pid!);
    const put = await send('PUT', '/dav/big.bin', { authorization: basic('mo', 'mo-password-1') });
    expect(put.status).toBe(201);
    const created = await fetch(`${ferry.url}/api/v1/tus/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', 'upload-length': String(SIZE), 'upload-metadata': `filename ${Buffer.from('tus.bin').toString('base64')}` },
    });
    expect(created.status).toBe(201);
    const patched = await send('PATCH', created.headers.get('location')!, { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' });
    expect(patched.status).toBe(204);
    console.log(`server RSS: ${(base / 1e6).toFixed(0)} MB at the start, peak ${(put.peak / 1e6).toFixed(0)} MB during the PUT, ${(patched.peak / 1e6).toFixed(0)} MB during the PATCH`);
    expect(put.peak - base).toBeLessThan(ALLOWANCE);
    expect(patched.peak - base).toBeLessThan(ALLOWANCE);
    for (const [path, sha] of [['/big.bin', put.sha256], ['/tus.bin', patched.sha256]]) {
      const res = await fetch(`${ferry.url}/api/v1/files${path}`, { headers: { authorization: `Bearer ${token}` } });
      const h = createHash('sha256');
      for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) h.update(piece);
      expect(h.digest('hex'), path).toBe(sha);
    }
  }, 240_000);
});
