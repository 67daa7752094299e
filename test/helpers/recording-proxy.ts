/**
 * A TCP proxy in front of a server that looks for marker strings in every byte crossing it,
 * both ways, without keeping the bytes (a browser test sends tens of MiB through it): each
 * connection's direction keeps only the tail a marker could straddle.
 */
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface RecordingProxy {
  url: string;
  /** Bytes that crossed, both ways. */
  bytes(): number;
  /** Whether `marker` (one of those given at start) crossed. */
  saw(marker: string): boolean;
  /** Forgets what crossed so far (bytes and markers), to look at one command's traffic alone. */
  reset(): void;
  close(): Promise<void>;
}

export async function startRecordingProxy(port: number, markers: string[]): Promise<RecordingProxy> {
  const wanted = markers.map((m) => Buffer.from(m));
  const keep = Math.max(...wanted.map((m) => m.length)) - 1;
  const hits = new Set<string>();
  let total = 0;
  const watch = () => {
    let tail = Buffer.alloc(0);
    return (d: Buffer) => {
      total += d.length;
      const window = Buffer.concat([tail, d]);
      wanted.forEach((m, i) => window.includes(m) && hits.add(markers[i]));
      tail = window.subarray(Math.max(0, window.length - keep));
    };
  };
  const sockets = new Set<{ destroy(): void }>();
  const server: Server = createServer((c) => {
    const up = connect(port, '127.0.0.1');
    sockets.add(c).add(up);
    c.on('data', watch());
    up.on('data', watch());
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bytes: () => total,
    saw: (m) => hits.has(m),
    reset: () => {
      hits.clear();
      total = 0;
    },
    close: () => {
      for (const s of sockets) s.destroy(); // keep-alive connections of a browser would hold the close
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The files under `dir` (recursively) whose bytes contain `marker`. */
export async function filesContaining(dir: string, marker: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesContaining(p, marker)));
    else if ((await readFile(p)).includes(marker)) out.push(p);
  }
  return out;
}
