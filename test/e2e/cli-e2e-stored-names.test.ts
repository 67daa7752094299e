/**
 * Files put with `put --encrypt` outside a vault, at the edges the plain-name commands left
 * open: `rm -f` of a name that is not there, in a folder holding encrypted files, without the
 * key (rm -f's promise: a missing name is no error); and `mv`/`cp` of such a file named by
 * its stored (encrypted) name to a plain name, which must not leave sealed bytes under a
 * plain name that `get` would hand out as they are.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { E2EWorld } from '../helpers/e2e.js';
import { startEncryptedNamesWorld, type EncryptedNamesWorld } from '../helpers/encrypted-names.js';

let c: EncryptedNamesWorld;
let w: E2EWorld;
let key: Record<string, string>;
let plain: Buffer;
const putEncrypted = (dir: string, name: string) => c.putEncrypted(dir, name);
const names = (dir: string, withKey: boolean) => c.names(dir, withKey);

beforeAll(async () => {
  c = await startEncryptedNamesWorld(50_000);
  ({ w, key, plain } = c);
  await putEncrypted('/docs', 'taxes.pdf');
});
afterAll(async () => {
  await w?.close();
});

describe('rm of a name that is not there, beside files put with --encrypt, without the key', () => {
  it('rm -f succeeds quietly and removes nothing', async () => {
    const before = await names('/docs', false);
    const rm = await w.ferry(['rm', '-f', '/docs/no-such.pdf']);
    expect(rm.stderr).toBe('');
    expect(rm.code).toBe(0);
    expect(await names('/docs', false)).toEqual(before);
  });

  it('rm -f --json lists it as missing', async () => {
    const rm = await w.ferry(['rm', '-f', '--json', '/docs/no-such.pdf']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(JSON.parse(rm.stdout)).toMatchObject({ ok: true, removed: [], missing: ['/docs/no-such.pdf'], failed: [] });
  });

  it('rm without -f says the name is not there, and that the key would let it look among the encrypted names', async () => {
    const rm = await w.ferry(['rm', '/docs/no-such.pdf']);
    expect(rm.code).not.toBe(0);
    expect(rm.stderr).toContain('/docs/no-such.pdf is no plain file or folder');
    expect(rm.stderr).toContain('--passphrase-file');
  });

  it('rm -f with the key still removes the file named in plain', async () => {
    await putEncrypted('/gone', 'old.pdf');
    const rm = await w.ferry(['rm', '-f', '/gone/old.pdf'], { env: key });
    expect(rm.code, rm.stderr).toBe(0);
    expect(await names('/gone', false)).toEqual([]);
  });
});

describe('mv and cp of a file put with --encrypt, named by its stored name, to a plain name', () => {
  /** The stored name of the one file of `dir`. */
  async function storedName(dir: string): Promise<string> {
    const stored = await names(dir, false);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatch(/\.fe2e$/);
    return stored[0]!;
  }

  /** `get` of the plain name gives the file's plain bytes back. */
  async function expectPlainBytes(path: string): Promise<void> {
    const dest = join(w.dir, `got-${randomBytes(4).toString('hex')}`);
    const get = await w.ferry(['get', path, dest], { env: key });
    expect(get.code, get.stderr).toBe(0);
    expect((await readFile(dest)).equals(plain)).toBe(true);
  }

  it('mv with the key: the new name is encrypted too, and get of the plain name decrypts it', async () => {
    await putEncrypted('/mv1', 'report.pdf');
    const stored = await storedName('/mv1');
    const mv = await w.ferry(['mv', `/mv1/${stored}`, '/mv1/report-final.pdf'], { env: key });
    expect(mv.code, mv.stderr).toBe(0);
    expect(await names('/mv1', true)).toEqual(['report-final.pdf']);
    const after = await storedName('/mv1');
    expect(after).not.toBe(stored);
    await expectPlainBytes('/mv1/report-final.pdf');
  });

  it('cp with the key: the copy is encrypted under its new name, the original kept', async () => {
    await putEncrypted('/cp1', 'report.pdf');
    const stored = await storedName('/cp1');
    const cp = await w.ferry(['cp', `/cp1/${stored}`, '/cp1/copy.pdf'], { env: key });
    expect(cp.code, cp.stderr).toBe(0);
    expect((await names('/cp1', true)).sort()).toEqual(['copy.pdf', 'report.pdf']);
    expect((await names('/cp1', false)).every((n) => n.endsWith('.fe2e'))).toBe(true);
    await expectPlainBytes('/cp1/copy.pdf');
  });

  it('without the key: refused with FERRY_ERR_CRYPTO_KEY_MISSING, saying why, and nothing moved', async () => {
    await putEncrypted('/mv2', 'report.pdf');
    const stored = await storedName('/mv2');
    const mv = await w.ferry(['mv', `/mv2/${stored}`, '/mv2/report-final.pdf']);
    expect(mv.code).toBe(2);
    expect(mv.stderr).toContain('FERRY_ERR_CRYPTO_KEY_MISSING');
    expect(mv.stderr).toContain(`/mv2/${stored} is a file put with --encrypt`);
    expect(await names('/mv2', false)).toEqual([stored]);
  });

  it('into a folder, without the key: it keeps its stored name there', async () => {
    await putEncrypted('/mv3', 'report.pdf');
    const stored = await storedName('/mv3');
    await w.ferry(['mkdir', '/mv3/sub']);
    const mv = await w.ferry(['mv', `/mv3/${stored}`, '/mv3/sub/']);
    expect(mv.code, mv.stderr).toBe(0);
    expect(await names('/mv3/sub', false)).toEqual([stored]);
    await expectPlainBytes('/mv3/sub/report.pdf');
  });
});
