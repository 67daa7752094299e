/**
 * SFTP partial uploads on two nodes sharing one PostgreSQL database and one chunk store
 * (docs/cluster.md): a `put` through the first node stalls (its OpenSSH client SIGSTOPped, its
 * connection left open, as a half-open TCP connection would be), the user resumes it with
 * `reput` through the second node, and then the stalled client wakes up and goes on.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStoreSpec } from '../../src/server/config.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { writeRandomFile } from '../helpers/files.js';
import { collect, newKey, sftpBatch, spawnSftp, startSftpServer, type SftpServer } from '../helpers/sftp.js';

const adminToken = `sftp-resume-admin-${randomBytes(16).toString('hex')}`;
const SMALL_CHUNKS = { algorithm: 'fastcdc-v1', minSize: 64 * 1024, avgSize: 256 * 1024, maxSize: 1024 * 1024, normalization: 0 } as const;
let postgres: PostgresHandle;
const nodes: SftpServer[] = [];
const store = mkdtempSync(join(tmpdir(), 'ferry-sftp-resume-store-'));

beforeAll(async () => {
  postgres = await startPostgres();
}, 120_000);

afterAll(async () => {
  for (const n of nodes) await n.close().catch(() => undefined);
  await postgres?.stop();
  rmSync(store, { recursive: true, force: true });
});

async function twoNodes(): Promise<[SftpServer, SftpServer]> {
  const db = await postgres.createDatabase();
  // Chunks of 256 KiB on average (the default is 1 MiB): a partial upload shows once 16 chunks
  // are stored (src/server/ingest.ts, APPEND_EVERY), here after some 4 to 7 MiB instead of
  // 18, so that a file of 20 MiB (it was 48) still stalls early in it (seconds before its put
  // could end), and the woken client has less than half as much left to send at its 2 MB/s.
  // Chunk sizes are not what this test is about.
  const shared = { db, sessionKey: randomBytes(32), adminToken, store: [parseStoreSpec(store)], chunking: SMALL_CHUNKS };
  const a = await startSftpServer(shared);
  nodes.push(a);
  const second = mkdtempSync(join(tmpdir(), 'ferry-sftp-resume-second-'));
  cpSync(join(a.t.dataDir, 'ssh'), join(second, 'ssh'), { recursive: true });
  const b = await startSftpServer({ ...shared, dataDir: second });
  nodes.push(b);
  return [a, b];
}

describe('SFTP partial uploads on two nodes', () => {
  it('reput through one node while a put of the same file through the other is stalled stores the file whole, before and after the stalled client wakes', async () => {
    const [a, b] = await twoNodes();
    expect((await a.t.api('/api/v1/users', { method: 'POST', token: adminToken, json: { name: 'sia' } })).status).toBe(201);
    const sia = { name: 'sia', ...(await newKey(a, 'sia')) };
    expect((await b.t.api('/api/v1/users/sia/keys', { method: 'POST', token: adminToken, json: { keys: sia.publicKey } })).status).toBe(201);
    const size = 20 * 1024 * 1024;
    await writeRandomFile(join(a.dir, 'big.bin'), size);
    const want = await readFile(join(a.dir, 'big.bin'));
    const user = (await a.t.server.ctx.users.userByName('sia'))!;
    const child = spawnSftp(a, sia, ['put big.bin big.bin'], ['-l', '16000'], a.dir);
    const stalled = collect(child);
    let partial = await a.t.server.ctx.meta.findPartial(user.id, '/users/sia/big.bin');
    while (!partial || partial.size === 0) {
      expect(child.exitCode, 'sftp ended before it was stalled').toBeNull();
      await new Promise((r) => setTimeout(r, 100));
      partial = await a.t.server.ctx.meta.findPartial(user.id, '/users/sia/big.bin');
    }
    child.kill('SIGSTOP');
    // The stalled connection's upload goes on growing its own partial upload (what was in
    // flight); reput reads the one it finds and makes a session of its own from it.
    const r = await sftpBatch(b, sia, ['reput big.bin big.bin'], [], a.dir);
    expect(r.code, r.stderr).toBe(0);
    const stored = async () => {
      const got = await b.t.api('/api/v1/files/users/sia/big.bin', { token: adminToken });
      expect(got.status).toBe(200);
      return Buffer.from(await got.arrayBuffer());
    };
    expect((await stored()).equals(want)).toBe(true);
    // The stalled client wakes and goes on through the first node: its partial upload was
    // superseded by the reput's commit (its CLOSE then fails: `close remote: Failure` in the
    // runs here), or, when the first node recorded more of it after the reput began, it
    // commits the same bytes again. Either way the file holds its bytes, in order, once.
    child.kill('SIGCONT');
    const woke = await stalled;
    expect(woke.code === 0 || /Failure/.test(woke.stderr), woke.stderr).toBe(true);
    expect((await stored()).equals(want)).toBe(true);
    // What a later reput would see: the file's size, not a partial upload left over.
    for (const node of [a, b]) {
      const ls = await sftpBatch(node, sia, ['ls -l big.bin'], [], a.dir);
      expect(ls.code, ls.stderr).toBe(0);
      expect(ls.stdout).toMatch(new RegExp(`\\s${size}\\s`));
    }
  }, 240_000);
});
