/**
 * Readiness and draining (issue 17): /readyz says whether a load balancer should send this
 * node work; a draining node (SIGTERM) refuses new upload sessions and lets the requests in
 * flight finish; `ferry serve` does both on SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { parseStoreSpec } from '../../src/server/config.js';
import { pieces, startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { startPostgres } from '../helpers/postgres.js';
import { startS3rver } from '../helpers/s3rver.js';
import { startServer, type RunningServer } from '../helpers/server.js';

/**
 * A chunk PUT whose body is sent in two halves, the second when `finish()` is called.
 * `started` resolves once the server has taken the request (its `100 Continue` came back:
 * the server sends it when the handler starts reading the body) and the first half is written.
 */
function slowChunkPut(t: Pick<TestServer, 'url' | 'token'>, id: string, hash: string, data: Buffer): { finish: () => void; done: Promise<number>; started: Promise<void> } {
  const url = new URL(`/api/v1/uploads/${id}/chunks/${hash}`, t.url);
  let finish!: () => void;
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const done = new Promise<number>((resolve, reject) => {
    const headers = { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream', 'content-length': String(data.length), expect: '100-continue' };
    const req = request(url, { method: 'PUT', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.on('continue', () => req.write(data.subarray(0, data.length / 2), () => started()));
    req.flushHeaders();
    finish = () => req.end(data.subarray(data.length / 2));
  });
  return { finish, done, started: startedP };
}

describe('readiness and draining', () => {
  it('refuses new sessions while draining, finishes the chunk PUT in flight, commits open sessions, then closes', async () => {
    const t = await startTestServer();
    let closed = false;
    let slow: ReturnType<typeof slowChunkPut> | undefined;
    try {
      expect(await (await t.api('/readyz', { token: null })).json()).toEqual({ status: 'ready' });
      const data = randomBytes(64 * 1024);
      const { refs } = pieces(data, 32 * 1024);
      const created = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/drain.bin', size: data.length, hash: fileHashOf(refs), chunks: refs } });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      // First chunk in full, the second one in flight when the drain begins.
      const first = await t.api(`/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', body: data.subarray(0, 32 * 1024), headers: { 'content-type': 'application/octet-stream' } });
      expect(first.status).toBe(200);
      slow = slowChunkPut(t, id, refs[1].hash, data.subarray(32 * 1024));
      await slow.started;

      t.server.drain();
      const ready = await t.api('/readyz', { token: null });
      expect(ready.status).toBe(503);
      expect(ready.headers.get('retry-after')).toBe('1');
      expect(((await ready.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'FERRY_ERR_UNAVAILABLE', message: expect.stringContaining('draining') });
      const other = pieces(randomBytes(1000), 1000).refs;
      const refused = await t.api('/api/v1/uploads', { method: 'POST', json: { path: '/late.bin', size: 1000, hash: fileHashOf(other), chunks: other } });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_UNAVAILABLE');
      // Downloads and listings go on.
      expect((await t.api('/api/v1/list/')).status).toBe(200);

      slow.finish();
      expect(await slow.done).toBe(200);
      // A session open before the drain still commits.
      const commit = await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} });
      expect(commit.status).toBe(200);
      await t.server.close().then(() => (closed = true));
      expect(closed).toBe(true);
      await t.restart();
      expect(Buffer.compare(Buffer.from(await (await t.api('/api/v1/files/drain.bin')).arrayBuffer()), data)).toBe(0);
    } finally {
      slow?.finish();
      await t.close().catch(() => undefined);
    }
  });

  it('ferry serve on SIGTERM: takes no new connection, finishes the chunk PUT in flight, then exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-sigterm-'));
    let node: RunningServer | undefined;
    try {
      node = await startServer({ dataDir });
      const api = (url: string, path: string, init: RequestInit = {}) => fetch(url + path, { ...init, headers: { authorization: `Bearer ${node!.adminToken}`, 'content-type': 'application/json', ...init.headers } });
      const data = randomBytes(64 * 1024);
      const { refs } = pieces(data, 32 * 1024);
      const created = await api(node.url, '/api/v1/uploads', { method: 'POST', body: JSON.stringify({ path: '/sigterm.bin', size: data.length, hash: fileHashOf(refs), chunks: refs }) });
      const { id } = (await created.json()) as { id: string };
      const slow = slowChunkPut({ url: node.url, token: node.adminToken }, id, refs[0].hash, data.subarray(0, 32 * 1024));
      await slow.started;
      const exited = new Promise<number | null>((resolve) => node!.process.once('exit', (code) => resolve(code)));
      node.process.kill('SIGTERM');
      // The listener closes: a new connection is refused (a balancer goes to another node)...
      let refused = false;
      for (let i = 0; i < 100 && !refused; i++) {
        refused = await fetch(`${node.url}/readyz`).then((r) => r.status === 503, () => true);
        if (!refused) await new Promise((r) => setTimeout(r, 100));
      }
      expect(refused).toBe(true);
      // ... while the chunk PUT in flight keeps the process alive, and completes.
      expect(node.process.exitCode).toBeNull();
      slow.finish();
      expect(await slow.done).toBe(200);
      expect(await exited).toBe(0);
      expect(node.output()).toContain('draining, then shutting down');

      node = await startServer({ dataDir, adminToken: node.adminToken });
      const missing = (await (await api(node.url, `/api/v1/uploads/${id}`)).json()) as { missing: string[] };
      expect(missing.missing).toEqual([refs[1].hash]);
    } finally {
      await node?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('ferry serve on SIGTERM: a chunk PUT held open past --drain-timeout is cut, the server exits 0, and the upload resumes', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-deadline-'));
    let node: RunningServer | undefined;
    let slow: ReturnType<typeof slowChunkPut> | undefined;
    try {
      node = await startServer({ dataDir, extraArgs: ['--drain-timeout', '1s'] });
      const api = (url: string, path: string, init: RequestInit = {}) => fetch(url + path, { ...init, headers: { authorization: `Bearer ${node!.adminToken}`, 'content-type': 'application/json', ...init.headers } });
      const data = randomBytes(64 * 1024);
      const { refs } = pieces(data, 32 * 1024);
      const created = await api(node.url, '/api/v1/uploads', { method: 'POST', body: JSON.stringify({ path: '/deadline.bin', size: data.length, hash: fileHashOf(refs), chunks: refs }) });
      const { id } = (await created.json()) as { id: string };
      expect((await api(node.url, `/api/v1/uploads/${id}/chunks/${refs[0].hash}`, { method: 'PUT', body: data.subarray(0, 32 * 1024), headers: { 'content-type': 'application/octet-stream' } })).status).toBe(200);
      // Half a chunk sent, and the rest never (a client gone quiet): without a deadline the
      // server waited for it for ever.
      slow = slowChunkPut({ url: node.url, token: node.adminToken }, id, refs[1].hash, data.subarray(32 * 1024));
      await slow.started;
      const cut = slow.done.then(
        (status) => `answered ${status}`,
        (err: Error) => `cut: ${err.message}`,
      );
      const exited = new Promise<number | null>((resolve) => node!.process.once('exit', (code) => resolve(code)));
      node.process.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(await cut).toMatch(/^cut: /);
      expect(node.output()).toContain('drain deadline passed');

      node = await startServer({ dataDir, adminToken: node.adminToken });
      const status = (await (await api(node.url, `/api/v1/uploads/${id}`)).json()) as { missing: string[] };
      expect(status.missing).toEqual([refs[1].hash]);
      expect((await api(node.url, `/api/v1/uploads/${id}/chunks/${refs[1].hash}`, { method: 'PUT', body: data.subarray(32 * 1024), headers: { 'content-type': 'application/octet-stream' } })).status).toBe(200);
      expect((await api(node.url, `/api/v1/uploads/${id}/commit`, { method: 'POST', body: '{}' })).status).toBe(200);
      expect(Buffer.from(await (await api(node.url, '/api/v1/files/deadline.bin')).arrayBuffer()).equals(data)).toBe(true);
    } finally {
      await node?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('ferry serve on a second Ctrl-C (SIGINT): stops now, cutting a chunk PUT the drain would wait for, and says so on stderr', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-twice-'));
    let node: RunningServer | undefined;
    try {
      // Two minutes of drainTimeout: without a second signal that stops now, the server
      // would wait for the chunk PUT held open past this test's timeout.
      node = await startServer({ dataDir, extraArgs: ['--drain-timeout', '120s'] });
      const api = (url: string, path: string, init: RequestInit = {}) => fetch(url + path, { ...init, headers: { authorization: `Bearer ${node!.adminToken}`, 'content-type': 'application/json', ...init.headers } });
      const data = randomBytes(64 * 1024);
      const { refs } = pieces(data, 32 * 1024);
      const created = await api(node.url, '/api/v1/uploads', { method: 'POST', body: JSON.stringify({ path: '/twice.bin', size: data.length, hash: fileHashOf(refs), chunks: refs }) });
      const { id } = (await created.json()) as { id: string };
      const slow = slowChunkPut({ url: node.url, token: node.adminToken }, id, refs[0].hash, data.subarray(0, 32 * 1024));
      await slow.started;
      const cut = slow.done.then(
        (status) => `answered ${status}`,
        (err: Error) => `cut: ${err.message}`,
      );
      const exited = new Promise<number | null>((resolve) => node!.process.once('exit', (code) => resolve(code)));
      node.process.kill('SIGINT');
      // The first signal drains, and tells whoever pressed Ctrl-C how to stop now.
      await expect.poll(() => node!.output(), { timeout: 30_000, interval: 50 }).toContain('press Ctrl-C again');
      expect(node.output()).toContain('SIGINT: draining');
      expect(node.output()).toContain('120 s at most');
      expect(node.process.exitCode).toBeNull();
      node.process.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(await cut).toMatch(/^cut: /);
      expect(node.output()).toContain('SIGINT again: stopping now');
      expect(node.output()).not.toContain('drain deadline passed');

      // The upload session stays: the chunk cut off is sent again and the upload completes.
      node = await startServer({ dataDir, adminToken: node.adminToken });
      const status = (await (await api(node.url, `/api/v1/uploads/${id}`)).json()) as { missing: string[] };
      expect(status.missing).toEqual(refs.map((r) => r.hash));
      for (const [i, ref] of refs.entries()) {
        const body = data.subarray(i * 32 * 1024, (i + 1) * 32 * 1024);
        expect((await api(node.url, `/api/v1/uploads/${id}/chunks/${ref.hash}`, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } })).status).toBe(200);
      }
      expect((await api(node.url, `/api/v1/uploads/${id}/commit`, { method: 'POST', body: '{}' })).status).toBe(200);
      expect(Buffer.from(await (await api(node.url, '/api/v1/files/twice.bin')).arrayBuffer()).equals(data)).toBe(true);
    } finally {
      await node?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('ferry serve on a third signal, while the forced stop waits for a database that does not answer: exits at once (143 for SIGTERM) and says so', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-thrice-'));
    const pg = await startPostgres();
    let node: RunningServer | undefined;
    try {
      const db = await pg.createDatabase();
      node = await startServer({ dataDir, extraArgs: ['--db', db], env: { FERRY_SESSION_KEY: randomBytes(32).toString('base64') } });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => node!.process.once('exit', (code, signal) => resolve({ code, signal })));
      // Every stop now waits for PostgreSQL (its connections closed, leases given back).
      await pg.pause();
      node.process.kill('SIGINT');
      await expect.poll(() => node!.output(), { timeout: 30_000, interval: 50 }).toContain('press Ctrl-C again');
      node.process.kill('SIGINT');
      await expect.poll(() => node!.output(), { timeout: 30_000, interval: 50 }).toContain('another signal exits at once');
      expect(node.process.exitCode).toBeNull();
      node.process.kill('SIGTERM');
      expect(await exited).toEqual({ code: 143, signal: null });
      expect(node.output()).toContain('SIGTERM a third time: exiting at once');
    } finally {
      await node?.stop();
      await pg.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('is not ready while a chunk store does not answer, and names it', async () => {
    // A store that answered at the start (a server refuses to start on one it cannot
    // reach) and then goes away.
    const s3 = await startS3rver(['ferry-ready']);
    let stopped = false;
    let clock = Date.now();
    const t = await startTestServer({ now: () => clock, store: [parseStoreSpec(`s3:ferry-ready/x?endpoint=${encodeURIComponent(s3.endpoint)}&accessKeyId=S3RVER&secretAccessKey=S3RVER&forcePathStyle=true`)] });
    try {
      expect(await (await t.api('/readyz', { token: null })).json()).toEqual({ status: 'ready' });
      await s3.stop().then(() => (stopped = true));
      // The answer above stands for a second of the server's clock: the next one probes again.
      clock += 1000;
      const r = await t.api('/readyz', { token: null });
      expect(r.status).toBe(503);
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('FERRY_ERR_UNAVAILABLE');
      expect(body.error.message).toMatch(/chunk store does not answer/);
      expect((await t.api('/healthz', { token: null })).status).toBe(200); // alive, only not ready
    } finally {
      await t.close();
      if (!stopped) await s3.stop();
    }
  });
});
