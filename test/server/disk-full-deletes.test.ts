/**
 * A real full disk (a small tmpfs) under the whole data directory (SQLite and the default
 * chunk store): the server releases its reserve, deletes (`ferry rm`) still work, new uploads
 * are refused, /readyz and `ferry_data_disk_full` say the disk is full; once there is room
 * the reserve is written back and uploads are taken again.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESERVE_FILE, reserveSizeFor } from '../../src/server/disk-reserve.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { expectError } from '../helpers/error-response.js';
import { runFerry } from '../helpers/cli.js';

/** Takes every free byte of the file system of `file` (until ENOSPC). */
function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

/** Polls (no timing asserted) until `ok` holds, failing after a minute. */
async function until(ok: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 60_000; !(await ok()); ) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('a full data disk (tmpfs): the reserve', () => {
  let mnt: string;
  let data: string;
  let t: TestServer;
  beforeAll(async () => {
    mnt = mkdtempSync(join(tmpdir(), 'ferry-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    data = join(mnt, 'data');
    mkdirSync(data);
    t = await startTestServer({ dataDir: data });
  });
  afterAll(async () => {
    await t?.server.close();
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });

  const ready = async () => (await t.api('/readyz', { token: null })).status;
  const metric = async () => Number(/^ferry_data_disk_full (\S+)$/m.exec(await (await t.api('/metrics')).text())?.[1]);

  it('a failed write releases it: ferry rm works, uploads are refused, /readyz and the metric say full; room again: all back', { timeout: 120_000 }, async () => {
    const reserve = join(data, RESERVE_FILE);
    expect(statSync(reserve).size).toBe(reserveSizeFor(8 * 1024 * 1024));
    expect(await ready()).toBe(200);
    expect(await metric()).toBe(0);
    for (const name of ['a', 'b', 'c']) expect((await uploadBuffer(t, `/${name}.bin`, randomBytes(200_000))).status).toBe(200);

    const filler = join(mnt, 'filler');
    fillDisk(filler);
    // The first write refused for space (the chunk store's, or SQLite's) releases the reserve.
    await expect(uploadBuffer(t, '/d.bin', randomBytes(300_000))).rejects.toThrow(/507 .*FERRY_ERR_NO_SPACE/);
    expect(existsSync(reserve)).toBe(false);
    expect(await metric()).toBe(1);
    // A probe's answer stands for a second: the one from before the disk filled may still be served.
    await until(async () => (await ready()) === 503);
    const probe = await t.api('/readyz', { token: null });
    expect(probe.status).toBe(503);
    expect(((await probe.json()) as { error: { message: string } }).error.message).toBe("the data directory's disk is full");
    // The room is kept for deletes: even a small upload is refused before it takes any.
    await expectError(await t.api('/api/v1/files/small.bin', { method: 'PUT', body: randomBytes(10), headers: { 'content-type': 'application/octet-stream' } }), 507, 'FERRY_ERR_NO_SPACE');

    const env = { FERRY_SERVER: t.url, FERRY_TOKEN: t.token };
    const rm = await runFerry(['rm', '/a.bin'], { env });
    expect([rm.code, rm.stderr]).toEqual([0, '']);
    expect((await runFerry(['rm', '/b.bin'], { env })).code).toBe(0);
    expect((await t.api('/api/v1/files/a.bin')).status).toBe(404);
    expect((await t.api('/api/v1/files/c.bin')).status).toBe(200);

    // Room again: the reserve comes back at the next look (a readiness probe, or 10 s).
    rmSync(filler);
    await until(async () => (await ready()) === 200);
    expect(statSync(reserve).size).toBe(reserveSizeFor(8 * 1024 * 1024));
    expect(await metric()).toBe(0);
    expect((await uploadBuffer(t, '/d.bin', randomBytes(300_000))).status).toBe(200);
  });

  it('a disk something else filled: the next look releases the reserve before any write fails, and the first ferry rm works', { timeout: 120_000 }, async () => {
    await until(async () => (await ready()) === 200 && existsSync(join(data, RESERVE_FILE)));
    const filler = join(mnt, 'filler');
    fillDisk(filler);
    await until(async () => (await ready()) === 503);
    expect(await metric()).toBe(1);
    const rm = await runFerry(['rm', '/c.bin'], { env: { FERRY_SERVER: t.url, FERRY_TOKEN: t.token } });
    expect([rm.code, rm.stderr]).toEqual([0, '']);
    rmSync(filler);
    await until(async () => (await ready()) === 200);
  });
});
