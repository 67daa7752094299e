/**
 * Inside an end-to-end folder (vault) the server knows only encrypted names, so no command
 * may send a plain name below a vault in a request: `ferry stat`, `cat`, `size` and `check`
 * named the path as the user typed it (`GET /api/v1/stat/vault/<plain name>`), handing the
 * server the very names the vault hides, before its 404. They now find the stored path with
 * the key (asking for it, as `get` does) and send only that; `cat` decrypts, as `get FILE -`.
 * A TCP proxy records every byte between the CLI and the server.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliResult } from '../helpers/cli.js';
import { startWorld, type E2EWorld } from '../helpers/e2e.js';
import { startRecordingProxy, type RecordingProxy } from '../helpers/recording-proxy.js';

const MARKER = 'NAME-MARKER-4c1d';
const NAME = `${MARKER}-letter.txt`;
const SUB = `${MARKER}-folder`;
const PASS = 'correct horse battery staple';
const BODY = 'the letter itself\n';

let w: E2EWorld;
let proxy: RecordingProxy;
let env: Record<string, string>;
let pass: string[];

/** Runs the CLI and returns what it printed; the wire must not have carried the marker. */
async function noPlainName(args: string[]): Promise<CliResult> {
  proxy.reset();
  const r = await w.ferry(args, { env });
  expect(proxy.bytes(), args.join(' ')).toBeGreaterThan(0);
  expect(proxy.saw(MARKER), `${args.join(' ')} sent a plain name`).toBe(false);
  return r;
}

beforeAll(async () => {
  w = await startWorld();
  proxy = await startRecordingProxy(w.server.port, [MARKER]);
  env = { FERRY_SERVER: proxy.url };
  await writeFile(join(w.dir, 'pass'), PASS + '\n');
  pass = ['--passphrase-file', join(w.dir, 'pass')];
  await mkdir(join(w.dir, 'src', SUB), { recursive: true });
  await writeFile(join(w.dir, 'src', NAME), BODY);
  await writeFile(join(w.dir, 'src', SUB, NAME), BODY);
  expect((await w.ferry(['mkdir', '--e2e', '/vault', ...pass], { env })).code).toBe(0);
  const put = await w.ferry(['put', '-r', join(w.dir, 'src') + '/', '/vault/', ...pass], { env });
  expect(put.code, put.stderr).toBe(0);
});
afterAll(async () => {
  await proxy?.close();
  await w?.close();
});

describe('commands naming a path in a vault send no plain name', () => {
  it('stat', async () => {
    const file = await noPlainName(['stat', '--json', `/vault/${NAME}`, ...pass]);
    expect(file.code, file.stderr).toBe(0);
    // The stored entry (the ciphertext's size) under the plain path.
    const entry = JSON.parse(file.stdout) as { size: number };
    expect(entry).toMatchObject({ type: 'file', name: NAME, path: `/vault/${NAME}` });
    expect(entry.size).toBeGreaterThan(BODY.length);
    const dir = await noPlainName(['stat', '--json', `/vault/${SUB}`, ...pass]);
    expect(dir.code, dir.stderr).toBe(0);
    expect(JSON.parse(dir.stdout)).toMatchObject({ type: 'dir', name: SUB });
    const missing = await noPlainName(['stat', `/vault/${MARKER}-nothing`, ...pass]);
    expect(missing.code).not.toBe(0);
  });

  it('cat decrypts', async () => {
    const r = await noPlainName(['cat', `/vault/${NAME}`, `/vault/${SUB}/${NAME}`, ...pass]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(BODY + BODY);
  });

  it('size', async () => {
    const r = await noPlainName(['size', '--json', `/vault/${SUB}`, ...pass]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ files: 1 });
    const f = await noPlainName(['size', '--json', `/vault/${NAME}`, ...pass]);
    expect(f.code, f.stderr).toBe(0);
    expect(JSON.parse(f.stdout)).toMatchObject({ files: 1 });
  });

  it('check and sync into a vault refuse plain names before sending them; a copy of it still syncs out', async () => {
    const file = await noPlainName(['check', join(w.dir, 'src', NAME), 'ferry:/vault/']);
    expect(file.code).not.toBe(0);
    expect(file.stderr).toContain('FERRY_ERR_UNSUPPORTED');
    const sync = await noPlainName(['sync', join(w.dir, 'src') + '/', 'ferry:/vault/']);
    expect(sync.code).not.toBe(0);
    expect(sync.stderr).toContain('whose names are encrypted');
    // Stored names only: a copy of the vault out, and a check of it against the vault.
    const out = join(w.dir, 'cipher');
    const copyOut = await noPlainName(['sync', 'ferry:/vault/', out + '/']);
    expect(copyOut.code, copyOut.stderr).toBe(0);
    const again = await noPlainName(['check', out + '/', 'ferry:/vault/']);
    expect(again.stderr).not.toContain('whose names are encrypted');
    expect(again.stderr).toMatch(/0 missing on ferry:\/vault\/, 0 missing on/);
  });
});
