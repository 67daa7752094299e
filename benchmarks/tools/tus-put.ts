/**
 * tus-js-client from Node, as a script or service would use it: each file streamed from disk
 * (an fs.ReadStream: tus-js-client reads it by ranges, no whole file in memory) in one PATCH,
 * to Ferry's tus endpoint. Several files go at once (the bench's concurrent clients).
 *
 *   FERRY_TOKEN=... node dist/benchmarks/tools/tus-put.js SERVER LOCAL1 REMOTE1 [LOCAL2 REMOTE2 ...]
 *
 * REMOTE is the file's path in the user's home (`Upload-Metadata: path, filename`).
 * Prints {"files","failed"} on stdout; exits 1 if any upload failed.
 */
import { createReadStream } from 'node:fs';
import { basename, dirname } from 'node:path/posix';
import * as tus from 'tus-js-client';
import { Args } from '../lib/args.js';

const [server, ...pairs] = new Args().only([], Infinity).positionals();
const token = process.env.FERRY_TOKEN;
if (!server || !token || pairs.length === 0 || pairs.length % 2 !== 0) {
  process.stderr.write('usage: FERRY_TOKEN=... tus-put.js SERVER LOCAL REMOTE [LOCAL REMOTE ...]\n');
  process.exit(2);
}

function upload(local: string, remote: string): Promise<void> {
  return new Promise((resolve, reject) => {
    new tus.Upload(createReadStream(local), {
      endpoint: `${server}/api/v1/tus/`,
      headers: { authorization: `Bearer ${token}` },
      metadata: { filename: basename(remote), path: dirname(remote) },
      retryDelays: [0, 1000, 3000],
      onError: reject,
      onSuccess: () => resolve(),
    }).start();
  });
}

const jobs: Promise<void>[] = [];
for (let i = 0; i < pairs.length; i += 2) jobs.push(upload(pairs[i], pairs[i + 1]));
const results = await Promise.allSettled(jobs);
const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
for (const f of failed.slice(0, 5)) process.stderr.write(`upload failed: ${String((f.reason as Error)?.message ?? f.reason)}\n`);
process.stdout.write(JSON.stringify({ files: pairs.length / 2, failed: failed.length }) + '\n');
process.exitCode = failed.length ? 1 : 0;
