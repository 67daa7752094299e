/**
 * rclone users' remotes: rclone's option names for the s3 and sftp types, its "obscured"
 * passwords, and its config file (`rclone.conf`), so that `ferry remote add` takes
 * `access_key_id=…` as well as `accessKeyId=…`, and `ferry remote import` reads the s3 and
 * sftp remotes rclone already has.
 *
 * rclone stores `pass` and `key_file_pass` "obscured": AES-256-CTR under a key published in
 * rclone's source (fs/config/obscure), the 16-byte IV first, the whole base64url without
 * padding. That hides a password from a glance over the shoulder, nothing more; revealing it
 * here is what rclone itself does before logging in.
 */
import { createDecipheriv } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';

/** rclone's fixed obscuring key (fs/config/obscure/obscure.go). */
const OBSCURE_KEY = Buffer.from('9c935b48730a554d6bfd7c63c886a92bd390198eb8128afbf4de162b8b95f638', 'hex');

/** rclone's `obscure.Reveal`: the password of an obscured string; FERRY_ERR_CONFIG when it is not one. */
export function revealObscured(obscured: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(obscured)) throw new ConfigError('not an rclone-obscured value (base64url expected): was the password given in plain text? rclone obscure PASSWORD gives the obscured form');
  const bytes = Buffer.from(obscured, 'base64url');
  if (bytes.length < 16) throw new ConfigError('not an rclone-obscured value (too short): rclone obscure PASSWORD gives the obscured form');
  const decipher = createDecipheriv('aes-256-ctr', OBSCURE_KEY, bytes.subarray(0, 16));
  return Buffer.concat([decipher.update(bytes.subarray(16)), decipher.final()]).toString('utf8');
}

type Convert = (value: string) => string;
const home: Convert = (v) => (v === '~' ? homedir() : v.startsWith('~/') ? join(homedir(), v.slice(2)) : v);
const same: Convert = (v) => v;

/** An rclone size (`5Mi`, `16M`, `1G`, `100B`; a bare number is KiB, as rclone reads it) in bytes. */
function rcloneSize(v: string): string {
  const m = /^(\d+(?:\.\d+)?)([bBkKMGTP]?)(?:i?B?)$/.exec(v.trim());
  if (!m) throw new Error(`${JSON.stringify(v)} is not a size rclone would take (5Mi, 16M, 1G)`);
  const unit = m[2].toUpperCase();
  const power = unit === 'B' ? 0 : unit === '' ? 1 : ' KMGTP'.indexOf(unit);
  return String(Math.round(Number(m[1]) * 1024 ** power));
}

/**
 * rclone option -> Ferry option (and how the value changes), per type. `null`: accepted and
 * dropped on purpose (rclone needs it, Ferry does not: `provider` only tunes rclone's quirks
 * per vendor; `env_auth=true` is Ferry's default, the AWS SDK's credential chain).
 */
const RCLONE_OPTIONS: Record<string, Record<string, [string, Convert] | null>> = {
  s3: {
    access_key_id: ['accessKeyId', same],
    secret_access_key: ['secretAccessKey', same],
    session_token: ['sessionToken', same],
    endpoint: ['endpoint', same],
    region: ['region', same],
    force_path_style: ['forcePathStyle', same],
    chunk_size: ['partSize', rcloneSize],
    upload_concurrency: ['queueSize', same],
    list_chunk: ['maxKeys', same],
    copy_cutoff: ['copyCutoff', rcloneSize],
    provider: null,
    env_auth: null,
  },
  sftp: {
    host: ['host', same],
    port: ['port', same],
    user: ['user', same],
    pass: ['password', revealObscured],
    key_file: ['keyFile', home],
    key_file_pass: ['passphrase', revealObscured],
    key_pem: ['privateKey', (v) => v.replace(/\\n/g, '\n')],
    known_hosts_file: ['knownHostsFile', home],
  },
};

export interface TranslatedOptions {
  options: Record<string, string>;
  /** rclone options accepted but not needed by Ferry (`provider`). */
  dropped: string[];
}

/**
 * Options as `ferry remote add` takes them, rclone's names translated (an obscured `pass`
 * revealed, `~` expanded, sizes in bytes); Ferry's own names pass through unchanged, and
 * names neither knows are left for the type's schema to refuse.
 */
export function translateRcloneOptions(type: string, options: Record<string, string>): TranslatedOptions {
  const table = RCLONE_OPTIONS[type] ?? {};
  const out: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(options)) {
    if (!Object.hasOwn(table, name)) {
      out[name] = value;
      continue;
    }
    const rule = table[name];
    if (rule === null) {
      dropped.push(name);
      continue;
    }
    const [ferryName, convert] = rule;
    try {
      out[ferryName] = convert(value);
    } catch (err) {
      throw new ConfigError(`${name}: ${(err as Error).message}`);
    }
  }
  return { options: out, dropped };
}

/** The rclone types Ferry can import, and the Ferry type each becomes. */
export const IMPORTABLE_TYPES: Readonly<Record<string, string>> = { s3: 's3', sftp: 'sftp' };

export interface RcloneSection {
  name: string;
  type: string | undefined;
  options: Record<string, string>;
}

/**
 * Parses an rclone.conf (INI: `[name]` sections of `key = value` lines, `#`/`;` comments).
 * An encrypted config (rclone config's "set configuration password") is FERRY_ERR_CONFIG.
 */
export function parseRcloneConf(text: string, file: string): RcloneSection[] {
  if (text.startsWith('# Encrypted rclone configuration File') || text.includes('RCLONE_ENCRYPT_V0:')) {
    throw new ConfigError(`${file} is encrypted by rclone: decrypt it first (rclone config, "encryption", or: rclone config show > plain.conf) and import that`);
  }
  const sections: RcloneSection[] = [];
  let current: RcloneSection | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = { name: header[1].trim(), type: undefined, options: {} };
      sections.push(current);
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || current === undefined) throw new ConfigError(`${file}:${i + 1}: expected [name] or key = value`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === 'type') current.type = value;
    else current.options[key] = value;
  });
  return sections;
}

/** rclone's config file: RCLONE_CONFIG, else $XDG_CONFIG_HOME/rclone/rclone.conf, else ~/.config/rclone/rclone.conf. */
export function defaultRcloneConf(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env.RCLONE_CONFIG) return env.RCLONE_CONFIG;
  const xdg = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), '.config');
  return join(xdg, 'rclone', 'rclone.conf');
}
