/**
 * The per-user JSON files that hold secrets (the client's token, named remotes'
 * credentials): read tolerantly (absent = nothing configured), written atomically with mode
 * 0600 from the first byte, in a directory of mode 0700.
 */
import { constants } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError, CryptoKeyMissingError, fromSystemError } from './errors.js';
import { isSealed, openSealedJson, sealJson } from './sealed-json.js';

/** The parsed JSON object in `file`; undefined when the file does not exist. FERRY_ERR_CONFIG when it is not a JSON object. */
export async function readJsonObjectFile(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromSystemError(err, file);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid JSON`, { cause: err });
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new ConfigError(`${file} must hold a JSON object`);
  if (isSealed(data as Record<string, unknown>)) {
    const opened = openSealedJson(data as Record<string, unknown>, process.env.FERRY_CONFIG_PASS, file);
    if (opened === null || typeof opened !== 'object' || Array.isArray(opened)) throw new ConfigError(`${file} must hold a JSON object`);
    return opened as Record<string, unknown>;
  }
  return data as Record<string, unknown>;
}

/** Whether `file` exists and is sealed with a passphrase (sealed-json.ts). */
export async function isSealedFile(file: string): Promise<boolean> {
  try {
    const data = JSON.parse(await readFile(file, 'utf8')) as unknown;
    return data !== null && typeof data === 'object' && !Array.isArray(data) && isSealed(data as Record<string, unknown>);
  } catch {
    return false;
  }
}

/**
 * Replaces `file` atomically with `data` as JSON, mode 0600 (its directory created 0700). A
 * file that is sealed stays sealed (with FERRY_CONFIG_PASS); `seal` forces either way.
 */
export async function writePrivateJsonFile(file: string, data: unknown, seal?: { passphrase: string } | false): Promise<void> {
  if (seal === undefined && (await isSealedFile(file))) {
    const passphrase = process.env.FERRY_CONFIG_PASS;
    if (!passphrase) throw new CryptoKeyMissingError(`${file} is encrypted: give its passphrase in FERRY_CONFIG_PASS`);
    seal = { passphrase };
  }
  if (seal) data = sealJson(data, seal.passphrase);
  const dir = dirname(file);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // 0600 from the first byte: secrets are never readable by others, not even briefly. A
    // new file, never one already there: a link planted under the temporary name (in a
    // folder others may write, or as root in a user's) would have had us write through it.
    await unlink(tmp).catch(() => {});
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await fh.writeFile(JSON.stringify(data, null, 2) + '\n');
      await fh.chmod(0o600); // the umask may have narrowed it further; this makes it exactly 0600
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    // Only tighten a directory we own; `mkdir` does not change an existing one.
    if (dir.endsWith('/ferry')) await chmod(dir, 0o700).catch(() => {});
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw fromSystemError(err, file);
  }
}
