/**
 * lftp's `pget -n 4` (a segmented download, as download managers make them: one GET of the
 * whole file and three of ranges, on four connections) from the WebDAV share. lftp stops
 * reading the first connection once it has its segment; the server must still serve the
 * others, and give back every chunk when lftp leaves.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dav } from '../helpers/dav.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { addUser } from '../helpers/users.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
let t: TestServer;
let dir: string;

beforeAll(async () => {
  expect(ensureCommand('lftp'), 'lftp (Debian package) is needed').toBe(true);
  // A smaller budget than the default 16 MiB makes the contention between the segments (one
  // user's downloads share it) come sooner; the default one showed it too (by hand, 4 of 5 runs).
  t = await startTestServer({ bodyMemory: 12 * MiB });
  await addUser(t, 'liv', { password: 'liv-password-1' });
  dir = await mkdtemp(join(tmpdir(), 'ferry-lftp-'));
});
afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

async function bodyMemoryOut(): Promise<{ held: number; waiting: number }> {
  const text = await (await t.api('/metrics')).text();
  const value = (name: string) => Number(new RegExp(`^${name}\\{direction="out"\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { held: value('ferry_body_memory_bytes'), waiting: value('ferry_body_memory_waiting') };
}

describe('lftp pget -n 4 from /dav/', () => {
  it('downloads a file in four segments, again and again, byte for byte; nothing stays lent or waiting', async () => {
    const data = randomBytes(160 * MiB);
    // Through the share: the server's chunker cuts it (chunks of 256 KiB to 4 MiB, as any file).
    expect((await dav(t.url, 'PUT', '/dav/big.bin', { auth: basic('liv', 'liv-password-1'), body: data })).status).toBe(201);
    for (let round = 1; round <= 5; round++) {
      const out = join(dir, `big-${round}.bin`);
      // Without a limit of its own lftp would wait for ever on a server that stopped serving it.
      const r = await run('lftp', ['-e', `set net:max-retries 1; set net:timeout 30; pget -n 4 big.bin -o ${out}; quit`, '-u', 'liv,liv-password-1', `${t.url}/dav/`], { timeout: 120_000 }).catch(
        (err: { code?: number; killed?: boolean; stderr?: string }) => ({ stdout: '', stderr: `lftp failed (${err.killed ? 'killed: it hung' : `exit ${err.code}`}): ${err.stderr ?? ''}` }),
      );
      expect(r.stderr, `round ${round}`).toBe('');
      expect((await readFile(out)).equals(data), `round ${round}`).toBe(true);
      await rm(out);
    }
    // Every chunk lent for those responses was given back (kept buffers are counted in
    // `held`, reservations are not kept: this server lends only reservations for downloads).
    expect(await bodyMemoryOut()).toEqual({ held: 0, waiting: 0 });
  }, 400_000);
});
