/**
 * Many ferry clients at once from one process: one FerryClient (its own connection pool)
 * per file, all uploads started together. The bench's "200 concurrent clients" for ferry.
 *
 *   FERRY_TOKEN=... node dist/benchmarks/tools/ferry-load.js SERVER LOCAL1 REMOTE1 LOCAL2 REMOTE2 ...
 *
 * Prints {"files","bytesTransferred"} on stdout; exits 1 if any upload failed.
 */
import { FerryClient } from '../../src/client/client.js';
import { Args } from '../lib/args.js';

const [server, ...pairs] = new Args().only([], Infinity).positionals();
const token = process.env.FERRY_TOKEN;
if (!server || pairs.length === 0 || pairs.length % 2 !== 0) {
  process.stderr.write('usage: ferry-load.js SERVER LOCAL REMOTE [LOCAL REMOTE ...]\n');
  process.exit(2);
}

let bytesTransferred = 0;
const jobs: Promise<void>[] = [];
for (let i = 0; i < pairs.length; i += 2) {
  const client = new FerryClient({ server, token });
  jobs.push(
    client
      .putFile(pairs[i], pairs[i + 1])
      .then((r) => {
        bytesTransferred += r.bytesTransferred;
      })
      .finally(() => client.close()),
  );
}
const results = await Promise.allSettled(jobs);
const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
for (const f of failed.slice(0, 5)) process.stderr.write(`upload failed: ${String((f.reason as Error)?.stack ?? f.reason)}\n`);
process.stdout.write(JSON.stringify({ files: pairs.length / 2, failed: failed.length, bytesTransferred }) + '\n');
process.exitCode = failed.length ? 1 : 0;
