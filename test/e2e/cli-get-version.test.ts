/**
 * `ferry cat --version ID` and `ferry get --version ID` (and the SDK's getVersionStream /
 * getVersionFile) read an old version without restoring it, through a real `ferry serve`
 * that keeps versions: the exact bytes of a version after the file was overwritten twice,
 * to a file and to stdout; a wrong id is the server's 404 with nothing left at DEST; -r with
 * --version is a usage error; an end-to-end folder's file is refused with a stable code;
 * bytes cut short or altered on the way (a proxy between) fail the read and leave no DEST.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { seededBytes } from '../helpers/files.js';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
// Larger than a chunk's minimum, so the hash check covers several chunks.
const v1 = seededBytes('getver-1', 3 * 1024 * 1024 + 17);
const v2 = seededBytes('getver-2', 200_001);
const v3 = Buffer.from('the current content\n');
let ids: { v1: number; v2: number };

async function putBytes(data: Buffer, remote: string): Promise<void> {
  const src = join(w.dir, 'src.bin');
  await writeFile(src, data);
  ok(await w.ferry(['put', src, remote]));
}

beforeAll(async () => {
  w = await startWorld({ extraArgs: ['--versions', '{"keep": 5}'] });
  await putBytes(v1, '/docs/f.bin');
  await putBytes(v2, '/docs/f.bin');
  await putBytes(v3, '/docs/f.bin');
  await putBytes(Buffer.from('other'), '/docs/other.bin');
  await putBytes(Buffer.from('other, again'), '/docs/other.bin');
  const list = JSON.parse(ok(await w.ferry(['versions', '/docs/f.bin', '--json'])).stdout) as { id: number; size: number }[];
  expect(list.map((v) => v.size)).toEqual([v2.length, v1.length]); // newest first
  ids = { v1: list[1].id, v2: list[0].id };
}, 120_000);
afterAll(async () => {
  await w?.close();
});

const otherId = async () => (JSON.parse(ok(await w.ferry(['versions', '/docs/other.bin', '--json'])).stdout) as { id: number }[])[0].id;

describe('reading an old version from the CLI', () => {
  it('cat --version writes that version’s exact bytes to stdout; the current file is unchanged', async () => {
    const r = ok(await w.ferry(['cat', '--version', String(ids.v1), '/docs/f.bin']));
    expect(r.stdoutBytes.equals(v1)).toBe(true);
    const r2 = ok(await w.ferry(['cat', '--version', String(ids.v2), '/docs/f.bin']));
    expect(r2.stdoutBytes.equals(v2)).toBe(true);
    expect(ok(await w.ferry(['cat', '/docs/f.bin'])).stdoutBytes.equals(v3)).toBe(true);
  });

  it('get --version writes it to DEST (no part file left) and to stdout with -', async () => {
    const dest = join(w.dir, 'got-v1.bin');
    ok(await w.ferry(['get', '--version', String(ids.v1), '/docs/f.bin', dest]));
    expect((await readFile(dest)).equals(v1)).toBe(true);
    expect(existsSync(`${dest}.v${ids.v1}.ferry-part`)).toBe(false);
    const r = ok(await w.ferry(['get', '--version', String(ids.v2), '/docs/f.bin', '-']));
    expect(r.stdoutBytes.equals(v2)).toBe(true);
  });

  it('get --version into a directory names the file after the server path, and replaces an older DEST', async () => {
    const dir = join(w.dir, 'into');
    await w.ferry(['get', '/docs/f.bin', dir + '/']); // the current version first
    ok(await w.ferry(['get', '--version', String(ids.v2), '/docs/f.bin', dir + '/']));
    expect((await readFile(join(dir, 'f.bin'))).equals(v2)).toBe(true);
    expect(await readdir(dir)).toEqual(['f.bin']);
  });

  it('an unknown id, or another path’s id, is the server’s FERRY_ERR_NOT_FOUND (exit 3), nothing at DEST', async () => {
    for (const id of [999_999, await otherId()]) {
      const dest = join(w.dir, `none-${id}.bin`);
      const r = await w.ferry(['get', '--version', String(id), '/docs/f.bin', dest]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain('FERRY_ERR_NOT_FOUND');
      expect(r.stderr).toContain(`has no version ${id}`);
      expect(existsSync(dest)).toBe(false);
      expect(existsSync(`${dest}.v${id}.ferry-part`)).toBe(false);
      const c = await w.ferry(['cat', '--version', String(id), '/docs/f.bin']);
      expect(c.code).toBe(3);
      expect(c.stdoutBytes.length).toBe(0);
    }
  });

  it('get --version leaves an interrupted plain get’s DEST.ferry-part for that get to resume from', async () => {
    const big = seededBytes('getver-resume', 3 * 1024 * 1024 + 5);
    await putBytes(Buffer.from('old and small'), '/docs/r.bin');
    await putBytes(big, '/docs/r.bin');
    const [old] = JSON.parse(ok(await w.ferry(['versions', '/docs/r.bin', '--json'])).stdout) as { id: number }[];
    const dest = join(w.dir, 'resume.bin');
    // What a plain get of the current file had written when it was interrupted.
    const partial = big.subarray(0, big.length - 1000);
    await writeFile(dest + '.ferry-part', partial);
    ok(await w.ferry(['get', '--version', String(old.id), '/docs/r.bin', dest]));
    expect(await readFile(dest, 'utf8')).toBe('old and small');
    expect((await readFile(dest + '.ferry-part')).equals(partial)).toBe(true);
    expect(existsSync(`${dest}.v${old.id}.ferry-part`)).toBe(false);
    const r = JSON.parse(ok(await w.ferry(['get', '--json', '/docs/r.bin', dest])).stdout) as { bytesReused: number; bytesTransferred: number };
    expect(r.bytesReused).toBeGreaterThan(0);
    expect(r.bytesReused + r.bytesTransferred).toBe(big.length);
    expect((await readFile(dest)).equals(big)).toBe(true);
    expect(existsSync(dest + '.ferry-part')).toBe(false);
  });

  it('an empty old version is read as empty (to a file: an empty file)', async () => {
    await putBytes(Buffer.alloc(0), '/docs/empty.bin');
    await putBytes(Buffer.from('not empty now'), '/docs/empty.bin');
    const [v] = JSON.parse(ok(await w.ferry(['versions', '/docs/empty.bin', '--json'])).stdout) as { id: number; size: number }[];
    expect(v.size).toBe(0);
    const dest = join(w.dir, 'empty-old.bin');
    ok(await w.ferry(['get', '--version', String(v.id), '/docs/empty.bin', dest]));
    expect((await readFile(dest)).length).toBe(0);
    expect(ok(await w.ferry(['cat', '--version', String(v.id), '/docs/empty.bin'])).stdoutBytes.length).toBe(0);
  });

  it('-r with --version, or a version id that is not a number, is a usage error (exit 2)', async () => {
    const r = await w.ferry(['get', '-r', '--version', String(ids.v1), '/docs', join(w.dir, 'tree')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--version reads one file: it does not go with -r');
    expect(existsSync(join(w.dir, 'tree'))).toBe(false);
    const bad = await w.ferry(['cat', '--version', 'abc', '/docs/f.bin']);
    expect(bad.code).toBe(2);
    const two = await w.ferry(['cat', '--version', String(ids.v1), '/docs/f.bin', '/docs/other.bin']);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('--version reads one file');
  });

  it('a file in an end-to-end folder is refused with FERRY_ERR_UNSUPPORTED and the way to read it', async () => {
    const keyFile = join(w.dir, 'key');
    ok(await w.ferry(['admin', 'keygen', keyFile]));
    ok(await w.ferry(['mkdir', '--e2e', '/v', '--e2e-key-file', keyFile]));
    const src = join(w.dir, 'secret.txt');
    await writeFile(src, 'one');
    ok(await w.ferry(['put', src, '/v/secret.txt', '--e2e-key-file', keyFile]));
    const r = await w.ferry(['cat', '--version', '1', '/v/secret.txt']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FERRY_ERR_UNSUPPORTED');
    expect(r.stderr).toContain('ferry restore /v/secret.txt --version 1');
    const dest = join(w.dir, 'secret-out.txt');
    const g = await w.ferry(['get', '--version', '1', '/v/secret.txt', dest, '--e2e-key-file', keyFile]);
    expect(g.stderr).toContain('FERRY_ERR_UNSUPPORTED');
    expect(existsSync(dest)).toBe(false);
  });
});

describe('the SDK', () => {
  const client = () => new FerryClient({ server: w.server.url, token: w.server.adminToken });

  it('getVersionStream writes the version’s bytes; getVersionFile writes them to a file', async () => {
    const c = client();
    try {
      const pieces: Buffer[] = [];
      const out = new Writable({
        write(chunk: Buffer, _enc, cb) {
          pieces.push(chunk);
          cb();
        },
      });
      const r = await c.getVersionStream('/docs/f.bin', ids.v1, out);
      expect(Buffer.concat(pieces).equals(v1)).toBe(true);
      expect(r.bytes).toBe(v1.length);
      const dest = join(w.dir, 'sdk-v2.bin');
      await c.getVersionFile('/docs/f.bin', ids.v2, dest);
      expect((await readFile(dest)).equals(v2)).toBe(true);
      await expect(c.getVersionFile('/docs/f.bin', await otherId(), join(w.dir, 'sdk-none.bin'))).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
      expect(await readdir(w.dir)).not.toContain(expect.stringMatching(/^sdk-none\.bin/));
    } finally {
      await c.close();
    }
  });

  it('refuses a file of an end-to-end folder (FERRY_ERR_UNSUPPORTED, the way to read it) instead of handing out its sealed bytes', async () => {
    // One user's vaults share one key: the CLI test above may have made it.
    const keyFile = join(w.dir, 'key');
    if (!existsSync(keyFile)) ok(await w.ferry(['admin', 'keygen', keyFile]));
    ok(await w.ferry(['mkdir', '--e2e', '/sdkv', '--e2e-key-file', keyFile]));
    const src = join(w.dir, 'sdk-secret.txt');
    await writeFile(src, 'first words');
    ok(await w.ferry(['put', src, '/sdkv/secret.txt', '--e2e-key-file', keyFile]));
    await writeFile(src, 'second words');
    ok(await w.ferry(['put', src, '/sdkv/secret.txt', '--e2e-key-file', keyFile]));
    const [v] = JSON.parse(ok(await w.ferry(['versions', '/sdkv/secret.txt', '--json', '--e2e-key-file', keyFile])).stdout) as { id: number }[];
    const c = client();
    try {
      let written = 0;
      const out = new Writable({
        write(chunk: Buffer, _enc, cb) {
          written += chunk.length;
          cb();
        },
      });
      const refusal = { code: 'FERRY_ERR_UNSUPPORTED', message: expect.stringContaining(`ferry restore /sdkv/secret.txt --version ${v.id}`) };
      await expect(c.getVersionStream('/sdkv/secret.txt', v.id, out)).rejects.toMatchObject(refusal);
      expect(written).toBe(0);
      const dest = join(w.dir, 'sdk-sealed.txt');
      await expect(c.getVersionFile('/sdkv/secret.txt', v.id, dest)).rejects.toMatchObject(refusal);
      expect(await readdir(w.dir)).not.toContain(expect.stringMatching(/^sdk-sealed/));
    } finally {
      await c.close();
    }
  });
});

describe('what is checked', () => {
  const versionGet = /^\/api\/v1\/files\/docs\/f\.bin$/;
  async function viaProxy(rewrite: (body: Buffer) => Buffer, run: (proxyUrl: string) => Promise<void>): Promise<void> {
    const proxy = new FaultProxy(w.server.url);
    const url = await proxy.start();
    proxy.rules.push({ method: 'GET', path: versionGet, rewrite });
    try {
      await run(url);
    } finally {
      await proxy.stop();
    }
  }

  it('a body shorter than the version (Content-Length matching it) is FERRY_ERR_SIZE_MISMATCH; DEST is left as it was', async () => {
    const dest = join(w.dir, 'short.bin');
    await writeFile(dest, 'before');
    await viaProxy(
      (b) => b.subarray(0, b.length - 1000),
      async (url) => {
        const r = await w.ferry(['get', '--version', String(ids.v1), '/docs/f.bin', dest], { env: { FERRY_SERVER: url } });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain('FERRY_ERR_SIZE_MISMATCH');
        expect(r.stderr).toContain(`short transfer, ${v1.length - 1000} of ${v1.length} bytes`);
      },
    );
    expect(await readFile(dest, 'utf8')).toBe('before');
    expect(existsSync(`${dest}.v${ids.v1}.ferry-part`)).toBe(false);
  });

  it('a body of the right size with one byte changed is FERRY_ERR_HASH_MISMATCH (to stdout: after the bytes went out)', async () => {
    const flip = (b: Buffer) => {
      const c = Buffer.from(b);
      c[c.length >> 1] ^= 1;
      return c;
    };
    await viaProxy(flip, async (url) => {
      const dest = join(w.dir, 'flipped.bin');
      const r = await w.ferry(['get', '--version', String(ids.v1), '/docs/f.bin', dest], { env: { FERRY_SERVER: url } });
      expect(r.stderr).toContain('FERRY_ERR_HASH_MISMATCH');
      expect(existsSync(dest)).toBe(false);
      expect(existsSync(`${dest}.v${ids.v1}.ferry-part`)).toBe(false);
    });
    await viaProxy(flip, async (url) => {
      const r = await w.ferry(['cat', '--version', String(ids.v1), '/docs/f.bin'], { env: { FERRY_SERVER: url } });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('FERRY_ERR_HASH_MISMATCH');
      expect(r.stdoutBytes.length).toBe(v1.length);
    });
  });
});
