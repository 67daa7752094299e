/**
 * Host key checking against an OpenSSH `known_hosts` file (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"):
 * `[marker] patterns keytype base64-key [comment]`, patterns comma-separated, hashed
 * (`|1|base64(salt)|base64(HMAC-SHA1(salt, host))`) or plain with `*`/`?` wildcards and `!`
 * negation; a host on a port other than 22 is written `[host]:port`. `@revoked` keys are
 * refused; `@cert-authority` lines are ignored (no certificate support).
 */
import { createHash, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fromSystemError } from '../../core/errors.js';

export type HostKeyVerdict = 'known' | 'unknown' | 'changed' | 'revoked';

interface KnownHostLine {
  marker?: string;
  patterns: string;
  keyType: string;
  key: Buffer;
}

/** `SHA256:…` as `ssh-keygen -l` prints it. */
export function fingerprintOf(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** The name a host is recorded under: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function parse(text: string): KnownHostLine[] {
  const lines: KnownHostLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0].startsWith('@') ? fields.shift() : undefined;
    if (fields.length < 3) continue;
    lines.push({ marker, patterns: fields[0], keyType: fields[1], key: Buffer.from(fields[2], 'base64') });
  }
  return lines;
}

function globMatch(pattern: string, name: string): boolean {
  const regex = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i');
  return regex.test(name);
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (salt === undefined || hash === undefined) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return globMatch(pattern, name);
}

/** Whether a comma-separated pattern list names `name` (a negated match excludes it). */
function hostMatches(patterns: string, name: string): boolean {
  let matched = false;
  for (const pattern of patterns.split(',')) {
    if (pattern.startsWith('!')) {
      if (patternMatches(pattern.slice(1), name)) return false;
    } else if (patternMatches(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

/** The key type written in a public key blob (its first SSH string). */
function keyTypeOf(key: Buffer): string {
  return key.length >= 4 ? key.subarray(4, 4 + key.readUInt32BE(0)).toString('latin1') : '';
}

/** Checks `key` (the server's public key blob) for `host:port` against known_hosts text. */
export function checkHostKey(text: string, host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const type = keyTypeOf(key);
  const lines = parse(text).filter((line) => line.marker !== '@cert-authority' && hostMatches(line.patterns, name));
  // A revocation wins wherever it stands in the file.
  if (lines.some((line) => line.marker === '@revoked' && line.key.equals(key))) return 'revoked';
  let sawHost = false;
  for (const line of lines) {
    if (line.marker === '@revoked') continue;
    if (line.key.equals(key)) return 'known';
    if (line.keyType === type) sawHost = true;
  }
  return sawHost ? 'changed' : 'unknown';
}

/** Reads a known_hosts file; a missing file holds no host. */
export async function readKnownHosts(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw fromSystemError(err, file);
  }
}
