import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Backend } from '../../src/backends/s3/s3-backend.js';
import { describeStorageBackend } from '../conformance/storage-backend.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';

const MiB = 1024 * 1024;
let s3: S3rverHandle;
beforeAll(async () => {
  s3 = await startS3rver(['ferry-conformance', 'ferry-s3-extra']);
});
afterAll(async () => {
  await s3?.stop();
});

/** A fresh prefix per test (the bucket is shared); 5 MiB parts so 20 MiB objects go multipart. */
async function emptyBackend(options: { maxKeys?: number } = {}) {
  const prefix = `run-${randomBytes(6).toString('hex')}`;
  const backend = new S3Backend({ ...s3.options, bucket: 'ferry-conformance', prefix, partSize: 5 * MiB, ...options });
  return { backend, cleanup: async () => {} };
}

describeStorageBackend('s3 (s3rver)', () => emptyBackend());
describeStorageBackend('s3 (s3rver, 7-key list pages)', () => emptyBackend({ maxKeys: 7 }), { largeBytes: 6 * MiB, unknownSizeBytes: 6 * MiB });

describe('S3Backend against s3rver', () => {
  it('lists past 1000 keys across pages (ListObjectsV2 continuation), with default and small pages', async () => {
    const b = new S3Backend({ ...s3.options, bucket: 'ferry-s3-extra', prefix: 'many' });
    const keys = Array.from({ length: 1010 }, (_, i) => `k/${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 25) await Promise.all(keys.slice(i, i + 25).map((k) => b.write(k, Buffer.from(k))));
    for (const maxKeys of [1000, 150]) {
      const paged = new S3Backend({ ...s3.options, bucket: 'ferry-s3-extra', prefix: 'many', maxKeys });
      const seen: string[] = [];
      for await (const e of paged.list('k', { recursive: true })) seen.push(e.key);
      expect(seen.length, `maxKeys ${maxKeys}`).toBe(1010);
      expect(new Set(seen).size).toBe(1010);
      expect(seen.sort()).toEqual(keys);
      const top: string[] = [];
      for await (const e of paged.list('')) top.push(`${e.type}:${e.key}`);
      expect(top).toEqual(['dir:k']);
      await paged.close();
    }
    await b.close();
  });

  it('keeps objects under the prefix, visible to any S3 client, with rclone-style mtime metadata', async () => {
    const b = new S3Backend({ ...s3.options, bucket: 'ferry-s3-extra', prefix: 'visible/deeper' });
    await b.write('a/b.txt', Buffer.from('seen'), { mtime: 1_600_000_000_500 });
    const { HeadObjectCommand, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const head = await b.client.send(new HeadObjectCommand({ Bucket: 'ferry-s3-extra', Key: 'visible/deeper/a/b.txt' }));
    expect(head.Metadata?.mtime).toBe('1600000000.500');
    const listed = await b.client.send(new ListObjectsV2Command({ Bucket: 'ferry-s3-extra', Prefix: 'visible/' }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(['visible/deeper/a/b.txt']);
    await b.close();
  });

  it('a missing bucket is a configuration error, an unreachable endpoint a retryable network error', async () => {
    const missing = new S3Backend({ ...s3.options, bucket: 'no-such-bucket' });
    await expect(missing.stat('x')).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' }); // HEAD: only a 404 status
    await expect(missing.write('x', Buffer.from('x'))).rejects.toMatchObject({ code: 'FERRY_ERR_CONFIG' });
    await missing.close();
    const down = new S3Backend({ ...s3.options, endpoint: 'http://127.0.0.1:1', bucket: 'ferry-s3-extra', maxAttempts: 1 });
    const err = await down.stat('x').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_ERR_NETWORK', retryable: true });
    await down.close();
  });
});
