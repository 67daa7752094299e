/** Where the CLI finds the end-to-end secret: key file, passphrase file, environment, prompt; each failure with its code. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasE2eSecret, lazySecret, parseKeyFile } from './node-keys.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-e2e-keys-'));
const key = Buffer.alloc(32, 7);
writeFileSync(join(dir, 'key'), `ferry-key-1:${key.toString('base64url')}\n`);
writeFileSync(join(dir, 'pass'), 'the passphrase\nsecond line ignored\n');
writeFileSync(join(dir, 'empty'), '\n');

describe('end-to-end secrets in Node.js', () => {
  it('reads a key file, the first line of a passphrase file, then the environment, then the prompt', async () => {
    expect(await lazySecret({ keyFile: join(dir, 'key'), env: {} })()).toEqual({ keyFile: new Uint8Array(key) });
    expect(await lazySecret({ passphraseFile: join(dir, 'pass'), env: { FERRY_E2E_PASSPHRASE: 'env' } })()).toEqual({ passphrase: 'the passphrase' });
    expect(await lazySecret({ env: { FERRY_E2E_PASSPHRASE: 'env' } })()).toEqual({ passphrase: 'env' });
    let asked = 0;
    const secret = lazySecret({ env: {}, prompt: async () => (asked++, 'typed') });
    expect(await secret()).toEqual({ passphrase: 'typed' });
    expect(await secret()).toEqual({ passphrase: 'typed' });
    expect(asked).toBe(1);
    expect(hasE2eSecret({ env: {} })).toBe(false);
    expect(hasE2eSecret({ env: { FERRY_E2E_PASSPHRASE: 'x' } })).toBe(true);
  });

  it('refuses a bad key file, an empty passphrase file, and no secret at all', async () => {
    expect(() => parseKeyFile('ferry-key-1:AAAA', 'k')).toThrow(/not a Ferry key file/);
    await expect(lazySecret({ passphraseFile: join(dir, 'empty'), env: {} })()).rejects.toMatchObject({ code: 'FERRY_ERR_CONFIG' });
    await expect(lazySecret({ passphraseFile: join(dir, 'missing'), env: {} })()).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    await expect(lazySecret({ env: {} })()).rejects.toMatchObject({ code: 'FERRY_ERR_CRYPTO_KEY_MISSING' });
    await expect(lazySecret({ env: {}, prompt: async () => '' })()).rejects.toMatchObject({ code: 'FERRY_ERR_CRYPTO_KEY_MISSING' });
  });
});
