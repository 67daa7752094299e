/**
 * Named remotes, as rclone's config: `ferry remote add photos s3 bucket=pics region=eu-west-1`
 * stores `{type, options}` under a name, and `photos:2024/summer` then means that remote,
 * 2024/summer inside it.
 *
 * The file is `remotes.json` in the configuration directory (see core/config-location.ts):
 * `{"version": 1, "remotes": {"photos": {"type": "s3", "options": {...}}}}`. It may hold
 * secrets (keys, passwords), so it is created with mode 0600 in a directory of mode 0700, and
 * replaced atomically (temporary file + rename). Nothing here prints a value: listings go
 * through the registry's redaction.
 */
import { join } from 'node:path';
import { configDir } from '../core/config-location.js';
import { readJsonObjectFile, writePrivateJsonFile } from '../core/private-file.js';
import { ConfigError, NotFoundError } from '../core/errors.js';
import type { BackendOptions, NamedRemote } from './definition.js';
import type { BackendRegistry } from './registry.js';

export const REMOTES_FILE = 'remotes.json';

export function remotesPath(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return join(configDir(env), REMOTES_FILE);
}

/** The configured remotes; a missing file holds none, a broken one is FERRY_ERR_CONFIG. */
export async function readRemotes(file: string): Promise<Record<string, NamedRemote>> {
  const data = await readJsonObjectFile(file);
  if (data === undefined) return {};
  const remotes = data.remotes;
  if (remotes === null || typeof remotes !== 'object' || Array.isArray(remotes)) throw new ConfigError(`${file}: "remotes" must be an object`);
  const out: Record<string, NamedRemote> = {};
  for (const [name, value] of Object.entries(remotes as Record<string, unknown>)) {
    const { type, options } = (value ?? {}) as { type?: unknown; options?: unknown };
    if (typeof type !== 'string' || options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new ConfigError(`${file}: remote ${JSON.stringify(name)} needs a "type" string and an "options" object`);
    }
    out[name] = { type, options: options as BackendOptions };
  }
  return out;
}

/** Writes the remotes with mode 0600 (directory 0700), replacing the file atomically. */
export async function writeRemotes(file: string, remotes: Record<string, NamedRemote>): Promise<void> {
  await writePrivateJsonFile(file, { version: 1, remotes });
}

/**
 * Adds (or replaces) a remote after checking its name and options against the type's schema
 * (unknown names, wrong types and bad choices refused; required options may still come from
 * the environment when it is opened).
 */
export async function addRemote(file: string, name: string, type: string, options: Record<string, string>, registry: BackendRegistry): Promise<NamedRemote> {
  registry.checkRemoteName(name);
  const definition = registry.get(type);
  if (definition === undefined) registry.validateOptions(type, {}); // throws the registry's own error
  const checked = registry.validateOptions(type, { ...fillRequired(registry, type), ...options });
  const stored: BackendOptions = {};
  for (const key of Object.keys(options)) stored[key] = checked[key];
  const remotes = await readRemotes(file);
  remotes[name] = { type, options: stored };
  await writeRemotes(file, remotes);
  return remotes[name];
}

/** Placeholders for required options, so that validating what was given does not demand them. */
function fillRequired(registry: BackendRegistry, type: string): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const spec of registry.get(type)?.options ?? []) {
    if (spec.required) out[spec.name] = spec.type === 'number' ? 0 : spec.type === 'boolean' ? false : 'placeholder';
  }
  return out;
}

/** Removes a remote; FERRY_ERR_NOT_FOUND when there is none of that name. */
export async function removeRemote(file: string, name: string): Promise<void> {
  const remotes = await readRemotes(file);
  if (!Object.hasOwn(remotes, name)) throw new NotFoundError(`no remote named ${JSON.stringify(name)} in ${file}`);
  delete remotes[name];
  await writeRemotes(file, remotes);
}
