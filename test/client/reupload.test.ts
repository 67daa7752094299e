/**
 * Uploads over a file the server already has: the client chunks the local file along the
 * remote copy's chunk list (src/algo/chunk-guide.ts). Checked against a real server over
 * real HTTP, by its byte counters, by the file hash (the same as plain chunking gives) and
 * byte for byte on the way back; and with a remote copy whose chunks are not of this
 * chunking, which must change nothing but the speed.
 */
import { utimesSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOfFile } from '../../src/algo/file-hash.js';
import { FerryClient } from '../../src/client/client.js';
import type { ChunkingParams } from '../../src/core/manifest.js';
import { xorshiftBytes as bytes } from '../helpers/cdc-reference.js';
import { sha256, startTestServer, uploadBuffer, metricSum, type TestServer } from '../helpers/in-process-server.js';

/** Small chunks (64 KiB on average) so that a few MiB make a file of many chunks. */
const CHUNKING: ChunkingParams = { algorithm: 'fastcdc-v1', minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024, normalization: 0 };
const MiB = 1024 * 1024;

let t: TestServer;
let client: FerryClient;
let dir: string;
beforeAll(async () => {
  t = await startTestServer({ chunking: CHUNKING });
  client = new FerryClient({ server: t.url, token: t.token });
  dir = mkdtempSync(join(tmpdir(), 'ferry-reupload-'));
});
afterAll(async () => {
  await client.close();
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const received = () => metricSum(t, 'ferry_chunk_wire_bytes_received_total');

/** Uploads `data` from a local file to `remote`; what travelled, and the remote entry. */
async function put(data: Buffer, remote: string, mtime = new Date()): Promise<{ wire: number; sent: number; reused: number; local: string }> {
  const local = join(dir, remote.replace(/\//g, '_'));
  writeFileSync(local, data);
  utimesSync(local, mtime, mtime);
  const before = await received();
  const r = await client.putFile(local, remote);
  return { wire: (await received()) - before, sent: r.bytesTransferred, reused: r.bytesReused, local };
}

/** The remote file is `data`, its hash the one plain chunking gives, its mtime `mtime`. */
async function expectRemote(remote: string, data: Buffer, local: string, mtime?: Date): Promise<void> {
  const entry = await client.statIfExists(remote);
  expect(entry?.size).toBe(data.length);
  expect(entry?.hash).toBe(await fileHashOfFile(local, CHUNKING));
  if (mtime) expect(entry?.mtime).toBe(mtime.getTime());
  const back = join(dir, 'back');
  await client.getFile(remote, back);
  expect(sha256(readFileSync(back))).toBe(sha256(data));
}

describe('re-uploading a file the server has', () => {
  it('sends no chunk for an identical file and commits its new mtime', async () => {
    const data = bytes(6 * MiB, 11);
    await put(data, '/re/same.bin', new Date(1_700_000_000_000));
    const versionBefore = await client.statIfExists('/re/same.bin');
    const mtime = new Date(1_700_000_100_000);
    const r = await put(data, '/re/same.bin', mtime);
    expect({ wire: r.wire, sent: r.sent, reused: r.reused }).toEqual({ wire: 0, sent: 0, reused: data.length });
    await expectRemote('/re/same.bin', data, r.local, mtime);
    expect((await client.statIfExists('/re/same.bin'))?.hash).toBe(versionBefore?.hash);
  });

  it('sends no chunk for an identical file chunked by worker threads (past the parallel threshold)', async () => {
    const data = bytes(40 * MiB + 12_345, 12);
    await put(data, '/re/big.bin');
    const mtime = new Date(1_700_000_200_000);
    const r = await put(data, '/re/big.bin', mtime);
    expect({ wire: r.wire, sent: r.sent }).toEqual({ wire: 0, sent: 0 });
    await expectRemote('/re/big.bin', data, r.local, mtime);
  });

  it('sends only what changed at the start, in the middle and at the end, and when the file grew or shrank', async () => {
    const v1 = bytes(4 * MiB, 13);
    await put(v1, '/re/edited.bin');
    const versions: Array<[string, Buffer]> = [
      ['start', Buffer.concat([bytes(1000, 14), v1.subarray(1000)])],
      ['middle', Buffer.concat([v1.subarray(0, 2 * MiB), bytes(3000, 15), v1.subarray(2 * MiB + 3000)])],
      ['end', Buffer.concat([v1.subarray(0, v1.length - 500), bytes(500, 16)])],
      ['insert', Buffer.concat([v1.subarray(0, MiB), bytes(777, 17), v1.subarray(MiB)])],
      ['grown', Buffer.concat([v1, bytes(300_000, 18)])],
      ['shrunk', v1.subarray(0, 3 * MiB + 5)],
      ['unchanged again', v1],
    ];
    let previous = v1;
    for (const [what, data] of versions) {
      // Back to the first version each time, so that every edit is against it alone.
      if (previous !== v1) await put(v1, '/re/edited.bin');
      const r = await put(data, '/re/edited.bin');
      // An edit touches a chunk or two (of up to 256 KiB) and the ones around it; never the file.
      expect(r.sent, what).toBeLessThan(4 * CHUNKING.maxSize);
      expect(r.wire, what).toBeLessThanOrEqual(r.sent);
      await expectRemote('/re/edited.bin', data, r.local);
      previous = data;
    }
  });

  it('chunks as if there were no remote copy when its chunks are of another chunking', async () => {
    // Uploaded as fixed pieces (as another client might): sizes this chunking could cut
    // (64 KiB), or not (8 KiB, under its minimum).
    for (const piece of [64 * 1024, 8192]) {
      const data = bytes(3 * MiB, 19);
      const res = await uploadBuffer(t, `/re/pieces-${piece}.bin`, data, piece);
      expect(res.status).toBe(200);
      const r = await put(data, `/re/pieces-${piece}.bin`);
      await expectRemote(`/re/pieces-${piece}.bin`, data, r.local);
      // And the file is now in this chunking: the next upload of it sends nothing.
      expect((await put(data, `/re/pieces-${piece}.bin`)).wire).toBe(0);
    }
  });

  it('chunks as if there were no remote copy when that copy is other bytes, or a folder', async () => {
    await put(bytes(3 * MiB, 20), '/re/other.bin');
    const data = bytes(3 * MiB, 21);
    const r = await put(data, '/re/other.bin');
    expect(r.sent).toBeGreaterThan(data.length / 2);
    await expectRemote('/re/other.bin', data, r.local);
    await client.mkdir('/re/folder', { parents: true });
    await expect(put(data, '/re/folder')).rejects.toMatchObject({ code: 'FERRY_ERR_IS_A_DIRECTORY' });
  });
});
