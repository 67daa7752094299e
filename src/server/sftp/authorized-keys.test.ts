import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fingerprintOf, parseAuthorizedKeys, parsePublicKeyLine } from './authorized-keys.js';

function wire(...parts: Buffer[]): Buffer {
  return Buffer.concat(parts.flatMap((p) => [Buffer.from([p.length >>> 24, (p.length >>> 16) & 255, (p.length >>> 8) & 255, p.length & 255]), p]));
}

function rsaLine(bits: number): string {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const jwk = publicKey.export({ format: 'jwk' });
  const mpint = (b64: string) => {
    const raw = Buffer.from(b64, 'base64url');
    return raw[0] & 0x80 ? Buffer.concat([Buffer.from([0]), raw]) : raw;
  };
  return `ssh-rsa ${wire(Buffer.from('ssh-rsa'), mpint(jwk.e!), mpint(jwk.n!)).toString('base64')} rsa@test`;
}

const ED = `ssh-ed25519 ${wire(Buffer.from('ssh-ed25519'), Buffer.alloc(32, 1)).toString('base64')} me@host with spaces`;

describe('authorized_keys lines', () => {
  it('reads type, bits, fingerprint and the whole comment', () => {
    const k = parsePublicKeyLine(ED);
    expect(k).toMatchObject({ type: 'ssh-ed25519', bits: 256, comment: 'me@host with spaces' });
    expect(k.fingerprint).toBe(fingerprintOf(k.blob));
    expect(k.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(parsePublicKeyLine(rsaLine(2048)).bits).toBe(2048);
  });

  it('refuses short RSA, DSA, options, bad data and types that disagree with their data', () => {
    expect(() => parsePublicKeyLine(rsaLine(1024))).toThrow(/at least 2048 bits; this one has 1024/);
    expect(() => parsePublicKeyLine('ssh-dss AAAAB3NzaC1kc3M= x')).toThrow(/DSA/);
    expect(() => parsePublicKeyLine(`from="10.0.0.0/8" ${ED}`)).toThrow(/options/);
    expect(() => parsePublicKeyLine(`command="ls" ${ED}`)).toThrow(/options/);
    expect(() => parsePublicKeyLine('ssh-ed25519 not*base64')).toThrow(/base64/);
    const lying = `ssh-rsa ${wire(Buffer.from('ssh-ed25519'), Buffer.alloc(32)).toString('base64')}`;
    expect(() => parsePublicKeyLine(lying)).toThrow(/not ssh-rsa/);
    const short = `ssh-ed25519 ${wire(Buffer.from('ssh-ed25519'), Buffer.alloc(31)).toString('base64')}`;
    expect(() => parsePublicKeyLine(short)).toThrow(/32 bytes/);
    const extra = `ssh-ed25519 ${Buffer.concat([wire(Buffer.from('ssh-ed25519'), Buffer.alloc(32)), Buffer.from([0])]).toString('base64')}`;
    expect(() => parsePublicKeyLine(extra)).toThrow(/extra bytes/);
    expect(() => parsePublicKeyLine('hello world')).toThrow(/not a public key line/);
  });

  it('refuses a comment over 1,024 characters and RSA over 16384 bits (as sshd)', () => {
    expect(parsePublicKeyLine(`${ED.split(' ').slice(0, 2).join(' ')} ${'c'.repeat(1024)}`).comment).toHaveLength(1024);
    expect(() => parsePublicKeyLine(`${ED} ${'c'.repeat(1024)}`)).toThrow(/comment may have at most 1024 characters; this one has 1044/);
    const rsaOf = (bits: number) => {
      const n = Buffer.alloc(1 + bits / 8, 0xff);
      n[0] = 0; // an mpint's sign byte: `bits` significant bits follow
      return `ssh-rsa ${wire(Buffer.from('ssh-rsa'), Buffer.from([1, 0, 1]), n).toString('base64')}`;
    };
    expect(parsePublicKeyLine(rsaOf(16384)).bits).toBe(16384);
    expect(() => parsePublicKeyLine(rsaOf(16392))).toThrow(/at most 16384 bits; this one has 16392/);
  });

  it('takes a whole file: comments and blank lines skipped, errors name their line', () => {
    expect(parseAuthorizedKeys(`# mine\n\n${ED}\r\n`)).toHaveLength(1);
    expect(() => parseAuthorizedKeys(`${ED}\nssh-ed25519 AAAA\n`)).toThrow(/^line 2: /);
    expect(() => parseAuthorizedKeys('# nothing here\n')).toThrow(/no public key/);
  });
});
