/**
 * Client configuration: which server, which token.
 *
 * Sources, strongest first: explicit options (CLI flags), the environment
 * (`FERRY_SERVER`, `FERRY_TOKEN`), then the config file. The file is
 * `$FERRY_CONFIG`, else `$XDG_CONFIG_HOME/ferry/config.json`, else
 * `~/.config/ferry/config.json`. It holds a secret, so it is written with mode 0600 in a
 * directory of mode 0700, atomically (temporary file + rename) so that a crash never
 * leaves half a config behind.
 */
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { configDir } from '../core/config-location.js';
import { readJsonObjectFile, writePrivateJsonFile } from '../core/private-file.js';

export interface FerryConfig {
  /** Base URL of the server, e.g. `http://127.0.0.1:7373`. */
  server?: string;
  token?: string;
  /** PEM file of a CA to trust for this server (`--ca`). */
  ca?: string;
  /** Pinned SHA-256 fingerprint of the server's certificate (`--fingerprint`). */
  fingerprint?: string;
}

export interface ResolvedConfig extends FerryConfig {
  /** Where each value came from, for error messages. */
  sources: { server?: 'option' | 'env' | 'file'; token?: 'option' | 'env' | 'file' };
  file: string;
}

type Env = Record<string, string | undefined>;

/** The config file's path for this environment. */
export function configPath(env: Env = process.env): string {
  if (env.FERRY_CONFIG) return env.FERRY_CONFIG;
  return join(configDir(env), 'config.json');
}

/** Reads the config file; an absent file is an empty config, a broken one is FERRY_ERR_CONFIG. */
export async function readConfigFile(file: string): Promise<FerryConfig> {
  const data = (await readJsonObjectFile(file)) ?? {};
  const { server, token, ca, fingerprint } = data;
  if (server !== undefined && typeof server !== 'string') throw new ConfigError(`${file}: "server" must be a string`);
  if (token !== undefined && typeof token !== 'string') throw new ConfigError(`${file}: "token" must be a string`);
  if (ca !== undefined && typeof ca !== 'string') throw new ConfigError(`${file}: "ca" must be a string`);
  if (fingerprint !== undefined && typeof fingerprint !== 'string') throw new ConfigError(`${file}: "fingerprint" must be a string`);
  return { server, token, ca, fingerprint };
}

/** Writes the config file with mode 0600 (directory 0700), replacing it atomically. */
export async function writeConfigFile(file: string, config: FerryConfig): Promise<void> {
  await writePrivateJsonFile(file, { server: config.server, token: config.token, ca: config.ca, fingerprint: config.fingerprint });
}

/** Normalizes a server address: adds `http://` when no scheme is given, drops trailing slashes. */
export function normalizeServerUrl(input: string): string {
  let s = input.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) s = `http://${s}`;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new ConfigError(`not a server URL: ${JSON.stringify(input)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`the server URL must be http or https: ${JSON.stringify(input)}`);
  if (url.search || url.hash) throw new ConfigError(`the server URL must not have a query or fragment: ${JSON.stringify(input)}`);
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** Merges options, environment and file, strongest first. */
export async function resolveConfig(options: FerryConfig = {}, env: Env = process.env): Promise<ResolvedConfig> {
  const file = configPath(env);
  const fromFile = await readConfigFile(file);
  const sources: ResolvedConfig['sources'] = {};
  const pick = (key: 'server' | 'token', envName: string): string | undefined => {
    if (options[key]) return (sources[key] = 'option'), options[key];
    if (env[envName]) return (sources[key] = 'env'), env[envName];
    if (fromFile[key]) return (sources[key] = 'file'), fromFile[key];
    return undefined;
  };
  const server = pick('server', 'FERRY_SERVER');
  const token = pick('token', 'FERRY_TOKEN');
  const normalized = server === undefined ? undefined : normalizeServerUrl(server);
  // The saved trust belongs to the saved server: it does not follow --server elsewhere.
  const sameServer = fromFile.server !== undefined && normalized === normalizeServerUrl(fromFile.server);
  const ca = options.ca ?? env.FERRY_CA ?? (sameServer ? fromFile.ca : undefined);
  const fingerprint = options.fingerprint ?? env.FERRY_FINGERPRINT ?? (sameServer ? fromFile.fingerprint : undefined);
  return { server: normalized, token, ca, fingerprint, sources, file };
}
