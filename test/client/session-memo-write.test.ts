/**
 * A put that keeps its session for a re-run (`sessions`, the CLI's `ferry put`) does not wait
 * for the memo's write before it sends: that write (a file written, fsynced and renamed)
 * held back the first chunk of every put. Still, a put that fails leaves its session written
 * down before it returns, and one that commits leaves nothing behind, however late the write
 * lands. Against a real server over real HTTP.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { SessionKeeper, type SavedSession, type SessionMemo } from '../../src/client/resume-session.js';
import type { ChunkingParams } from '../../src/core/manifest.js';
import { xorshiftBytes as bytes } from '../helpers/cdc-reference.js';
import { startTestServer, metricSum, type TestServer } from '../helpers/in-process-server.js';

/** Small chunks: 4 MiB is a file of many, past the size whose whole chunk list goes with the session's creation. */
const CHUNKING: ChunkingParams = { algorithm: 'fastcdc-v1', minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024, normalization: 0 };
const MiB = 1024 * 1024;

/** A memo in memory whose writes wait for `write` to let them through. */
class GatedMemo implements SessionMemo {
  readonly saved = new Map<string, SavedSession>();
  writes = 0;
  constructor(private readonly write: (saved: SavedSession) => Promise<void>) {}
  async recall(key: string): Promise<SavedSession | undefined> {
    return this.saved.get(key);
  }
  async remember(key: string, saved: SavedSession): Promise<void> {
    this.writes++;
    await this.write(saved);
    this.saved.set(key, saved);
  }
  async forget(key: string): Promise<void> {
    this.saved.delete(key);
  }
}

let t: TestServer;
let client: FerryClient;
let dir: string;
beforeAll(async () => {
  t = await startTestServer({ chunking: CHUNKING });
  client = new FerryClient({ server: t.url, token: t.token });
  dir = mkdtempSync(join(tmpdir(), 'ferry-memo-write-'));
});
afterAll(async () => {
  await client.close();
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const received = () => metricSum(t, 'ferry_chunk_wire_bytes_received_total');

function localFile(name: string, size: number, seed: number): string {
  const path = join(dir, name);
  writeFileSync(path, bytes(size, seed));
  return path;
}

async function until(what: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await what()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe('a put keeping its session for a re-run', () => {
  it('sends chunks before the memo is written, and forgets the session once committed', { timeout: 60_000 }, async () => {
    let chunksBeforeWrite = false;
    // The write lands only once chunks have reached the server (or after 15 s, to fail rather than hang).
    const memo = new GatedMemo(async () => {
      chunksBeforeWrite = await until(async () => (await received()) > 0, 15_000);
    });
    const src = localFile('a.bin', 4 * MiB, 1);
    const r = await client.putFile(src, '/a.bin', { sessions: memo, chunkWorkers: 0 });
    expect(r.files).toBe(1);
    expect(chunksBeforeWrite).toBe(true);
    expect(memo.writes).toBe(1);
    expect(memo.saved.size).toBe(0); // written late, forgotten after it all the same
    expect((await client.statIfExists('/a.bin'))?.size).toBe(4 * MiB);
  });

  it('a put that fails returns only once its session is written down, for the re-run', { timeout: 60_000 }, async () => {
    const stop = new AbortController();
    // The put is stopped as soon as its session exists; the write lands 300 ms later.
    const memo = new GatedMemo(async () => {
      stop.abort();
      await new Promise((r) => setTimeout(r, 300));
    });
    const src = localFile('b.bin', 4 * MiB, 2);
    await expect(client.putFile(src, '/b.bin', { sessions: memo, chunkWorkers: 0, signal: stop.signal })).rejects.toMatchObject({ code: 'FERRY_ERR_ABORTED' });
    const [saved] = [...memo.saved.values()];
    expect(saved?.id).toMatch(/\S/);
    // The re-run continues that session and commits it.
    const again = new GatedMemo(async () => undefined);
    for (const [k, v] of memo.saved) again.saved.set(k, v);
    await client.putFile(src, '/b.bin', { sessions: again, chunkWorkers: 0 });
    expect(again.writes).toBe(0); // continued, not a new session
    expect(again.saved.size).toBe(0);
    expect((await client.statIfExists('/b.bin'))?.size).toBe(4 * MiB);
  });
});

describe('SessionKeeper', () => {
  it('forgets only after the write under way has landed: a late write cannot bring the session back', async () => {
    let land!: () => void;
    const memo = new GatedMemo(() => new Promise<void>((r) => (land = r)));
    const keeper = new SessionKeeper(client, { memo, key: 'k', stamp: 's' }, 's');
    void keeper.remember('session-1');
    const forgotten = keeper.forget();
    await new Promise((r) => setTimeout(r, 20));
    land();
    await forgotten;
    expect(memo.writes).toBe(1);
    expect(memo.saved.size).toBe(0);
  });

  it('a failed write is nothing to wait for twice', async () => {
    const memo = new GatedMemo(async () => {
      throw new Error('disk full');
    });
    const keeper = new SessionKeeper(client, { memo, key: 'k', stamp: 's' }, 's');
    await keeper.remember('session-1');
    await keeper.saved();
    await keeper.forget();
    expect(memo.saved.size).toBe(0);
  });
});
