/**
 * End to end: what content addressing promises, measured on the server's counters:
 * resume after the client or the server is killed, dedup of identical content, delta
 * upload of an edited file, download resume and delta download over an older copy.
 */
import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changedChunks, scribble, seededBytes, sha256File, writeRandomFile } from '../helpers/files.js';
import { ok, startWorld, waitFor, type E2EWorld } from '../helpers/e2e.js';

const MiB = 1024 * 1024;
let w: E2EWorld;
beforeAll(async () => {
  // On /dev/shm where there is one: the kills land by bandwidth (--bwlimit), not by the disk.
  w = await startWorld({ inRam: true });
});
afterAll(async () => {
  await w?.close();
});

const RECEIVED = 'ferry_chunk_bytes_received_total';
const CHUNKS_RECEIVED = 'ferry_chunks_received_total';
const DEDUP = 'ferry_chunks_deduplicated_total';
const SERVED = 'ferry_chunk_bytes_served_total';
const CHUNKS_SERVED = 'ferry_chunks_served_total';

/**
 * Waits until a server counter holds still. A killed client's last requests can still be
 * read and counted by the server for a moment after it died (its data sat in the socket's
 * buffers): what came in before the next run starts is what the server had before it.
 */
async function settled(name: string): Promise<number> {
  let last = -1;
  await waitFor(
    async () => {
      const now = await w.metric(name);
      const still = now === last;
      last = now;
      return still;
    },
    60_000,
    500,
  );
  return last;
}

/** Waits for a child process to end. */
const exited = (child: ReturnType<E2EWorld['spawn']>) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (c) => resolve(c))));

describe('upload resume', () => {
  // 48 MiB: past the size a put reads whole (16 MiB), so its chunk records are appended as
  // they are cut, as for any larger file; slowed to a quarter of 160 MiB's old pace, the kill
  // lands as early.
  it('finishes after the client was SIGKILLed mid-put, re-sending only what had not arrived', { timeout: 300_000 }, async () => {
    const size = 48 * MiB;
    const src = join(w.dir, 'resume-client.bin');
    await writeRandomFile(src, size);
    const start = await w.metric(RECEIVED);
    // Slowed down so that the kill lands mid-way whatever the machine.
    const child = w.spawn(['put', '-q', '--bwlimit', '12M', src, '/resume/client.bin']);
    const done = exited(child);
    await waitFor(async () => (await w.metric(RECEIVED)) - start >= 0.3 * size);
    child.kill('SIGKILL');
    await done;
    const before = (await settled(RECEIVED)) - start;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(size);
    const dedupBefore = await w.metric(DEDUP);

    ok(await w.ferry(['put', '-q', src, '/resume/client.bin']));
    const resent = (await w.metric(RECEIVED)) - start - before;
    expect(resent).toBeLessThanOrEqual(size - before);
    expect(await w.metric(DEDUP)).toBe(dedupBefore); // nothing stored was sent again
    const dst = join(w.dir, 'resume-client.back');
    ok(await w.ferry(['get', '-q', '/resume/client.bin', dst]));
    expect(await sha256File(dst)).toBe(await sha256File(src));
  });

  it('finishes after the server was killed (-9) mid-put and restarted', { timeout: 300_000 }, async () => {
    const size = 48 * MiB;
    const src = join(w.dir, 'resume-server.bin');
    await writeRandomFile(src, size);
    const start = await w.metric(RECEIVED);
    const child = w.spawn(['put', '-q', '--bwlimit', '12M', src, '/resume/server.bin']);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const done = exited(child);
    let before = 0;
    await waitFor(async () => {
      before = (await w.metric(RECEIVED)) - start;
      return before >= 0.3 * size;
    });
    await w.restartServer('kill');
    // The client retries with backoff and carries on with the same (persisted) session
    // against the restarted server; if it gave up meanwhile, a re-run finishes the job.
    const code = await done;
    if (code !== 0) ok(await w.ferry(['put', '-q', src, '/resume/server.bin']));
    // Counters restarted at 0 with the new process: all of them is what travelled since.
    const resent = await w.metric(RECEIVED);
    expect(resent, stderr).toBeLessThanOrEqual(size - before);
    const dst = join(w.dir, 'resume-server.back');
    ok(await w.ferry(['get', '-q', '/resume/server.bin', dst]));
    expect(await sha256File(dst)).toBe(await sha256File(src));
  });
});

describe('dedup and delta upload', () => {
  it('sends no chunk body when the same content is put again', async () => {
    const src = join(w.dir, 'same.bin');
    await writeRandomFile(src, 20 * MiB);
    ok(await w.ferry(['put', '-q', src, '/dedup/one.bin']));
    const [recv, dedup] = [await w.metric(RECEIVED), await w.metric(DEDUP)];
    const r = JSON.parse(ok(await w.ferry(['put', '--json', src, '/dedup/two.bin'])).stdout);
    expect(await w.metric(RECEIVED)).toBe(recv);
    expect(await w.metric(DEDUP)).toBe(dedup);
    expect(r.bytesTransferred).toBe(0);
    const again = JSON.parse(ok(await w.ferry(['put', '--json', src, '/dedup/one.bin'])).stdout);
    expect(again.bytesTransferred).toBe(0);
  });

  it('re-sends only the changed chunks after 1 MiB changed in the middle of a 64 MiB file', async () => {
    const src = join(w.dir, 'edit.bin');
    await writeRandomFile(src, 64 * MiB);
    ok(await w.ferry(['put', '-q', src, '/delta/edit.bin']));
    const before = await readFile(src);
    await scribble(src, 32 * MiB, MiB);
    const expected = changedChunks(before, await readFile(src), w.caps.chunking);
    const [chunks, bytes, dedup] = [await w.metric(CHUNKS_RECEIVED), await w.metric(RECEIVED), await w.metric(DEDUP)];
    ok(await w.ferry(['put', '-q', src, '/delta/edit.bin']));
    expect((await w.metric(CHUNKS_RECEIVED)) - chunks).toBe(expected.count);
    expect((await w.metric(RECEIVED)) - bytes).toBe(expected.bytes);
    expect(await w.metric(DEDUP)).toBe(dedup); // and no unchanged chunk travelled
    // How many chunks an arbitrary edit changes is a property of the data (see
    // DEFAULT_CHUNKING); what the client must get right is to send exactly those.
    expect(expected.count).toBeGreaterThanOrEqual(1);
  });

  // The issue's own case, made reproducible: a fixed 64 MiB file and a fixed 1 MiB edit in
  // its middle (seeded, so the same bytes everywhere) re-send at most 3 chunks. Over random
  // files and edits the default parameters re-send about 2 chunks on average and at most 3
  // in about 96% of cases (tail up to 4: cut points take a chunk or two to fall back in step
  // after an edit); the test above holds every random case to "exactly the changed chunks".
  it('re-sends at most 3 chunks for a fixed 1 MiB edit in the middle of a fixed 64 MiB file', async () => {
    const src = join(w.dir, 'seeded.bin');
    const before = seededBytes('ferry delta test file', 64 * MiB);
    await writeFile(src, before);
    ok(await w.ferry(['put', '-q', src, '/delta/seeded.bin']));
    const after = Buffer.from(before);
    seededBytes('ferry delta test edit', MiB).copy(after, 32 * MiB);
    await writeFile(src, after);
    const [chunks, bytes] = [await w.metric(CHUNKS_RECEIVED), await w.metric(RECEIVED)];
    ok(await w.ferry(['put', '-q', src, '/delta/seeded.bin']));
    const sent = (await w.metric(CHUNKS_RECEIVED)) - chunks;
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(sent).toBeLessThanOrEqual(3);
    expect((await w.metric(RECEIVED)) - bytes).toBeLessThanOrEqual(3 * w.caps.chunking.maxSize);
    expect(sent).toBe(changedChunks(before, after, w.caps.chunking).count);
  });
});

describe('download resume and delta download', () => {
  it('resumes a get over a partial .ferry-part', { timeout: 300_000 }, async () => {
    const size = 48 * MiB;
    const src = join(w.dir, 'dl.bin');
    const dst = join(w.dir, 'dl.back');
    await writeRandomFile(src, size);
    ok(await w.ferry(['put', '-q', src, '/dl/dl.bin']));
    const child = w.spawn(['get', '-q', '--bwlimit', '15M', '/dl/dl.bin', dst]);
    const done = exited(child);
    await waitFor(async () => ((await stat(dst + '.ferry-part').catch(() => undefined))?.size ?? 0) >= 0.3 * size);
    child.kill('SIGKILL');
    await done;
    expect((await stat(dst + '.ferry-part')).isFile()).toBe(true);

    // The server counts a response's bytes when it ends: responses to the killed client may
    // end (and be counted) a little after it died. Start counting once the counter holds still.
    const start = await settled(SERVED);
    const r = JSON.parse(ok(await w.ferry(['get', '--json', '/dl/dl.bin', dst])).stdout);
    // What the killed run had verified and written is reused; the rest comes once.
    expect(r.bytesReused + r.bytesTransferred).toBe(size);
    expect((await w.metric(SERVED)) - start).toBe(r.bytesTransferred);
    expect(r.bytesReused).toBeGreaterThan(0);
    expect(await sha256File(dst)).toBe(await sha256File(src));
    await expect(stat(dst + '.ferry-part')).rejects.toThrow();
  });

  // Issue 10, item 11: a restart used to end most gets with "the file has N bytes
  // (FERRY_ERR_RANGE_NOT_SATISFIABLE)" or "changed on the server": the connection went
  // after a run's last byte but before its answer was complete, and the retry asked for the
  // empty range after it (9 of 12 restarts here). Four restarts at different points.
  it('a get carries on through server restarts mid-download, exit 0, the right bytes', { timeout: 300_000 }, async () => {
    const size = 10 * MiB;
    const src = join(w.dir, 'restart.bin');
    await writeRandomFile(src, size);
    ok(await w.ferry(['put', '-q', src, '/dl/restart.bin']));
    const want = await sha256File(src);
    for (let i = 0; i < 4; i++) {
      const dst = join(w.dir, `restart-${i}.back`);
      const child = w.spawn(['get', '--bwlimit', '4M', '/dl/restart.bin', dst]);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const done = exited(child);
      await waitFor(async () => ((await stat(dst + '.ferry-part').catch(() => undefined))?.size ?? 0) >= (i + 1) * 2 * MiB, 60_000, 10);
      await w.restartServer(i % 2 === 0 ? 'kill' : 'stop');
      expect({ i, code: await done, stderr }).toMatchObject({ i, code: 0 });
      expect(stderr).toMatch(/^got 1 file, 10\.0 MiB/);
      expect(await sha256File(dst)).toBe(want);
    }
  });

  it('gets over an older local copy fetching only what it lacks', async () => {
    const src = join(w.dir, 'v.bin');
    const dst = join(w.dir, 'v.back');
    await writeRandomFile(src, 64 * MiB);
    ok(await w.ferry(['put', '-q', src, '/dl/v.bin']));
    ok(await w.ferry(['get', '-q', '/dl/v.bin', dst]));
    const v1 = await readFile(src);
    await scribble(src, 20 * MiB, MiB); // version 2, edited at the server's side
    // and 100 bytes inserted near the start: every later chunk moves, none changes
    const edited = await readFile(src);
    await writeFile(src, Buffer.concat([edited.subarray(0, 5 * MiB), Buffer.alloc(100, 1), edited.subarray(5 * MiB)]));
    const expected = changedChunks(v1, await readFile(src), w.caps.chunking);
    ok(await w.ferry(['put', '-q', src, '/dl/v.bin']));
    const [bytes, chunks] = [await w.metric(SERVED), await w.metric(CHUNKS_SERVED)];
    ok(await w.ferry(['get', '-q', '/dl/v.bin', dst]));
    expect((await w.metric(CHUNKS_SERVED)) - chunks).toBe(expected.count);
    expect((await w.metric(SERVED)) - bytes).toBe(expected.bytes);
    expect(expected.count).toBeGreaterThanOrEqual(1);
    expect(await sha256File(dst)).toBe(await sha256File(src));
  });

  it('a get of an unchanged file fetches nothing', async () => {
    const src = join(w.dir, 'u.bin');
    const dst = join(w.dir, 'u.back');
    await writeFile(src, Buffer.alloc(5 * MiB, 7));
    ok(await w.ferry(['put', '-q', src, '/dl/u.bin']));
    await copyFile(src, dst);
    const bytes = await w.metric(SERVED);
    ok(await w.ferry(['get', '-q', '/dl/u.bin', dst]));
    expect(await w.metric(SERVED)).toBe(bytes);
  });
});
