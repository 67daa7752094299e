/**
 * Storage backends end to end: MB/s writing and reading one large object through each
 * backend against real servers on loopback (sshd for SFTP, s3rver for S3), and, for SFTP,
 * the same transfer through ssh2's plain (one request at a time) streams for comparison.
 *
 *   npx tsc -p tsconfig.json && node dist/benchmarks/storage-throughput.js [MiB]
 *
 * Needs root and openssh-server (as the sftp tests do). Prints one JSON line per measure.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable, Readable } from 'node:stream';
import { Client, type SFTPWrapper } from 'ssh2';
import { readFileSync } from 'node:fs';
import { S3Backend } from '../src/backends/s3/s3-backend.js';
import { SftpBackend } from '../src/backends/sftp/sftp-backend.js';
import type { StorageBackend } from '../src/core/storage.js';
import { startS3rver } from '../test/helpers/s3rver.js';
import { startSshd } from '../test/helpers/sshd.js';
import { Args } from './lib/args.js';

const MiB = 1024 * 1024;
const size = new Args().only([], 1).countAt(0, 'MiB', 256) * MiB;
const block = randomBytes(MiB);

function* body(): Generator<Buffer> {
  for (let sent = 0; sent < size; sent += MiB) yield block;
}

function report(what: string, bytes: number, ms: number): void {
  process.stdout.write(JSON.stringify({ what, MiB: bytes / MiB, ms: Math.round(ms), MBps: Math.round(bytes / 1e6 / (ms / 1000)) }) + '\n');
}

async function drain(stream: Readable): Promise<number> {
  let n = 0;
  const hash = createHash('sha256');
  await pipeline(stream, new Writable({ write(chunk: Buffer, _e, cb) { n += chunk.length; hash.update(chunk); cb(); } }));
  return n;
}

async function timeBackend(label: string, b: StorageBackend): Promise<void> {
  let t = performance.now();
  await b.write('bench.bin', Readable.from(body()), { size });
  report(`${label} write`, size, performance.now() - t);
  t = performance.now();
  const n = await drain(await b.read('bench.bin'));
  report(`${label} read`, n, performance.now() - t);
}

async function plainSsh2(port: number, keyFile: string, remote: string): Promise<void> {
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject);
    client.connect({ host: '127.0.0.1', port, username: 'root', privateKey: readFileSync(keyFile) });
  });
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
  let t = performance.now();
  await pipeline(Readable.from(body()), sftp.createWriteStream(remote));
  report('sftp plain ssh2 createWriteStream', size, performance.now() - t);
  t = performance.now();
  const n = await drain(sftp.createReadStream(remote));
  report('sftp plain ssh2 createReadStream', n, performance.now() - t);
  client.end();
}

const sshd = await startSshd();
try {
  const root = path.join(sshd.root, 'bench');
  await mkdir(root, { recursive: true });
  const common = { host: '127.0.0.1', port: sshd.port, user: 'root', keyFile: sshd.clientKeyFile, knownHostsFile: sshd.knownHostsFile, root };
  const sftp = await SftpBackend.connect(common);
  await timeBackend('sftp pipelined (SftpBackend, window 32)', sftp);
  await sftp.close();
  const serial = await SftpBackend.connect({ ...common, window: 1 });
  await timeBackend('sftp one request at a time (SftpBackend, window 1)', serial);
  await serial.close();
  await plainSsh2(sshd.port, sshd.clientKeyFile, path.join(root, 'plain.bin'));
} finally {
  await sshd.stop();
}

const s3 = await startS3rver(['bench-bucket']);
try {
  const b = new S3Backend({ ...s3.options, bucket: 'bench-bucket' });
  await timeBackend('s3 (s3rver, 16 MiB parts, 4 at once)', b);
  await b.close();
  const serial = new S3Backend({ ...s3.options, bucket: 'bench-bucket', queueSize: 1 });
  await timeBackend('s3 (s3rver, 16 MiB parts, one at a time)', serial);
  await serial.close();
} finally {
  await s3.stop();
}
