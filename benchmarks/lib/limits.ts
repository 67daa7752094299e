/**
 * Physical limits on this machine, measured in the same run as the tools, so each figure
 * can be read against what the hardware allows under the same load:
 * - SHA-256 on one core (Node/OpenSSL), in memory: ferry hashes every byte it moves;
 * - SHA-256 of the file, streamed from the page cache: the goal for an identical re-upload;
 * - sequential disk write with fsync at the end: what a durable store can absorb;
 * - loopback HTTP: `curl -T` into a trivial Node server that discards the body (and one
 *   that hashes it), the ceiling for any HTTP upload here.
 */
import { createHash, hash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { runClient } from './measure.js';

export async function sha256Memory(bytes: number): Promise<number> {
  const block = randomFillSync(Buffer.allocUnsafe(64 << 20));
  const t = performance.now();
  for (let done = 0; done < bytes; ) {
    const n = Math.min(1 << 20, bytes - done);
    const o = done % block.length;
    hash('sha256', block.subarray(o, o + n), 'hex');
    done += n;
  }
  return (performance.now() - t) / 1000;
}

export async function sha256File(path: string): Promise<number> {
  const t = performance.now();
  const h = createHash('sha256');
  for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(piece as Buffer);
  h.digest();
  return (performance.now() - t) / 1000;
}

export async function diskWrite(dir: string, bytes: number): Promise<number> {
  const block = randomFillSync(Buffer.allocUnsafe(1 << 20));
  const path = join(dir, 'disk-write.bin');
  const t = performance.now();
  const fh = await open(path, 'w');
  for (let done = 0; done < bytes; done += block.length) await fh.write(block, 0, Math.min(block.length, bytes - done));
  await fh.sync();
  await fh.close();
  const s = (performance.now() - t) / 1000;
  await rm(path, { force: true });
  return s;
}

/** `curl -T file` into a Node HTTP server in this process that drops (or hashes) the body. */
export async function loopbackHttp(file: string, hashBody: boolean): Promise<number> {
  const server: Server = createServer((req, res) => {
    const h = hashBody ? createHash('sha256') : undefined;
    req.on('data', (d: Buffer) => h?.update(d));
    req.on('end', () => {
      res.end(h ? h.digest('hex') : 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    const r = await runClient({ cmd: 'curl', args: ['-sS', '-f', '-o', '/dev/null', '-T', file, `http://127.0.0.1:${port}/sink`] });
    return r.wallSeconds;
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
