/**
 * Runs s3rver (a real S3-protocol server) in its own process for the tests:
 *   node test/helpers/s3rver-process.mjs DIRECTORY BUCKET...
 * prints one line `{"port":N}` when it listens, and stops on SIGTERM or when stdin closes.
 *
 * Two fix-ups make s3rver 3.7 hold S3's rules where its file-system store does not:
 * - it decodes `x-amz-copy-source` with decodeURI, which leaves %23 %3F %2B %26 %3D ... encoded,
 *   so copies of keys with `#?+&=` miss; the header is re-encoded to what decodeURI inverts;
 * - it stores each key segment as a file name plus a `._S3rver_object` suffix, so a 255-byte
 *   segment (valid on S3, which allows 1024-byte keys) exceeds NAME_MAX; long segments are
 *   stored under a digest, mapped back in this process;
 * - its listing walks directories with a filter that never descends below a common prefix, so
 *   `c/` is missing from a delimited listing when all of c's objects are deeper (`c/d/e`), and a
 *   truncated page holding only common prefixes crashes its continuation token: listing is
 *   replaced by a plain one (every key, sorted by UTF-8 bytes as S3 sorts, grouped by the
 *   delimiter, `maxKeys` objects per page);
 * - a range of an empty object gets a 206 announcing one byte that never comes: it gets S3's 416;
 * - a PUT truncates and rewrites the object's file in place, so a GET in progress reads a mix
 *   of old and new bytes (S3 never shows one): the new bytes go to a temporary file renamed
 *   over the old one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem.js');
const objectController = require('s3rver/lib/controllers/object.js');

const [directory, ...buckets] = process.argv.slice(2);

const longNames = new Map();
const LONG = 180;
const encodeKeyPath = FilesystemStore.encodeKeyPath;
const decodeKeyPath = FilesystemStore.decodeKeyPath;
FilesystemStore.encodeKeyPath = (key) =>
  encodeKeyPath(
    key
      .split('/')
      .map((segment) => {
        if (Buffer.byteLength(segment) <= LONG) return segment;
        const alias = `~long~${createHash('sha256').update(segment).digest('hex')}`;
        longNames.set(alias, segment);
        return alias;
      })
      .join('/'),
  );
FilesystemStore.decodeKeyPath = (keyPath) =>
  decodeKeyPath(keyPath)
    .split('/')
    .map((segment) => longNames.get(segment) ?? segment)
    .join('/');

const { walk } = require('s3rver/lib/utils.js');
const S3Object = require('s3rver/lib/models/object.js');
const OBJECT_SUFFIX = '._S3rver_object';
const byBytes = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));
FilesystemStore.prototype.listObjects = async function listObjects(bucket, options) {
  const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options;
  const bucketPath = this.getBucketPath(bucket);
  const all = [];
  for (const file of walk(bucketPath)) {
    if (file.endsWith(OBJECT_SUFFIX)) all.push(FilesystemStore.decodeKeyPath(file.slice(bucketPath.length + 1, -OBJECT_SUFFIX.length)));
  }
  all.sort(byBytes);
  const keys = [];
  const commonPrefixes = new Set();
  let isTruncated = false;
  for (const key of all) {
    if (!key.startsWith(prefix) || byBytes(key, startAfter) <= 0) continue;
    const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    if (cut !== -1) {
      commonPrefixes.add(key.slice(0, cut + delimiter.length));
      continue;
    }
    if (keys.length >= maxKeys) {
      isTruncated = true;
      break;
    }
    keys.push(key);
  }
  const objects = [];
  for (const key of keys) {
    const metadata = await this.getMetadata(bucket, key).catch((err) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
    if (metadata !== undefined) objects.push(new S3Object(bucket, key, null, metadata));
  }
  return { objects, commonPrefixes: [...commonPrefixes].sort(byBytes), isTruncated };
};

// A range of an empty object is answered 206 with `Content-Length: 1` and no byte (the
// connection then hangs); S3 answers 416 InvalidRange.
const getObject = FilesystemStore.prototype.getObject;
FilesystemStore.prototype.getObject = async function (bucket, key, options) {
  if (options && (options.start !== undefined || options.end)) {
    const metadata = await this.getMetadata(bucket, key).catch((err) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
    if (metadata === null) return null;
    if (Number(metadata['content-length']) === 0) {
      const object = new S3Object(bucket, key, null, metadata);
      object.range = { start: options.start || 0, end: 0 };
      return object;
    }
  }
  return getObject.call(this, bucket, key, options);
};

FilesystemStore.prototype.putObject = async function (object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await mkdir(path.dirname(objectPath), { recursive: true });
  const temp = `${objectPath}.${randomBytes(6).toString('hex')}.tmp`;
  const md5 = createHash('md5');
  let size = 0;
  try {
    if (Buffer.isBuffer(object.content)) {
      md5.update(object.content);
      size = object.content.length;
      await writeFile(temp, object.content);
    } else {
      const count = new Transform({
        transform(chunk, _encoding, callback) {
          md5.update(chunk);
          size += chunk.length;
          callback(null, chunk);
        },
      });
      await pipeline(object.content, count, createWriteStream(temp));
    }
    await rename(temp, objectPath);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  const digest = md5.digest('hex');
  await this.putMetadata(object.bucket, object.key, object.metadata, digest);
  return { size, md5: digest };
};

const putObjectCopy = objectController.putObjectCopy;
objectController.putObjectCopy = function (ctx) {
  const header = ctx.headers['x-amz-copy-source'];
  if (typeof header === 'string') ctx.headers['x-amz-copy-source'] = encodeURI(decodeURIComponent(header));
  return putObjectCopy.call(this, ctx);
};

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory,
  silent: process.env.S3RVER_DEBUG !== "1",
  configureBuckets: buckets.map((name) => ({ name })),
});
const { port } = await server.run();
process.stdout.write(JSON.stringify({ port }) + '\n');
const stop = () => server.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
