/**
 * docs/architecture.md, "The chunk store on its own": its sample runs as written (imports
 * of the package pointed at the sources) on a local folder and on an S3 bucket of a real
 * s3rver, and leaves the chunk where it says, verified, with bytes that are not the chunk's
 * refused. test/package/sdk-package.test.ts compiles it against the packed package.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { S3Backend } from '../../src/backends/s3/s3-backend.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The ```ts block of the section, its `ferry` imports pointed at the sources. */
function sample(): string {
  const doc = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## The chunk store on its own'));
  const code = /^```ts\n([\s\S]*?)^```$/m.exec(section)?.[1];
  if (!code) throw new Error('no ts sample in the section');
  const entries: Record<string, string> = { ferry: 'src/index.js', 'ferry/server': 'src/entry-server.js', 'ferry/s3': 'src/entry-s3.js' };
  return code.replace(/from '(ferry(?:\/[a-z0-9]+)?)'/g, (_, name: string) => {
    if (!entries[name]) throw new Error(`the sample imports ${name}, not mapped here`);
    return `from '${join(root, entries[name])}'`;
  });
}

let runs = 0;
/** Runs the sample with `env` set; what it printed, parsed. */
async function runSample(env: Record<string, string>): Promise<{ hash: string; same: boolean; refused: string; key: string }> {
  const file = join(root, 'test', 'store', `.chunk-store-sample-${process.pid}-${++runs}.ts`);
  await writeFile(file, sample());
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  try {
    await import(file);
    expect(log).toHaveBeenCalledTimes(1);
    return JSON.parse(String(log.mock.calls[0][0])) as { hash: string; same: boolean; refused: string; key: string };
  } finally {
    log.mockRestore();
    vi.unstubAllEnvs();
    await rm(file, { force: true });
  }
}

/** The sample's chunk, short and plain: stored uncompressed. */
const CHUNK = 'a chunk is named by the SHA-256 of its bytes';

let s3: S3rverHandle;
let dirs: string[] = [];
beforeAll(async () => {
  s3 = await startS3rver(['sample-chunks']);
});
afterAll(async () => {
  await s3?.stop();
});
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

describe('the chunk store on its own (docs/architecture.md)', () => {
  it('on a local folder: stored at chunks/XX/HASH, read back verified, other bytes refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-chunk-sample-'));
    dirs.push(dir);
    const out = await runSample({ CHUNKS_DIR: dir });
    expect(out.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(out).toMatchObject({ same: true, refused: 'FERRY_ERR_HASH_MISMATCH', key: `chunks/${out.hash.slice(0, 2)}/${out.hash}` });
    // The object is where the key says, in the chunk format at rest (src/store/chunk-codec.ts: its magic, then the bytes).
    const object = await readFile(join(dir, 'objects', out.key));
    expect(object.subarray(0, 6)).toEqual(Buffer.from('\x89FRYC\n', 'latin1'));
    expect(object.toString('latin1')).toContain(CHUNK);
  });

  it('on an S3 bucket of a real s3rver, the same', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-chunk-sample-'));
    dirs.push(dir);
    const out = await runSample({
      CHUNKS_DIR: dir,
      CHUNKS_S3_ENDPOINT: s3.endpoint,
      CHUNKS_S3_BUCKET: 'sample-chunks',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
    });
    expect(out).toMatchObject({ same: true, refused: 'FERRY_ERR_HASH_MISMATCH', key: `chunks/${out.hash.slice(0, 2)}/${out.hash}` });
    const bucket = new S3Backend({ bucket: 'sample-chunks', ...s3.options });
    try {
      const keys: string[] = [];
      for await (const e of bucket.list('', { recursive: true })) if (e.type === 'file') keys.push(e.key);
      expect(keys).toEqual([out.key]);
    } finally {
      await bucket.close?.();
    }
  });
});
