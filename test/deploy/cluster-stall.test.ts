/**
 * A node stopped (SIGSTOP) in the middle of an upload, for longer than the sweep of
 * unreferenced objects waits, then resumed: two real `ferry serve` processes on one private
 * PostgreSQL cluster and one s3rver bucket, an upload through the first (the SDK's client).
 * Node A reaches the bucket through a proxy that stops A the moment the bucket has stored A's first loose chunk
 * object, before A can index it. While A is stopped, node B's garbage collection (the sweep
 * of objects no row points at) runs until it deletes that object: A's write registration is
 * older than the sweep's minimum age (`gcMinAge`: 15 s here, a minute by default), so it is
 * taken for a dead node's. Resumed, A must not index the chunk: before, it did, and the file
 * it committed named bytes that were gone.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { runFerry } from '../helpers/cli.js';
import { ok, startPgS3Nodes, type PgS3Nodes } from '../helpers/pg-s3-nodes.js';
import type { RunningServer } from '../helpers/server.js';

const sha = (x: Buffer): string => createHash('sha256').update(x).digest('hex');

/**
 * The nodes' `gcMinAge`, seconds: what the stall outlasts. Short, as the test waits it out;
 * long enough that the first sweep, sent the moment A stops, is surely younger on a busy machine.
 */
const MIN_AGE_S = 15;

let nodes: PgS3Nodes;
let proxy: Server;
let a: RunningServer;
let b: RunningServer;
/** Settles once node A is stopped, with the key of the chunk object it had just stored. */
let stopped: Promise<string>;

/**
 * Forwards node A's requests to s3rver; after the first PUT of a loose chunk object that the
 * bucket answered with 200, sends A SIGSTOP, then relays the answer (A reads it once resumed).
 */
function stoppingProxy(target: URL): { server: Server; stopped: Promise<string> } {
  let onStop!: (key: string) => void;
  const stoppedAt = new Promise<string>((resolve) => (onStop = resolve));
  let done = false;
  const server = createServer((req, res) => {
    const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const path = (req.url ?? '').split('?')[0];
      if (!done && req.method === 'PUT' && answer.statusCode === 200 && /\/chunks\/chunks\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(path)) {
        done = true;
        process.kill(a.process.pid!, 'SIGSTOP');
        onStop(path);
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  return { server, stopped: stoppedAt };
}

beforeAll(async () => {
  nodes = await startPgS3Nodes('cluster-stall');
  const p = stoppingProxy(new URL(nodes.s3.endpoint));
  proxy = p.server;
  stopped = p.stopped;
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const minAge = ['--gc-min-age', `${MIN_AGE_S}s`];
  [a, b] = await Promise.all([nodes.startNode('a', minAge, {}, { s3Endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` }), nodes.startNode('b', minAge)]);
}, 120_000);

afterAll(async () => {
  if (a?.process.pid) process.kill(a.process.pid, 'SIGCONT');
  await nodes?.stop();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
});

it('a node stopped past the grace between storing a chunk and indexing it, the object swept meanwhile: no file points at missing bytes, and the upload ends well', async () => {
  const { token } = await nodes.user(a, 'sam');
  const home = join(nodes.dir, 'home');
  const local = join(nodes.dir, 'tree');
  await mkdir(local, { recursive: true });
  const files = new Map<string, Buffer>();
  for (const name of ['one.bin', 'two.bin', 'three.bin']) {
    const data = randomBytes(3 * 1024 * 1024);
    files.set(name, data);
    await writeFile(join(local, name), data);
  }
  // The SDK's client, waiting longer than the stall for an answer: the held chunk's answer is
  // the one it acts on (a client that gave up and sent the chunk again would rewrite the
  // swept object, and hide what the node did with it).
  const client = new FerryClient({ server: a.url, token, parallel: 1, headersTimeoutMs: 600_000 });
  const uploading = client.putTree(local, '/tree').then(
    () => undefined,
    (err: unknown) => err as Error & { code?: string },
  );

  await stopped;
  const stoppedAt = Date.now();
  // B collects garbage at once, then, from the sweep's minimum age after A stopped,
  // every second until its sweep takes A's object: A's registration and the object are then
  // older than that age.
  const sweeps: number[] = [];
  const sweep = async (): Promise<void> => {
    const gc = await ok<{ unreferenced: { chunks: number } }>(await nodes.api(b, '/api/v1/admin/gc', { method: 'POST', json: { graceSeconds: 0 } }), 200);
    sweeps.push(gc.unreferenced.chunks);
  };
  await sweep();
  await new Promise((r) => setTimeout(r, Math.max(0, stoppedAt + MIN_AGE_S * 1000 - Date.now())));
  while (sweeps.length < 120 && !(sweeps.at(-1)! > 0)) {
    await sweep();
    if (!(sweeps.at(-1)! > 0)) await new Promise((r) => setTimeout(r, 1000));
  }
  // The first sweep, right after the object was stored, kept it (even with no grace time: the
  // minimum age at least); a later one took it.
  expect(sweeps[0]).toBe(0);
  expect(sweeps.at(-1)).toBeGreaterThanOrEqual(1);
  process.kill(a.process.pid!, 'SIGCONT');

  const failed = await uploading;
  if (failed) {
    // A clear error, and the same upload run again completes.
    expect(`${failed.code}: ${failed.message}`).toMatch(/send the chunk again/);
    await client.putTree(local, '/tree');
  }
  // Every file reads back whole, through either node.
  for (const node of [a, b]) {
    for (const [name, data] of files) {
      const got = await nodes.api(node, `/api/v1/files/tree/${name}`, { token });
      expect(got.status, `${name} through ${node.url}`).toBe(200);
      expect(sha(Buffer.from(await got.arrayBuffer()))).toBe(sha(data));
    }
  }
  const check = await runFerry(['admin', 'check', '--read-data', '--json', '--server', b.url, '--token', nodes.adminToken], { env: { HOME: home } });
  expect(check.code, check.stderr).toBe(0);
  expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, problems: [] });
}, 420_000);
