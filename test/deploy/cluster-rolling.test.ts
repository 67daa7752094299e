/**
 * A rolling restart as docs/cluster.md describes it: two `ferry serve` nodes on one PostgreSQL
 * database and one s3rver bucket, behind nginx (test/helpers/nginx-balancer.ts, the
 * configuration the documentation shows). While four `ferry put` clients upload through the
 * balancer, each node in turn is stopped with SIGTERM (it drains) and started again on its
 * port. Every upload completes and reads back byte for byte, and each drain ends when the
 * transfers in flight are done: before, the balancer's keep-alive connections (idle once their
 * request was answered) held every drain until its deadline (30 s by default), which then cut them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { startBalancer, type Balancer } from '../helpers/nginx-balancer.js';
import { ok, startPgS3Nodes, type PgS3Nodes } from '../helpers/pg-s3-nodes.js';
import { readMetric, type RunningServer } from '../helpers/server.js';

let nodes: PgS3Nodes;
let balancer: Balancer | undefined;
const running: RunningServer[] = [];

const DRAIN = ['--drain-timeout', '60s'];
const sha = (x: Buffer): string => createHash('sha256').update(x).digest('hex');

beforeAll(async () => {
  nodes = await startPgS3Nodes('cluster-rolling');
  running.push(await nodes.startNode('n1', DRAIN), await nodes.startNode('n2', DRAIN));
  balancer = await startBalancer(join(nodes.dir, 'nginx'), running.map((n) => n.url));
}, 120_000);

afterAll(async () => {
  await balancer?.stop();
  await nodes?.stop();
});

/** Polls until `done` holds (at most 60 s). */
async function until(done: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached in 60 s');
}

const received = (node: RunningServer) => readMetric(node, 'ferry_chunk_body_bytes_received_total').catch(() => 0);

describe('a rolling restart behind nginx', () => {
  it('each node stopped (SIGTERM) and started again in turn while four uploads run: all complete, byte for byte', async () => {
    const { token } = await nodes.user(running[0], 'rita');
    const files = await Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        // 48 MiB at 2 MB/s: some 24 s of upload, longer than the first node's drain (the
        // transfers it has in flight end first, ~12 s here), so the second node still takes
        // part when its turn comes (with 20 MiB a quiet machine finished them all before).
        const data = randomBytes(48 * 1024 * 1024);
        const local = join(nodes.dir, `rolling-${i}.bin`);
        await writeFile(local, data);
        return { data, local, remote: `/rolling-${i}.bin` };
      }),
    );
    const puts = files.map((f, i) =>
      runFerry(['put', f.local, f.remote, '--server', balancer!.url, '--token', token, '--bwlimit', '2M'], { env: { HOME: join(nodes.dir, `home-${i}`) } }),
    );
    for (const i of [0, 1]) {
      const node = running[i];
      // The node is taking part in the uploads when it goes.
      const before = await received(node);
      await until(async () => (await received(node)) > before);
      // A drain ends when the transfers in flight are done, not at its deadline (60 s here):
      // the balancer's keep-alive connections to the node are closed as their responses end.
      const exited = new Promise<void>((r) => node.process.once('exit', () => r()));
      node.process.kill('SIGTERM');
      await exited;
      expect({ code: node.process.exitCode, signal: node.process.signalCode }, node.output()).toEqual({ code: 0, signal: null });
      expect(node.output()).not.toMatch(/drain deadline passed/);
      running[i] = await nodes.startNode(`n${i + 1}`, [...DRAIN, '--addr', `127.0.0.1:${node.port}`]);
    }
    const results = await Promise.all(puts);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    for (const f of files) {
      const got = await nodes.api(running[0], `/api/v1/files${f.remote}`, { token });
      expect(got.status).toBe(200);
      expect(sha(Buffer.from(await got.arrayBuffer()))).toBe(sha(f.data));
    }
    const sessions = await ok<unknown[]>(await nodes.api(running[1], '/api/v1/admin/uploads'), 200);
    expect(sessions).toEqual([]);
  }, 180_000);
});
