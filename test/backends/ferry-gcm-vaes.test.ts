/**
 * The ferry-gcm addon's own AES-256-GCM (native/gcm/src/gcm-vaes.c: VAES + VPCLMULQDQ, used where
 * the processor has them) against Node's cipher API (OpenSSL), byte for byte: every AAD length
 * 0..70 and plaintext length 0..300 (across block and 16-block group boundaries), large
 * segments, pieces of every size through sealBegin/sealUpdate/sealFinal, opening apart and in
 * place (output before, at or after its ciphertext), tampering refused. FERRY_GCM_IMPL=openssl
 * (read when the addon loads) makes the addon use OpenSSL: a child process with it seals the
 * same bytes and opens what this one sealed.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ferryNative, type FerryNativeAddon } from '../../src/core/native-addon.js';
import { segmentNonce } from '../../src/backends/decorators/segment-cipher.js';

const addon = ferryNative().addon as FerryNativeAddon;

/** Whether /proc/cpuinfo lists every feature the VAES code needs (Linux; elsewhere unknown). */
function cpuHasVaes(): boolean | undefined {
  let info: string;
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return undefined;
  }
  const flags = new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? '').trim().split(/\s+/));
  return ['vaes', 'vpclmulqdq', 'avx512f', 'avx512bw', 'avx512vl', 'aes', 'pclmulqdq'].every((f) => flags.has(f));
}

function reference(key: Buffer, index: number, last: boolean, aad: Buffer, plain: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, segmentNonce(index, last));
  c.setAAD(aad);
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

interface Vector {
  key: Buffer;
  index: number;
  last: boolean;
  aad: Buffer;
  plain: Buffer;
}

function vector(aadBytes: number, plainBytes: number): Vector {
  return { key: randomBytes(32), index: randomInt(0, 2 ** 32), last: randomInt(2) === 1, aad: randomBytes(aadBytes), plain: randomBytes(plainBytes) };
}

function seal(v: Vector): Buffer {
  const out = Buffer.alloc(v.plain.length + 16 + 3);
  expect(addon.seal(addon.newKey(v.key), v.index, v.last, v.aad, v.plain, out, 3)).toBe(v.plain.length + 19);
  return out.subarray(3);
}

/** Seals through sealBegin/sealUpdate/sealFinal, the plaintext cut at the given places. */
function sealPieces(v: Vector, cuts: number[]): Buffer {
  const handle = addon.newKey(v.key);
  const out = Buffer.alloc(v.plain.length + 16);
  addon.sealBegin(handle, v.index, v.last, v.aad);
  let at = 0;
  for (const cut of [...cuts, v.plain.length]) at = addon.sealUpdate(handle, v.plain.subarray(at, Math.max(at, cut)), out, at);
  expect(addon.sealFinal(handle, out, at)).toBe(out.length);
  return out;
}

const LARGE = [64 * 1024, 64 * 1024 + 15, 1024 * 1024 + 7];

describe('ferry-gcm: its own AES-256-GCM against OpenSSL', () => {
  it('uses the VAES code exactly where the processor has every feature it needs (unless FERRY_GCM_IMPL=openssl)', () => {
    expect(addon, ferryNative().why).toBeDefined();
    const has = cpuHasVaes();
    if (process.env.FERRY_GCM_IMPL === 'openssl' || has === false) expect(addon.implementation).toBe('openssl');
    else if (has === true) expect(addon.implementation).toBe('vaes-avx512');
    else expect(['openssl', 'vaes-avx512']).toContain(addon.implementation);
  });

  it('seals and opens as OpenSSL does for every AAD length 0..70 and plaintext length 0..300, and large segments', () => {
    const cases: Array<[number, number]> = [];
    for (let p = 0; p <= 300; p++) cases.push([randomInt(71), p]);
    for (let a = 0; a <= 70; a++) cases.push([a, randomInt(301)]);
    for (const p of LARGE) cases.push([randomInt(71), p]);
    for (const [aadBytes, plainBytes] of cases) {
      const v = vector(aadBytes, plainBytes);
      const expected = reference(v.key, v.index, v.last, v.aad, v.plain);
      expect(seal(v).equals(expected), `seal aad ${aadBytes} plain ${plainBytes}`).toBe(true);
      const out = Buffer.alloc(plainBytes + 1, 0xee);
      expect(addon.open(addon.newKey(v.key), v.index, v.last, v.aad, expected, out, 1)).toBe(plainBytes);
      expect(out.subarray(1).equals(v.plain), `open aad ${aadBytes} plain ${plainBytes}`).toBe(true);
      expect(out[0]).toBe(0xee);
    }
  });

  it('seals piece by piece (pieces of every length, empty ones, partial blocks carried over) to the same bytes', () => {
    for (const plainBytes of [1, 15, 16, 17, 255, 256, 257, 300, 1000, ...LARGE]) {
      const v = vector(randomInt(71), plainBytes);
      const expected = reference(v.key, v.index, v.last, v.aad, v.plain);
      const random = Array.from({ length: 12 }, () => randomInt(plainBytes + 1)).sort((a, b) => a - b);
      for (const cuts of [random, [0, 0, 1, 1, 2], [15, 16, 31, 33], [255, 256, 511, 513], [plainBytes - 1]]) {
        expect(sealPieces(v, cuts).equals(expected), `pieces ${plainBytes} at ${cuts.join(',')}`).toBe(true);
      }
    }
    // One byte at a time across two groups.
    const v = vector(13, 600);
    expect(sealPieces(v, Array.from({ length: 600 }, (_, i) => i)).equals(reference(v.key, v.index, v.last, v.aad, v.plain))).toBe(true);
  });

  it('opens in place: the plain bytes before, at or after their ciphertext, overlapping it', () => {
    for (const plainBytes of [0, 5, 16, 255, 256, 300, 4097, ...LARGE]) {
      const v = vector(20, plainBytes);
      const sealed = reference(v.key, v.index, v.last, v.aad, v.plain);
      for (const shift of [-37, -16, -1, 0, 1, 16, 37]) {
        const start = 64;
        const buf = Buffer.alloc(start * 2 + sealed.length);
        sealed.copy(buf, start);
        const target = start + shift;
        const got = addon.open(addon.newKey(v.key), v.index, v.last, v.aad, buf.subarray(start, start + sealed.length), buf, target);
        expect(got, `${plainBytes} shift ${shift}`).toBe(plainBytes);
        expect(buf.subarray(target, target + plainBytes).equals(v.plain), `${plainBytes} shift ${shift}`).toBe(true);
      }
    }
  });

  it('refuses a changed ciphertext byte, tag byte, AAD byte, index or last flag; leaves no plain byte in out and the ciphertext unchanged', () => {
    for (const plainBytes of [1, 16, 100, 256, 1000, 65536]) {
      const v = vector(33, plainBytes);
      const sealed = reference(v.key, v.index, v.last, v.aad, v.plain);
      const handle = addon.newKey(v.key);
      const changed = (at: number): Buffer => {
        const c = Buffer.from(sealed);
        c[at] ^= 1 << randomInt(8);
        return c;
      };
      const aad = Buffer.from(v.aad);
      aad[randomInt(aad.length)] ^= 0x80;
      const tries: Array<[Buffer, number, boolean, Buffer]> = [
        [v.aad, v.index, v.last, changed(randomInt(plainBytes))],
        [v.aad, v.index, v.last, changed(plainBytes + randomInt(16))],
        [aad, v.index, v.last, sealed],
        [v.aad, (v.index + 1) % 2 ** 32, v.last, sealed],
        [v.aad, v.index, !v.last, sealed],
      ];
      for (const [a, index, last, s] of tries) {
        // Apart: the output is left without plain bytes.
        const out = Buffer.alloc(plainBytes, 0xaa);
        expect(addon.open(handle, index, last, a, s, out, 0)).toBe(-1);
        expect(out.includes(v.plain.subarray(0, Math.min(16, plainBytes)))).toBe(false);
        // In place: nothing written, the ciphertext whole for another try.
        const buf = Buffer.concat([Buffer.alloc(7), s]);
        const before = Buffer.from(buf);
        expect(addon.open(handle, index, last, a, buf.subarray(7), buf, 0)).toBe(-1);
        expect(buf.equals(before)).toBe(true);
      }
    }
  });

  it('FERRY_GCM_IMPL=openssl: the addon uses OpenSSL, seals the same bytes and opens what the VAES code sealed', () => {
    const vectors: Vector[] = [];
    for (const p of [0, 1, 15, 16, 17, 255, 256, 257, 4095, ...LARGE]) vectors.push(vector(randomInt(71), p));
    const child = `
      const addon = require('ferry-gcm');
      const vs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
      const out = vs.map((v) => {
        const plain = Buffer.from(v.plain, 'base64');
        const sealed = Buffer.alloc(plain.length + 16);
        const key = addon.newKey(Buffer.from(v.key, 'base64'));
        addon.seal(key, v.index, v.last, Buffer.from(v.aad, 'base64'), plain, sealed, 0);
        const back = Buffer.alloc(plain.length);
        const opened = addon.open(key, v.index, v.last, Buffer.from(v.aad, 'base64'), Buffer.from(v.theirs, 'base64'), back, 0);
        return { sealed: sealed.toString('base64'), opened: opened === plain.length && back.equals(plain) };
      });
      process.stdout.write(JSON.stringify({ implementation: addon.implementation, out }));`;
    const input = vectors.map((v) => ({ key: v.key.toString('base64'), index: v.index, last: v.last, aad: v.aad.toString('base64'), plain: v.plain.toString('base64'), theirs: seal(v).toString('base64') }));
    const result = JSON.parse(
      execFileSync(process.execPath, ['-e', child], { cwd: new URL('../..', import.meta.url), env: { ...process.env, FERRY_GCM_IMPL: 'openssl' }, input: JSON.stringify(input), maxBuffer: 64 * 1024 * 1024 }).toString(),
    ) as { implementation: string; out: Array<{ sealed: string; opened: boolean }> };
    expect(result.implementation).toBe('openssl');
    result.out.forEach((r, i) => {
      expect(Buffer.from(r.sealed, 'base64').equals(seal(vectors[i])), `vector ${i}`).toBe(true);
      expect(r.opened, `vector ${i}`).toBe(true);
    });
  });
});
