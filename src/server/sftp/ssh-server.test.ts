import { describe, expect, it } from 'vitest';
import { offeredCiphers, sshCryptoIsNative } from './ssh-server.js';

describe('ciphers offered', () => {
  it('are ChaCha20-Poly1305, AES-GCM and AES-CTR with ssh2’s native binding; AES-GCM alone without it', () => {
    expect(offeredCiphers(true)).toEqual(['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr']);
    expect(offeredCiphers(false)).toEqual(['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com']);
    // npm install builds the binding here (package.json allows ssh2's install script)
    expect(sshCryptoIsNative()).toBe(true);
  });
});

describe('host keys', () => {
  it('are made readable every time (ssh2 writes an Ed25519 key it cannot read about once in 400)', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadHostKeys } = await import('./host-keys.js');
    const dirs: string[] = [];
    try {
      for (let i = 0; i < 1500; i++) {
        const dir = await mkdtemp(join(tmpdir(), 'ferry-hostkeys-'));
        dirs.push(dir);
        const keys = await loadHostKeys(dir);
        expect(keys.map((k) => k.type)).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256']);
      }
    } finally {
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    }
  }, 120_000);
});
