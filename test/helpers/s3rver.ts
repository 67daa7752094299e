/**
 * Starts a real s3rver process on 127.0.0.1 (see s3rver-process.mjs) with the given buckets,
 * in a fresh temporary directory; `stop()` ends it and removes the directory. s3rver makes its
 * ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only has in its legacy provider.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface S3rverHandle {
  endpoint: string;
  port: number;
  directory: string;
  /** Options for S3Backend / the `s3` remote type that reach this server. */
  options: { endpoint: string; forcePathStyle: true; region: string; accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

// Beside this file in the sources; from the compiled copy (dist/test/helpers) it is found in the sources too.
const here = path.dirname(fileURLToPath(import.meta.url));
const script = [path.join(here, 's3rver-process.mjs'), path.join(here, '..', '..', '..', 'test', 'helpers', 's3rver-process.mjs')].find((p) => existsSync(p))!;

export async function startS3rver(buckets: string[]): Promise<S3rverHandle> {
  const directory = await mkdtemp(path.join(tmpdir(), 'ferry-s3rver-'));
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', script, directory, ...buckets], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`s3rver exited early with code ${code}`)));
    child.once('error', reject);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    directory,
    options: { endpoint, forcePathStyle: true, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}
