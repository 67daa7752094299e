/**
 * `ferry admin backup` onto a disk that fills (a small tmpfs, as test/server/disk-full-real.test.ts
 * does): the backup used to stop with the metadata copy half written, its directory left
 * behind for an operator to take for a backup. Now what it wrote is removed (the directory
 * too when the backup made it), and the answer says so: 507 FERRY_ERR_NO_SPACE naming the
 * directory, exit 8 from the CLI. With room again the same directory takes a whole backup.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { auditEvents } from '../helpers/users.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';

/** Takes the free space of the file system at `dir` down to about `leave` bytes. */
function fillUpTo(dir: string, leave: number): string {
  const { bavail, bsize } = statfsSync(dir);
  const filler = join(dir, 'filler');
  writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - leave)));
  return filler;
}

describe('ferry admin backup onto a disk that fills (tmpfs)', () => {
  let t: TestServer;
  let mnt: string;
  let filler: string;
  beforeAll(async () => {
    t = await startTestServer({ tlsSelfSigned: false });
    // A metadata database of some size: the full disk cuts its copy mid-way.
    for (let i = 0; i < 40; i++) expect((await uploadBuffer(t, `/f/${i}.bin`, randomBytes(20_000), 4096)).status).toBe(200);
    mnt = mkdtempSync(join(tmpdir(), 'ferry-backup-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
    filler = fillUpTo(mnt, 64 * 1024);
  });
  afterAll(async () => {
    await t?.close();
    if (mnt) {
      execFileSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('leaves no partial directory behind and says so; an empty directory it was given stays empty', async () => {
    const dir = join(mnt, 'nightly', 'backup-1');
    const r = await runFerry(['admin', 'backup', dir], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: t.token } });
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toContain(`no space left on the device of ${dir}`);
    expect(r.stderr).toContain('the partial backup was removed');
    // The directories the backup made are gone with what it wrote.
    expect(existsSync(join(mnt, 'nightly'))).toBe(false);

    const given = join(mnt, 'given');
    mkdirSync(given);
    const res = await t.api('/api/v1/admin/backup', { method: 'POST', json: { dir: given } });
    expect(res.status).toBe(507);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('FERRY_ERR_NO_SPACE');
    expect(body.error.message).toContain(given);
    expect(readdirSync(given)).toEqual([]);
    const failed = (await auditEvents(t, 'event=admin.backup')).filter((e) => !e.ok);
    expect(failed.map((e) => e.target).sort()).toEqual([dir, given].sort());
  });

  it('with room again, the same directory takes a whole backup', async () => {
    rmSync(filler);
    const given = join(mnt, 'given');
    const r = await runFerry(['admin', 'backup', given, '--json'], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: t.token } });
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(r.stdout) as { files: { path: string }[] };
    expect(manifest.files.map((f) => f.path)).toContain('meta.db');
  });
});
