import { describe, expect, it } from 'vitest';
import { SCRYPT_PARAMS, userKeyOf, type Scrypt } from './kdf.js';
import { toBase64Url } from './format.js';

const salt = toBase64Url(new Uint8Array(16));

/** A stand-in scrypt that records the costs it was asked for. */
function recording(): { scrypt: Scrypt; asked: { N: number; r: number; p: number }[] } {
  const asked: { N: number; r: number; p: number }[] = [];
  return { asked, scrypt: async (_pass, _salt, { N, r, p }) => (asked.push({ N, r, p }), new Uint8Array(32)) };
}

describe('userKeyOf: the scrypt costs a marker may ask for (docs/e2e.md: "N 2^14..2^20, r 1..32, p 1..16")', () => {
  it('derives with the costs at the bounds and the default (N 2^17, r 8, p 1)', async () => {
    const { scrypt, asked } = recording();
    const costs = [SCRYPT_PARAMS, { N: 2 ** 14, r: 1, p: 1 }, { N: 2 ** 20, r: 32, p: 16 }];
    for (const c of costs) await userKeyOf({ passphrase: 'pass' }, { name: 'scrypt', ...c, salt }, scrypt);
    expect(asked).toEqual(costs);
    expect(SCRYPT_PARAMS).toEqual({ N: 2 ** 17, r: 8, p: 1 });
  });

  it('refuses a marker asking for more (or less) before any derivation', async () => {
    const { scrypt, asked } = recording();
    for (const c of [{ N: 2 ** 21, r: 8, p: 1 }, { N: 2 ** 13, r: 8, p: 1 }, { N: 3 * 2 ** 15, r: 8, p: 1 }, { N: 2 ** 17, r: 33, p: 1 }, { N: 2 ** 17, r: 0, p: 1 }, { N: 2 ** 17, r: 8, p: 17 }, { N: 2 ** 17, r: 8, p: 0 }]) {
      await expect(userKeyOf({ passphrase: 'pass' }, { name: 'scrypt', ...c, salt }, scrypt), JSON.stringify(c)).rejects.toMatchObject({
        code: 'FERRY_ERR_CONFIG',
        message: expect.stringContaining('scrypt N 2^14..2^20, r 1..32, p 1..16'),
      });
    }
    expect(asked).toEqual([]);
  });
});
