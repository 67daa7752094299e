/**
 * Files put with `put --encrypt` outside a vault, named by their plain names in the commands
 * that take one server path (stat, size, rm, mv, cp, share), as `ls` and `get` already did:
 * each finds the stored (encrypted) name with the key, and sends only that.
 */
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
  c = await startEncryptedNamesWorld(100_000);
  ({ w, key, plain } = c);
});
afterAll(async () => {
  await w?.close();
});

describe('plain names of put --encrypt files outside a vault', () => {
  it('stat and size find the file by its plain name, and show it under that name', async () => {
    await putEncrypted('/docs', 'taxes.pdf');
    const stat = await w.ferry(['stat', '--json', '/docs/taxes.pdf'], { env: key });
    expect(stat.code, stat.stderr).toBe(0);
    expect(JSON.parse(stat.stdout)).toMatchObject({ path: '/docs/taxes.pdf', name: 'taxes.pdf', type: 'file' });
    const size = await w.ferry(['size', '--json', '/docs/taxes.pdf'], { env: key });
    expect(size.code, size.stderr).toBe(0);
    expect(JSON.parse(size.stdout)).toMatchObject({ files: 1 });
  });

  it('a name that is not there is still "not found" (exit 3) with the key', async () => {
    const stat = await w.ferry(['stat', '/docs/no-such.pdf'], { env: key });
    expect(stat.code).toBe(3);
    expect(stat.stderr).toContain('FERRY_ERR_NOT_FOUND');
  });

  it('without the key, stat of the plain name says the key is needed to look among the encrypted names', async () => {
    const stat = await w.ferry(['stat', '/docs/taxes.pdf']);
    expect(stat.code).toBe(2);
    expect(stat.stderr).toContain('FERRY_ERR_CRYPTO_KEY_MISSING');
  });

  it('share gives a link to the file named in plain', async () => {
    const share = await w.ferry(['share', '/docs/taxes.pdf', '--json'], { env: key });
    expect(share.code, share.stderr).toBe(0);
    expect(share.stdout).toContain('#k=');
  });

  it('cp into a folder: the copy is found there by its plain name', async () => {
    await w.ferry(['mkdir', '/copies']);
    const cp = await w.ferry(['cp', '/docs/taxes.pdf', '/copies/'], { env: key });
    expect(cp.code, cp.stderr).toBe(0);
    expect(await names('/copies', true)).toEqual(['taxes.pdf']);
    const dest = join(w.dir, 'copy.pdf');
    const get = await w.ferry(['get', '/copies/taxes.pdf', dest], { env: key });
    expect(get.code, get.stderr).toBe(0);
    expect((await readFile(dest)).equals(plain)).toBe(true);
  });

  it('mv to a new plain name encrypts that name: ls shows it, get decrypts it', async () => {
    const mv = await w.ferry(['mv', '/copies/taxes.pdf', '/copies/taxes-2025.pdf'], { env: key });
    expect(mv.code, mv.stderr).toBe(0);
    expect(await names('/copies', true)).toEqual(['taxes-2025.pdf']);
    const stored = await names('/copies', false);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatch(/\.fe2e$/);
    const dest = join(w.dir, 'renamed.pdf');
    const get = await w.ferry(['get', '/copies/taxes-2025.pdf', dest], { env: key });
    expect(get.code, get.stderr).toBe(0);
    expect((await readFile(dest)).equals(plain)).toBe(true);
  });

  it('rm removes the file named in plain', async () => {
    const rm = await w.ferry(['rm', '/copies/taxes-2025.pdf'], { env: key });
    expect(rm.code, rm.stderr).toBe(0);
    expect(await names('/copies', false)).toEqual([]);
    expect(await names('/docs', true)).toEqual(['taxes.pdf']);
  });
});
