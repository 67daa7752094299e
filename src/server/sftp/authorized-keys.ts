/**
 * Public keys as users hand them in: OpenSSH `authorized_keys` lines (`TYPE BASE64 [COMMENT]`,
 * what `~/.ssh/id_ed25519.pub` holds). Validated here, before anything is stored:
 *
 * - types: ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of 2048 to 16384 bits (RSA keys
 *   are then used with rsa-sha2-256/512 signatures; DSA, 1024-bit RSA and RSA over 16384 bits
 *   are refused, as OpenSSH refuses them);
 * - a comment of at most 1,024 characters: keys are stored, listed and audited with it, and
 *   a line may be 16 KiB (for RSA's largest keys), so a 16 KiB comment made every key row
 *   (and its audit entry) 16 KiB of metadata database outside any quota;
 * - the blob must decode and say the same type as the line, with nothing left over;
 * - a line with options (`from="..."`, `command="..."`, `restrict`) is refused rather than
 *   stored without them: an option silently dropped would widen what the key may do.
 *
 * Blank lines and `#` comments are skipped, so a whole authorized_keys file can be given.
 * Fingerprints are SHA256 as `ssh-keygen -l` prints them.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../../core/errors.js';

export interface PublicKeyLine {
  type: string;
  bits: number;
  /** The key blob (SSH wire form). */
  blob: Buffer;
  /** Base64 of the blob, as stored and compared. */
  base64: string;
  fingerprint: string;
  comment: string;
}

const KEY_TYPES = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa']);
const MIN_RSA_BITS = 2048;
/** OpenSSH's SSH_RSA_MAXIMUM_MODULUS_SIZE: sshd refuses larger RSA keys, and so does OpenSSL's verify. */
const MAX_RSA_BITS = 16384;
/** Longest comment kept (ssh-keygen writes `user@host`). */
export const MAX_COMMENT = 1024;
/** Longest line accepted: an RSA key of 16384 bits is about 2.8 KB of base64. */
const MAX_LINE = 16 * 1024;
/** Most keys in one request. */
export const MAX_KEYS_PER_REQUEST = 100;

/** `SHA256:` + unpadded base64 of SHA-256 of a key blob (what ssh-keygen -l and sshd print). */
export function fingerprintOf(blob: Uint8Array): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** Reads SSH wire-form strings and mpints from a blob; undefined when the blob is short. */
class WireReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  string(): Buffer | undefined {
    if (this.pos + 4 > this.buf.length) return undefined;
    const len = this.buf.readUInt32BE(this.pos);
    if (this.pos + 4 + len > this.buf.length) return undefined;
    const out = this.buf.subarray(this.pos + 4, this.pos + 4 + len);
    this.pos += 4 + len;
    return out;
  }
  get done(): boolean {
    return this.pos === this.buf.length;
  }
}

/** Significant bits of an unsigned big-endian integer (an SSH mpint without its sign byte). */
function bitLength(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  if (i === n.length) return 0;
  return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]));
}

/** The key size a blob of `type` holds, checking its structure; throws FERRY_ERR_VALIDATION. */
function keyBits(type: string, blob: Buffer): number {
  const r = new WireReader(blob);
  const bad = (why: string): never => {
    throw new ValidationError(`the ${type} key is not valid: ${why}`);
  };
  const inner = r.string();
  if (inner === undefined || inner.toString('latin1') !== type) bad(`its data says ${JSON.stringify(inner?.toString('latin1') ?? '')}, not ${type}`);
  let bits = 0;
  if (type === 'ssh-ed25519') {
    const pk = r.string();
    if (!pk || pk.length !== 32) bad('the public key is not 32 bytes');
    bits = 256;
  } else if (type === 'ssh-rsa') {
    const e = r.string();
    const n = r.string();
    if (!e || !n || bitLength(e) === 0) bad('truncated');
    bits = bitLength(n!);
    if (bits < MIN_RSA_BITS) throw new ValidationError(`RSA keys need at least ${MIN_RSA_BITS} bits; this one has ${bits} (make an ed25519 key: ssh-keygen -t ed25519)`);
    if (bits > MAX_RSA_BITS) throw new ValidationError(`RSA keys may have at most ${MAX_RSA_BITS} bits; this one has ${bits}`);
  } else {
    const curve = type.slice('ecdsa-sha2-'.length);
    const id = r.string();
    const q = r.string();
    if (!id || id.toString('latin1') !== curve || !q || q[0] !== 4) bad('the curve point does not match its type');
    bits = curve === 'nistp256' ? 256 : curve === 'nistp384' ? 384 : 521;
  }
  if (!r.done) bad('extra bytes after the key');
  return bits;
}

/** Parses one non-blank, non-comment authorized_keys line. Throws FERRY_ERR_VALIDATION with the reason. */
export function parsePublicKeyLine(line: string): PublicKeyLine {
  if (line.length > MAX_LINE) throw new ValidationError(`a key line may have at most ${MAX_LINE} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(line)) throw new ValidationError('a key line may not contain control characters or direction controls (U+202A-U+202E, U+2066-U+2069: they would show its comment as other text)');
  const fields = line.trim().split(/[ \t]+/);
  const type = fields[0] ?? '';
  if (!KEY_TYPES.has(type)) {
    if (type === 'ssh-dss') throw new ValidationError('DSA keys are not accepted (OpenSSH dropped them): make an ed25519 key with ssh-keygen -t ed25519');
    if (type.startsWith('sk-')) throw new ValidationError(`${type} (security-key) keys are not supported: use an ed25519, ecdsa or RSA key`);
    if (fields.length >= 3 && KEY_TYPES.has(fields[1])) throw new ValidationError(`key options (${type.slice(0, 40)}...) are not supported: give the key without options`);
    throw new ValidationError(`not a public key line: it must start with one of ${[...KEY_TYPES].join(', ')}`);
  }
  const b64 = fields[1] ?? '';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new ValidationError(`the ${type} key's data is not base64`);
  const comment = fields.slice(2).join(' ');
  if (comment.length > MAX_COMMENT) throw new ValidationError(`a key's comment may have at most ${MAX_COMMENT} characters; this one has ${comment.length}`);
  const blob = Buffer.from(b64, 'base64');
  const bits = keyBits(type, blob);
  return { type, bits, blob, base64: blob.toString('base64'), fingerprint: fingerprintOf(blob), comment };
}

/** Every key of an authorized_keys text (blank lines and `#` comments skipped); at least one. */
export function parseAuthorizedKeys(text: string): PublicKeyLine[] {
  const out: PublicKeyLine[] = [];
  const lines = text.split(/\r?\n/);
  const several = lines.filter((l) => l.trim() !== '' && !l.trim().startsWith('#')).length > 1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      out.push(parsePublicKeyLine(line));
    } catch (err) {
      if (err instanceof ValidationError && several) throw new ValidationError(`line ${i + 1}: ${err.message}`, { details: { line: i + 1 } });
      throw err;
    }
    if (out.length > MAX_KEYS_PER_REQUEST) throw new ValidationError(`at most ${MAX_KEYS_PER_REQUEST} keys at once`);
  }
  if (out.length === 0) throw new ValidationError('no public key given (an authorized_keys line looks like: ssh-ed25519 AAAA... you@host)');
  return out;
}
