/**
 * The s3 backend and its registry entry: `s3:bucket/prefix`.
 *
 * Options left unset come from the environment the AWS tools use: credentials through the
 * SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
 * AWS_PROFILE and ~/.aws, instance roles), AWS_REGION, and AWS_ENDPOINT_URL_S3 or
 * AWS_ENDPOINT_URL for S3-compatible servers.
 */
import { ConfigError } from '../../core/errors.js';
import { normalizeKey } from '../../core/path.js';
import type { BackendDefinition, BackendOptions } from '../definition.js';
import { splitLast } from '../split-last.js';

// The definition is registered at start-up by every command; the implementation (the AWS
// SDK, ~100 ms to load) only when an s3 remote is opened. Import S3Backend from
// './s3-backend.js' directly.

export const s3BackendDefinition: BackendDefinition = {
  type: 's3',
  description: 'objects in an S3 bucket (AWS or any S3-compatible server), under an optional prefix',
  options: [
    { name: 'bucket', type: 'string', required: true, description: 'the bucket' },
    { name: 'prefix', type: 'string', default: '', description: 'key prefix inside the bucket' },
    { name: 'region', type: 'string', description: 'AWS region (default AWS_REGION, else us-east-1)' },
    { name: 'endpoint', type: 'string', description: 'endpoint URL of an S3-compatible server (default AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)' },
    { name: 'forcePathStyle', type: 'boolean', description: 'path-style requests (endpoint/bucket/key); default: on when an endpoint is set' },
    { name: 'accessKeyId', type: 'string', secret: true, description: 'access key (default: the AWS SDK credential chain)' },
    { name: 'secretAccessKey', type: 'string', secret: true, description: 'secret key' },
    { name: 'sessionToken', type: 'string', secret: true, description: 'session token of temporary credentials' },
    { name: 'partSize', type: 'number', description: 'multipart part size in bytes (default 16 MiB, at least 5 MiB)' },
    { name: 'queueSize', type: 'number', description: 'parts uploaded at once (default 4)' },
    { name: 'maxKeys', type: 'number', description: 'keys per listing page, 1..1000 (default 1000)' },
    { name: 'copyCutoff', type: 'number', description: 'objects larger than this are copied part by part (default 5 GiB)' },
    { name: 'copyPartSize', type: 'number', description: 'part size of such copies (default 1 GiB)' },
    { name: 'md5FromEtag', type: 'boolean', description: 'report plain-MD5 ETags as MD5 hashes (default true; turn off for SSE-KMS buckets)' },
    { name: 'maxAttempts', type: 'number', description: 'attempts per request, SDK retries included (default 3)' },
    { name: 'idleTimeoutMs', type: 'number', description: 'a request with no byte sent or received for this long fails and is retried (default 60000)' },
  ],
  parseSpec(rest) {
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    if (bucket === '') throw new ConfigError('s3: needs a bucket (s3:bucket or s3:bucket/prefix)');
    const prefix = slash === -1 ? '' : normalizeKey(rest.slice(slash + 1));
    const out: BackendOptions = { bucket };
    if (prefix !== '') out.prefix = prefix;
    return out;
  },
  // rclone's habit: a remote without a bucket takes it from the path (`aws:bucket/prefix`).
  subPath(options, sub) {
    if (options.bucket === undefined) {
      const slash = sub.indexOf('/');
      return slash === -1 ? { ...options, bucket: sub } : { ...options, bucket: sub.slice(0, slash), prefix: sub.slice(slash + 1) };
    }
    return { ...options, prefix: [options.prefix, sub].filter((p) => p !== undefined && p !== '').join('/') };
  },
  parentOf(options) {
    const split = splitLast(String(options.prefix ?? ''));
    return split === undefined ? undefined : { options: { ...options, prefix: split.parent }, name: split.name };
  },
  async factory(options) {
    const { S3Backend } = await import('./s3-backend.js');
    const endpoint = (options.endpoint as string | undefined) ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    return new S3Backend({
      bucket: options.bucket as string,
      prefix: options.prefix as string,
      region: options.region as string | undefined,
      endpoint,
      forcePathStyle: (options.forcePathStyle as boolean | undefined) ?? endpoint !== undefined,
      accessKeyId: options.accessKeyId as string | undefined,
      secretAccessKey: options.secretAccessKey as string | undefined,
      sessionToken: options.sessionToken as string | undefined,
      partSize: options.partSize as number | undefined,
      queueSize: options.queueSize as number | undefined,
      maxKeys: options.maxKeys as number | undefined,
      copyCutoff: options.copyCutoff as number | undefined,
      copyPartSize: options.copyPartSize as number | undefined,
      md5FromEtag: options.md5FromEtag as boolean | undefined,
      maxAttempts: options.maxAttempts as number | undefined,
      idleTimeoutMs: options.idleTimeoutMs as number | undefined,
    });
  },
};
