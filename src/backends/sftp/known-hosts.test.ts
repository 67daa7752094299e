import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkHostKey, fingerprintOf, knownHostsName } from './known-hosts.js';

/** A public key blob of the given type (the checker compares blobs; the rest is opaque). */
function blob(type: string): Buffer {
  const name = Buffer.from(type);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(name.length);
  return Buffer.concat([head, name, randomBytes(32)]);
}

const line = (patterns: string, key: Buffer, marker = '') =>
  `${marker ? marker + ' ' : ''}${patterns} ${key.subarray(4, 4 + key.readUInt32BE(0)).toString()} ${key.toString('base64')} comment`;

describe('known_hosts checking', () => {
  const key = blob('ssh-ed25519');
  const other = blob('ssh-ed25519');
  const rsa = blob('ssh-rsa');

  it('names hosts on other ports [host]:port, and fingerprints as ssh-keygen does', () => {
    expect(knownHostsName('example.org', 22)).toBe('example.org');
    expect(knownHostsName('example.org', 2222)).toBe('[example.org]:2222');
    expect(fingerprintOf(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('known, unknown, changed and revoked', () => {
    const text = ['# comment', '', line('example.org,192.0.2.1', key), line('[example.org]:2222', other)].join('\n');
    expect(checkHostKey(text, 'example.org', 22, key)).toBe('known');
    expect(checkHostKey(text, '192.0.2.1', 22, key)).toBe('known');
    expect(checkHostKey(text, 'example.org', 2222, other)).toBe('known');
    expect(checkHostKey(text, 'example.org', 2222, key)).toBe('changed');
    expect(checkHostKey(text, 'example.org', 22, other)).toBe('changed');
    // A key of another type for a known host is new, not changed (as OpenSSH sees it).
    expect(checkHostKey(text, 'example.org', 22, rsa)).toBe('unknown');
    expect(checkHostKey(text, 'elsewhere.org', 22, key)).toBe('unknown');
    expect(checkHostKey(text + '\n' + line('*', key, '@revoked'), 'example.org', 22, key)).toBe('revoked');
  });

  it('hashed entries, wildcards and negations', () => {
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[h.example]:2200').digest('base64')}`;
    expect(checkHostKey(line(hashed, key), 'h.example', 2200, key)).toBe('known');
    expect(checkHostKey(line(hashed, key), 'h.example', 22, key)).toBe('unknown');
    const wild = line('*.example.org,!bad.example.org', key);
    expect(checkHostKey(wild, 'a.example.org', 22, key)).toBe('known');
    expect(checkHostKey(wild, 'bad.example.org', 22, key)).toBe('unknown');
    expect(checkHostKey(line('10.0.0.?', key), '10.0.0.7', 22, key)).toBe('known');
    expect(checkHostKey(line('10.0.0.?', key), '10.0.0.17', 22, key)).toBe('unknown');
  });
});
