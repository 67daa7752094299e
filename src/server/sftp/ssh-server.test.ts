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
