/**
 * The SFTP front's host keys: made once, on the first start with SFTP on, in `DATA/ssh/`
 * (`ssh_host_ed25519_key` and `ssh_host_ecdsa_key`, OpenSSH's private key format, mode 0600,
 * with `.pub` files beside them), and reused from then on, so clients that trusted the
 * server keep trusting it. Ed25519 is what current clients pick; ECDSA P-256 is for those
 * without Ed25519 (older PuTTY, WinSCP and Java libraries). Both are made in milliseconds
 * (a 3072-bit RSA key took 2.3 s here).
 *
 * Fingerprints are SHA256 of the public key blob, as sshd logs them and as `ssh` shows
 * them on first contact, so an admin can compare what a client prints with what the
 * server printed at start.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { mkdirDurable } from '../../backends/local/local-backend.js';
import { ConfigError } from '../../core/errors.js';
import { replaceFile } from '../replace-file.js';
import { fingerprintOf } from './authorized-keys.js';

export interface HostKey {
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256` */
  type: string;
  /** The private key, OpenSSH format (what ssh2's Server takes). */
  privateKey: Buffer;
  /** `TYPE BASE64` (an authorized_keys / known_hosts key). */
  publicKey: string;
  fingerprint: string;
  file: string;
}

const KINDS = [
  { file: 'ssh_host_ed25519_key', gen: () => ssh2.utils.generateKeyPairSync('ed25519') },
  { file: 'ssh_host_ecdsa_key', gen: () => ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }) },
] as const;

/**
 * A key pair ssh2 can read back. Its generator writes, for about one Ed25519 key in 400,
 * an OpenSSH private key its own parser refuses ("Malformed OpenSSH private key"), which
 * failed a first start now and then: such a pair is thrown away and another made.
 */
function usablePair(gen: () => { private: string; public: string }): { private: string; public: string } {
  for (let attempt = 0; ; attempt++) {
    const pair = gen();
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair;
    if (attempt === 20) throw new ConfigError('could not make an SSH host key ssh2 can read');
  }
}

/** Loads the host keys from `DATA/ssh/`, making the missing ones. */
export async function loadHostKeys(dataDir: string): Promise<HostKey[]> {
  const dir = join(dataDir, 'ssh');
  await mkdirDurable(dir, 0o700);
  const out: HostKey[] = [];
  for (const kind of KINDS) {
    const file = join(dir, kind.file);
    let privateKey: Buffer;
    try {
      privateKey = await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const pair = usablePair(kind.gen);
      // Flushed under a temporary name, renamed, the rename made durable: a crash never
      // leaves half a key, nor an empty one that every later start would refuse.
      await replaceFile(file, pair.private, 0o600);
      await replaceFile(file + '.pub', pair.public.trim() + ' ferry\n', 0o644);
      privateKey = Buffer.from(pair.private);
    }
    const parsed = ssh2.utils.parseKey(privateKey);
    if (parsed instanceof Error) throw new ConfigError(`${file}: not a usable SSH host key (${parsed.message}); move it away to have a new one made`);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    const blob = key.getPublicSSH();
    out.push({ type: key.type, privateKey, publicKey: `${key.type} ${blob.toString('base64')}`, fingerprint: fingerprintOf(blob), file });
  }
  return out;
}
