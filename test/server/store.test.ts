/**
 * The server keeping its chunks on other backends (`ferry serve --store`): a real s3rver
 * process, uploads and downloads through the real HTTP API, and the objects looked at in the
 * bucket with a plain S3 client.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACK_FRAME_HEADER_BYTES } from '../../src/core/protocol.js';
import { fileHashOf } from '../../src/core/manifest.js';
import { parseStoreSpec } from '../../src/server/config.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { sha256, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';

let s3: S3rverHandle;
let client: S3Client;
beforeAll(async () => {
  s3 = await startS3rver(['ferry-store', 'ferry-routes', 'ferry-cli']);
  client = new S3Client({ ...s3.options, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
});
afterAll(async () => {
  client?.destroy();
  await s3?.stop();
});

/** `s3:bucket/prefix?endpoint=…` for the test server. */
const remote = (bucketAndPrefix: string) =>
  `s3:${bucketAndPrefix}?endpoint=${encodeURIComponent(s3.endpoint)}&accessKeyId=S3RVER&secretAccessKey=S3RVER&forcePathStyle=true`;

async function bucketKeys(bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) keys.push(o.Key!);
    token = page.NextContinuationToken;
  } while (token);
  return keys.sort();
}

async function localObjects(t: TestServer): Promise<string[]> {
  const root = path.join(t.dataDir, 'store');
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(dir, e.name), `${rel}${e.name}/`);
      else out.push(rel + e.name);
    }
  };
  await walk(root, '');
  return out.sort();
}

async function download(t: TestServer, p: string): Promise<Buffer> {
  const res = await t.api('/api/v1/files' + p);
  expect(res.status, p).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe('ferry serve --store on S3 (s3rver)', () => {
  it('keeps every chunk in the bucket: upload, download, restart, download again', async () => {
    const t = await startTestServer({ store: [parseStoreSpec(remote('ferry-store/chunk-area'))] });
    try {
      const data = randomBytes(1024 * 1024 + 123);
      expect((await uploadBuffer(t, '/photos/big.bin', data)).status).toBe(200);
      expect((await download(t, '/photos/big.bin')).equals(data)).toBe(true);
      const keys = await bucketKeys('ferry-store', 'chunk-area/');
      expect(keys).toHaveLength(17); // 64 KiB pieces
      for (const k of keys) expect(k).toMatch(/^chunk-area\/chunks\/[0-9a-f]{2}\/[0-9a-f]{64}$/);
      expect(await localObjects(t)).toEqual([]);
      await t.restart();
      expect((await download(t, '/photos/big.bin')).equals(data)).toBe(true);
      const ranged = await t.api('/api/v1/files/photos/big.bin', { headers: { range: 'bytes=100000-100009' } });
      expect(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(100000, 100010))).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('routes new chunks by upload path; dedup reads them where they are; GC deletes from the recorded store', async () => {
    const t = await startTestServer({ store: [parseStoreSpec(`/archive=${remote('ferry-routes/cold')}`), parseStoreSpec('/=local')] });
    try {
      const archived = randomBytes(300 * 1024);
      const hot = randomBytes(200 * 1024);
      expect((await uploadBuffer(t, '/archive/2020/a.bin', archived)).status).toBe(200);
      expect((await uploadBuffer(t, '/docs/b.bin', hot)).status).toBe(200);
      expect(await bucketKeys('ferry-routes')).toHaveLength(5);
      expect(await localObjects(t)).toHaveLength(4);
      // The same bytes under /docs: nothing new is stored; the chunks are read from S3.
      expect((await uploadBuffer(t, '/docs/copy-of-a.bin', archived)).status).toBe(200);
      expect(await bucketKeys('ferry-routes')).toHaveLength(5);
      expect(await localObjects(t)).toHaveLength(4);
      expect((await download(t, '/docs/copy-of-a.bin')).equals(archived)).toBe(true);

      // A batch of small files to /archive travels as one pack, which lands in the bucket.
      const small = Array.from({ length: 5 }, (_, i) => randomBytes(1000 + i));
      const specs = small.map((d, i) => {
        const refs = [{ hash: sha256(d), size: d.length }];
        return { path: `/archive/small/${i}`, size: d.length, hash: fileHashOf(refs), chunks: refs };
      });
      const created = (await (await t.api('/api/v1/uploads', { method: 'POST', json: { files: specs } })).json()) as { id: string };
      const framed = Buffer.concat(
        small.flatMap((d) => {
          const head = Buffer.alloc(PACK_FRAME_HEADER_BYTES);
          head.write(sha256(d), 0, 32, 'hex');
          head.writeUInt32BE(d.length, 32);
          return [head, d];
        }),
      );
      await t.api(`/api/v1/uploads/${created.id}/packs`, { method: 'POST', body: framed, headers: { 'content-type': 'application/octet-stream' } });
      expect((await t.api(`/api/v1/uploads/${created.id}/commit`, { method: 'POST' })).status).toBe(200);
      expect((await bucketKeys('ferry-routes', 'cold/packs/')).length).toBe(1);
      expect((await download(t, '/archive/small/3')).equals(small[3])).toBe(true);

      // Once no file needs them, GC removes the archive's chunks from the bucket, not from disk.
      for (const p of ['/archive/2020/a.bin', '/docs/copy-of-a.bin', ...specs.map((s) => s.path)]) {
        expect((await t.api('/api/v1/files' + p, { method: 'DELETE' })).status, p).toBeLessThan(300);
      }
      const gc = (await (await t.api('/api/v1/admin/gc', { method: 'POST', json: { graceSeconds: 0 } })).json()) as { chunks: number; packs: number };
      expect(gc).toMatchObject({ chunks: 5, packs: 1 });
      expect(await bucketKeys('ferry-routes')).toEqual([]);
      expect(await localObjects(t)).toHaveLength(4);
      expect((await download(t, '/docs/b.bin')).equals(hot)).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('takes named remotes, and refuses a store that keeps nothing', async () => {
    const remotes = { cold: { type: 's3', options: { endpoint: s3.endpoint, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true } } };
    const t = await startTestServer({ store: [parseStoreSpec('cold:ferry-store/named')], remotes });
    try {
      const data = randomBytes(70 * 1024);
      expect((await uploadBuffer(t, '/n.bin', data)).status).toBe(200);
      expect(await bucketKeys('ferry-store', 'named/')).toHaveLength(2);
    } finally {
      await t.close();
    }
    await expect(startTestServer({ store: [parseStoreSpec('channel:x')] })).rejects.toMatchObject({ code: 'FERRY_ERR_CONFIG' });
    expect(parseStoreSpec('/a/b/=s3:x?y=1')).toEqual({ prefix: '/a/b', remote: 's3:x?y=1' });
    expect(parseStoreSpec('/srv/chunks')).toEqual({ prefix: '/', remote: '/srv/chunks' });
  });

  // The README's several-nodes quick start offers both; FERRY_S3_* wins over AWS_*. s3rver
  // refuses an unknown access key id (it does not check secrets): a wrong AWS_ACCESS_KEY_ID
  // used instead would fail the start with InvalidAccessKeyId.
  for (const [what, credentials, prefix] of [
    ['AWS_* credentials', { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' }, 'srv'],
    ['FERRY_S3_ACCESS_KEY_ID/_SECRET_ACCESS_KEY', { FERRY_S3_ACCESS_KEY_ID: 'S3RVER', FERRY_S3_SECRET_ACCESS_KEY: 'S3RVER', AWS_ACCESS_KEY_ID: 'WRONG', AWS_SECRET_ACCESS_KEY: 'WRONG' }, 'own'],
  ] as const)
  it(`the real CLI: ferry serve --store s3:… with ${what} from the environment`, async () => {
    const data = await mkdtemp(path.join(tmpdir(), 'ferry-serve-s3-'));
    const token = 'cli-' + randomBytes(16).toString('hex');
    const child = spawn(process.execPath, [path.join(import.meta.dirname, '..', '..', 'bin', 'ferry.js'), 'serve', '--addr', '127.0.0.1:0', '--data', data, '--store', `s3:ferry-cli/${prefix}`], {
      env: {
        ...process.env,
        FERRY_ADMIN_TOKEN: token,
        ...credentials,
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_REGION: 'us-east-1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const lines = createInterface({ input: child.stdout! });
        lines.on('line', (line) => {
          if (line.includes('"event":"ready"')) {
            const ready = JSON.parse(line) as { url: string; store: string[] };
            expect(ready.store).toEqual([`/=s3:ferry-cli/${prefix}`]);
            resolve(ready.url);
          }
        });
        child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
      });
      const body = randomBytes(5000);
      const refs = [{ hash: sha256(body), size: body.length }];
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const created = (await (await fetch(`${url}/api/v1/uploads`, { method: 'POST', headers, body: JSON.stringify({ path: '/x.bin', size: body.length, hash: fileHashOf(refs), chunks: refs }) })).json()) as { id: string };
      await fetch(`${url}/api/v1/uploads/${created.id}/chunks/${refs[0].hash}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body });
      expect((await fetch(`${url}/api/v1/uploads/${created.id}/commit`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      const got = Buffer.from(await (await fetch(`${url}/api/v1/files/x.bin`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer());
      expect(got.equals(body)).toBe(true);
      expect(await bucketKeys('ferry-cli', `${prefix}/`)).toEqual([`${prefix}/chunks/${refs[0].hash.slice(0, 2)}/${refs[0].hash}`]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await rm(data, { recursive: true, force: true });
    }
  });
});
