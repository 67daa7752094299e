import { describe, expect, it } from 'vitest';
import type { S3Client } from '@aws-sdk/client-s3';
import { S3Backend } from './s3-backend.js';
import { fromS3Error } from './s3-errors.js';

const MiB = 1024 * 1024;

describe('fromS3Error', () => {
  const sdk = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status }, ...extra });

  it('maps S3 error codes and statuses to Ferry codes, keeping the cause', () => {
    const cases: [Error, string, boolean][] = [
      [sdk('NoSuchKey', 404), 'FERRY_ERR_NOT_FOUND', false],
      [sdk('NotFound', 404), 'FERRY_ERR_NOT_FOUND', false],
      [sdk('NoSuchBucket', 404), 'FERRY_ERR_CONFIG', false],
      [sdk('AccessDenied', 403), 'FERRY_ERR_PERMISSION', false],
      [sdk('SignatureDoesNotMatch', 403), 'FERRY_ERR_AUTH_INVALID', false],
      [sdk('InvalidRange', 416), 'FERRY_ERR_RANGE_NOT_SATISFIABLE', false],
      [sdk('PreconditionFailed', 412), 'FERRY_ERR_PRECONDITION_FAILED', false],
      [sdk('SlowDown', 503), 'FERRY_ERR_RATE_LIMITED', true],
      [sdk('ServiceUnavailable', 503), 'FERRY_ERR_UNAVAILABLE', true],
      [sdk('InternalError', 500), 'FERRY_ERR_SERVER', true],
      [sdk('NotImplemented', 501), 'FERRY_ERR_UNSUPPORTED', false],
      [sdk('AbortError'), 'FERRY_ERR_ABORTED', false],
      [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'FERRY_ERR_NETWORK', true],
    ];
    for (const [err, code, retryable] of cases) {
      const translated = fromS3Error(err, 'k');
      expect(translated.code, err.name).toBe(code);
      expect(translated.retryable, err.name).toBe(retryable);
      expect(translated.cause).toBe(err);
    }
  });

  it('keeps a Retry-After the server sent', () => {
    const err = sdk('SlowDown', 503, { $response: { headers: { 'retry-after': '3' } } });
    expect(fromS3Error(err, 'k').retryAfterMs).toBe(3000);
  });
});

/** A client double that records commands and answers from a script. */
function scriptedClient(answer: (name: string, input: Record<string, unknown>) => unknown) {
  const calls: { name: string; input: Record<string, unknown> }[] = [];
  const client = {
    async send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      calls.push({ name: command.constructor.name, input: command.input });
      return answer(command.constructor.name, command.input);
    },
    destroy() {},
  };
  return { client: client as unknown as S3Client, calls };
}

describe('S3Backend details', () => {
  it('reports an ETag as MD5 only when it is a plain MD5 (not multipart, not SSE-KMS)', async () => {
    const heads: Record<string, unknown>[] = [
      { ContentLength: 3, ETag: '"900150983cd24fb0d6963f7d28e17f72"' },
      { ContentLength: 3, ETag: '"900150983cd24fb0d6963f7d28e17f72-2"' },
      { ContentLength: 3, ETag: '"900150983cd24fb0d6963f7d28e17f72"', ServerSideEncryption: 'aws:kms' },
    ];
    let i = 0;
    const { client } = scriptedClient(() => heads[i++]);
    const b = new S3Backend({ bucket: 'bkt', client });
    expect((await b.stat('a')).hashes).toEqual({ md5: '900150983cd24fb0d6963f7d28e17f72' });
    expect((await b.stat('a')).hashes).toBeUndefined();
    expect((await b.stat('a')).hashes).toBeUndefined();
    const untrusting = new S3Backend({ bucket: 'bkt', client: scriptedClient(() => heads[0]).client, md5FromEtag: false });
    expect((await untrusting.stat('a')).hashes).toBeUndefined();
    expect(untrusting.features().hashes).toEqual([]);
  });

  it('copies past copyCutoff with UploadPartCopy ranges, keeping metadata, and aborts on failure', async () => {
    const head = { ContentLength: 12 * MiB, ETag: '"e"', ContentType: 'application/octet-stream', Metadata: { mtime: '1600000000.000' } };
    const { client, calls } = scriptedClient((name, input) => {
      if (name === 'HeadObjectCommand') return head;
      if (name === 'CreateMultipartUploadCommand') return { UploadId: 'up-1' };
      if (name === 'UploadPartCopyCommand') return { CopyPartResult: { ETag: `"p${String(input.PartNumber)}"` } };
      if (name === 'CompleteMultipartUploadCommand') return { ETag: '"done-3"' };
      throw new Error(`unexpected ${name}`);
    });
    const b = new S3Backend({ bucket: 'bkt', prefix: 'pre', client, copyCutoff: 8 * MiB, copyPartSize: 5 * MiB });
    const info = await b.copy('src key#1', 'dst');
    expect(info).toMatchObject({ key: 'dst', size: 12 * MiB, mtime: 1_600_000_000_000 });
    const create = calls.find((c) => c.name === 'CreateMultipartUploadCommand');
    expect(create?.input).toMatchObject({ Key: 'pre/dst', Metadata: { mtime: '1600000000.000' } });
    const parts = calls.filter((c) => c.name === 'UploadPartCopyCommand').map((c) => [c.input.PartNumber, c.input.CopySourceRange, c.input.CopySource]);
    expect(parts.sort()).toEqual([
      [1, 'bytes=0-5242879', 'bkt/pre/src%20key%231'],
      [2, 'bytes=5242880-10485759', 'bkt/pre/src%20key%231'],
      [3, 'bytes=10485760-12582911', 'bkt/pre/src%20key%231'],
    ]);
    const complete = calls.find((c) => c.name === 'CompleteMultipartUploadCommand');
    expect(complete?.input).toMatchObject({ UploadId: 'up-1', MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"p1"' }, { PartNumber: 2, ETag: '"p2"' }, { PartNumber: 3, ETag: '"p3"' }] } });

    const failing = scriptedClient((name) => {
      if (name === 'HeadObjectCommand') return head;
      if (name === 'CreateMultipartUploadCommand') return { UploadId: 'up-2' };
      if (name === 'UploadPartCopyCommand') throw Object.assign(new Error('slow'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
      return {};
    });
    const b2 = new S3Backend({ bucket: 'bkt', client: failing.client, copyCutoff: 8 * MiB, copyPartSize: 5 * MiB });
    await expect(b2.copy('a', 'b')).rejects.toMatchObject({ code: 'FERRY_ERR_RATE_LIMITED', retryable: true });
    expect(failing.calls.some((c) => c.name === 'AbortMultipartUploadCommand' && c.input.UploadId === 'up-2')).toBe(true);
  });
});
