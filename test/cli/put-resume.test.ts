/**
 * A `ferry put` killed mid-transfer (SIGKILL: no clean-up of any kind), run again, continues
 * its upload session: for a user allowed one live session (`--max-sessions 1`) the re-run was
 * refused (FERRY_ERR_QUOTA_EXCEEDED) until the killed run's session expired, a day later.
 * The re-run sends only what the server lacks (its byte counter), commits, and leaves no
 * session and no saved state behind. Another user's run on the same machine neither takes
 * nor loses the session, a new token of the same user continues it; a file changed between
 * runs gets a new session (the old one goes). `put -r`'s batch sessions and a vault put's
 * gathering session are continued too.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, spawnFerry } from '../helpers/cli.js';
import { sha256File, tempDir, writeRandomFile } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { readMetric } from '../helpers/server.js';
import { addUser, tokenFor } from '../helpers/users.js';

const MiB = 1024 * 1024;
let t: TestServer;
let tmp: { path: string; cleanup: () => Promise<void> };
let alice: Record<string, string>;
let bob: Record<string, string>;
let carol: Record<string, string>;

beforeAll(async () => {
  tmp = await tempDir('ferry-put-resume-');
  t = await startTestServer({ durable: false });
  await addUser(t, 'alice', { maxSessions: 1 });
  await addUser(t, 'bob', { maxSessions: 1 });
  // One machine, one state directory: both users' runs keep their sessions in it.
  const common = { FERRY_SERVER: t.url, HOME: join(tmp.path, 'home'), XDG_STATE_HOME: join(tmp.path, 'state') };
  alice = { ...common, FERRY_TOKEN: (await tokenFor(t, 'alice')).token };
  bob = { ...common, FERRY_TOKEN: (await tokenFor(t, 'bob')).token };
  await addUser(t, 'carol', { maxSessions: 2 });
  carol = { ...common, FERRY_TOKEN: (await tokenFor(t, 'carol')).token };
});
afterAll(async () => {
  await t?.close();
  await tmp?.cleanup();
});

/** File content bytes the server has received in all (chunk and pack bodies). */
const received = () => readMetric({ url: t.url, adminToken: t.token }, 'ferry_chunk_body_bytes_received_total');

async function openSessions(user: string): Promise<{ id: string; path: string | null }[]> {
  const res = await t.api(`/api/v1/admin/uploads?user=${user}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { id: string; path: string | null }[];
}

const savedSessions = async () => readdir(join(tmp.path, 'state', 'ferry', 'uploads')).catch(() => [] as string[]);

/** Starts `ferry put` (slowed down), kills it with SIGKILL once the server has received `bytes` more, and returns what it had received by then. */
async function killMidway(env: Record<string, string>, args: string[], bytes: number): Promise<number> {
  const before = await received();
  const child = spawnFerry(['put', '-q', '--bwlimit', '8M', ...args], { env });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  while (child.exitCode === null && (await received()) - before < bytes) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  await exited;
  expect(child.signalCode, `the put ended before it was killed: ${stderr}`).toBe('SIGKILL');
  return (await received()) - before;
}

async function expectSameFile(env: Record<string, string>, remote: string, local: string): Promise<void> {
  const back = join(tmp.path, 'back.bin');
  const got = await runFerry(['get', '-q', remote, back], { env });
  expect(got.code, got.stderr).toBe(0);
  expect(await sha256File(back)).toBe(await sha256File(local));
}

describe('a killed put, run again at --max-sessions 1', () => {
  // 48 MiB: its manifest is appended as it is cut; 12 MiB: announced whole at creation.
  for (const size of [48 * MiB, 12 * MiB]) {
    it(`resumes its session and sends only the rest (${size / MiB} MiB)`, { timeout: 120_000 }, async () => {
      const src = join(tmp.path, `src-${size}.bin`);
      await writeRandomFile(src, size);
      const dest = `/resume-${size}.bin`;
      const before = await received();
      const first = await killMidway(alice, [src, dest], size / 4);
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThan(size);
      expect(await openSessions('alice')).toHaveLength(1); // the killed run's, at alice's limit

      const again = await runFerry(['put', '-q', src, dest], { env: alice });
      expect(again.code, again.stderr).toBe(0);
      // Every byte of the file reached the server once over the two runs: nothing sent twice.
      expect((await received()) - before).toBe(size);
      expect(await openSessions('alice')).toEqual([]);
      expect(await savedSessions()).toEqual([]);
      await expectSameFile(alice, dest, src);
    });
  }

  it('a new token of the same user continues the session an older token left', { timeout: 120_000 }, async () => {
    const size = 48 * MiB;
    const src = join(tmp.path, 'new-token.bin');
    await writeRandomFile(src, size);
    const before = await received();
    await killMidway(alice, [src, '/new-token.bin'], size / 4);
    expect(await openSessions('alice')).toHaveLength(1);

    const renewed = { ...alice, FERRY_TOKEN: (await tokenFor(t, 'alice')).token };
    expect(renewed.FERRY_TOKEN).not.toBe(alice.FERRY_TOKEN);
    const again = await runFerry(['put', '-q', src, '/new-token.bin'], { env: renewed });
    expect(again.code, again.stderr).toBe(0);
    expect((await received()) - before).toBe(size);
    expect(await openSessions('alice')).toEqual([]);
    expect(await savedSessions()).toEqual([]);
    await expectSameFile(renewed, '/new-token.bin', src);
  });

  it("another user's run on the same machine neither takes the session nor loses it", { timeout: 120_000 }, async () => {
    const src = join(tmp.path, 'shared.bin');
    await writeRandomFile(src, 48 * MiB);
    const before = await received();
    const first = await killMidway(alice, [src, '/shared.bin'], 12 * MiB);
    const [session] = await openSessions('alice');

    const other = await runFerry(['put', '-q', src, '/shared.bin'], { env: bob });
    expect(other.code, other.stderr).toBe(0);
    expect(await openSessions('alice')).toEqual([session]);
    expect(await openSessions('bob')).toEqual([]);
    expect(await savedSessions()).toHaveLength(1); // alice's, still there
    const afterBob = await received();
    expect(afterBob - before - first).toBe(48 * MiB); // bob sent his whole file (his dedup is his own)

    const again = await runFerry(['put', '-q', src, '/shared.bin'], { env: alice });
    expect(again.code, again.stderr).toBe(0);
    expect((await received()) - afterBob).toBe(48 * MiB - first);
    expect(await openSessions('alice')).toEqual([]);
    expect(await savedSessions()).toEqual([]);
  });

  it('a killed put into a vault (--encrypt) continues its gathering session: the re-run sends only the rest', { timeout: 120_000 }, async () => {
    const size = 48 * MiB;
    const src = join(tmp.path, 'vault-src.bin');
    await writeRandomFile(src, size);
    const env = { ...alice, FERRY_E2E_PASSPHRASE: 'a vault passphrase for resume' };
    const before = await received();
    const first = await killMidway(env, ['--encrypt', src, '/vault/resume.bin'], size / 4);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(size);
    expect(await openSessions('alice')).toHaveLength(1); // the killed run's gathering session
    expect(await savedSessions()).toHaveLength(1);

    const mid = await received();
    const again = await runFerry(['put', '-q', '--encrypt', src, '/vault/resume.bin'], { env });
    expect(again.code, again.stderr).toBe(0);
    const second = (await received()) - mid;
    // Only the rest travelled: the ciphertext is the plain bytes plus a tag per chunk and the header.
    expect(second).toBeLessThan(size - first / 2);
    expect((await received()) - before - size).toBeLessThan(MiB);
    expect(await openSessions('alice')).toEqual([]);
    expect(await savedSessions()).toEqual([]);
    await expectSameFile(env, '/vault/resume.bin', src);
  });

  it('a killed put -r of a tree of small files continues its batch sessions: the re-run sends only the rest', { timeout: 180_000 }, async () => {
    // 320 files of 256 KiB (80 MiB): batch sessions of up to 64 MiB, two in flight, at
    // carol's limit of two live sessions.
    const root = join(tmp.path, 'tree');
    const files = Array.from({ length: 320 }, (_, i) => join(root, `d${i % 4}`, `f${i}.bin`));
    for (let d = 0; d < 4; d++) await mkdir(join(root, `d${d}`), { recursive: true });
    for (const f of files) await writeFile(f, randomBytes(256 * 1024));
    const total = files.length * 256 * 1024;
    const before = await received();
    const first = await killMidway(carol, ['-r', root, '/tree'], total / 4);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(total);
    expect((await openSessions('carol')).length).toBeGreaterThan(0); // the killed run's batches
    expect((await savedSessions()).length).toBeGreaterThan(0);

    const mid = await received();
    const again = await runFerry(['put', '-q', '-r', root, '/tree'], { env: carol });
    expect(again.code, again.stderr).toBe(0);
    const second = (await received()) - mid;
    expect(second).toBeLessThan(total);
    // Every byte of the tree reached the server once over the two runs: nothing sent twice.
    expect((await received()) - before).toBe(total);
    expect(await openSessions('carol')).toEqual([]);
    expect(await savedSessions()).toEqual([]);
    const back = join(tmp.path, 'tree-back');
    const got = await runFerry(['get', '-q', '-r', '/tree', back], { env: carol });
    expect(got.code, got.stderr).toBe(0);
    for (const f of files) expect(await sha256File(join(back, relative(root, f))), f).toBe(await sha256File(f));
  });

  it('a file changed between the runs gets a new session; the old one is aborted', { timeout: 120_000 }, async () => {
    const src = join(tmp.path, 'changed.bin');
    await writeRandomFile(src, 48 * MiB);
    await killMidway(alice, [src, '/changed.bin'], 12 * MiB);
    const [old] = await openSessions('alice');
    await writeFile(src, Buffer.alloc(5 * MiB, 7));

    const again = await runFerry(['put', '-q', src, '/changed.bin'], { env: alice });
    expect(again.code, again.stderr).toBe(0);
    expect(old).toBeDefined();
    expect(await openSessions('alice')).toEqual([]);
    expect(await savedSessions()).toEqual([]);
    await expectSameFile(alice, '/changed.bin', src);
  });
});
