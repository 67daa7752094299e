/**
 * The CLI against a server that answers without end. Whatever answers at the server's
 * address (a hostile server, a mistyped URL) chooses how long its answers are; the CLI read
 * error answers and JSON answers whole into memory, and an endless one grew `ferry ls` to
 * 22 GB before the kernel killed it. Now an error answer is read up to 64 KiB (its status
 * still says what failed) and a JSON answer up to 256 MiB, then the connection is dropped.
 *
 * The hostile server here stops on its own after a bounded length, so that a CLI that reads
 * everything finishes (and the test fails) instead of taking the machine's memory.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_ERROR_BODY_BYTES, MAX_JSON_ANSWER_BYTES } from '../../src/client/wire.js';
import { runFerry } from '../helpers/cli.js';

const MiB = 1024 * 1024;

interface Flood {
  url: string;
  /** Bytes the server wrote before the client went away, and whether it got to the end. */
  outcome: Promise<{ written: number; finished: boolean }>;
  server: Server;
}

/** A server answering every request with `status`, `head` and then `total` bytes of `x`, written as fast as the client reads. */
async function flood(status: number, head: string, total: number): Promise<Flood> {
  let settle!: (o: { written: number; finished: boolean }) => void;
  const outcome = new Promise<{ written: number; finished: boolean }>((resolve) => (settle = resolve));
  const piece = Buffer.alloc(MiB, 'x');
  const server = createServer((_req, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    let written = 0;
    const pump = (): void => {
      if (written === 0) {
        res.write(head);
        written += head.length;
      }
      while (written < total) {
        const n = Math.min(piece.length, total - written);
        written += n;
        if (!res.write(n === piece.length ? piece : piece.subarray(0, n))) return;
      }
      res.end(() => settle({ written, finished: true }));
    };
    res.on('drain', pump);
    res.on('close', () => settle({ written, finished: false }));
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, outcome, server };
}

let current: Flood | undefined;
afterEach(async () => {
  current?.server.closeAllConnections();
  await new Promise<void>((resolve) => (current ? current.server.close(() => resolve()) : resolve()));
  current = undefined;
});

describe('ferry against a server whose answers do not end', () => {
  it('reads an error answer only as far as a message goes, and still reports the status', async () => {
    const total = 128 * MiB;
    current = await flood(500, '{"error":{"code":"FERRY_ERR_IO","message":"', total);
    const r = await runFerry(['ls', '/', '--server', current.url, '--token', 'ferry_0000000000000000_x', '--retries', '0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/500|internal|server/i);
    const { written, finished } = await current.outcome;
    expect(finished).toBe(false);
    // What the client read, and what the buffers on the way held besides (sockets, streams:
    // 18 MiB seen under load).
    expect(written).toBeLessThan(MAX_ERROR_BODY_BYTES + 32 * MiB);
  });

  it('refuses a JSON answer longer than any Ferry server sends, without reading the rest', async () => {
    const total = MAX_JSON_ANSWER_BYTES + 64 * MiB;
    current = await flood(200, '{"entries":["', total);
    const r = await runFerry(['ls', '/', '--server', current.url, '--token', 'ferry_0000000000000000_x', '--retries', '0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('longer than 256 MiB');
    const { written, finished } = await current.outcome;
    expect(finished).toBe(false);
    expect(written).toBeLessThan(MAX_JSON_ANSWER_BYTES + 32 * MiB);
  });
});
