/**
 * Client configuration: which server, which token.
 *
 * Sources, strongest first: explicit options (CLI flags), the environment
 * (`FERRY_SERVER`, `FERRY_TOKEN`), then the config file. The file is
 * `$FERRY_CONFIG`, else `$XDG_CONFIG_HOME/ferry/config.json`, else
 * `~/.config/ferry/config.json`. It holds a secret, so it is written with mode 0600 in a
 * directory of mode 0700, atomically (temporary file + rename) so that a crash never
 * leaves half a config behind.
 *
 * The file holds the default server (`ferry:`, the top-level fields) and other saved servers
 * by name (`servers.work`, written by `ferry login URL --name work`, used as `work:/path`).
 * A saved token belongs to the server it was saved with: it is only ever sent to that exact
 * server URL (scheme, host, port and path prefix compared after normalizing), never to
 * another one named by --server, FERRY_SERVER, `ferry://host` or a remote. Likewise a
 * FERRY_TOKEN goes with FERRY_SERVER when both are set.
 */
import { join } from 'node:path';
import { AuthRequiredError, ConfigError, type FerryError } from '../core/errors.js';
import { configDir } from '../core/config-location.js';
import { readJsonObjectFile, writePrivateJsonFile } from '../core/private-file.js';
import { trimTrailingSlashes } from '../core/path.js';

export interface FerryConfig {
  /** Base URL of the server, e.g. `http://127.0.0.1:7373`. */
  server?: string;
  token?: string;
  /** PEM file of a CA to trust for this server (`--ca`). */
  ca?: string;
  /** Pinned SHA-256 fingerprint of the server's certificate (`--fingerprint`). */
  fingerprint?: string;
  /**
   * The token was made by `ferry login` from a password (not given to it): `ferry logout`
   * revokes such a token on the server; a given one may serve elsewhere too, and stays valid.
   */
  madeByLogin?: boolean;
}

/** One saved login: the default (`ferry:`) at the top of the file, others under `servers`. */
export interface SavedServer {
  server: string;
  token?: string;
  ca?: string;
  fingerprint?: string;
  madeByLogin?: boolean;
}

/** The config file: the default server's fields, and other saved servers by name. */
export interface ConfigFile extends FerryConfig {
  servers?: Record<string, SavedServer>;
}

/** The name of the default saved server (`ferry:`). */
export const DEFAULT_SERVER_NAME = 'ferry';

/** A saved server's name: a letter, then letters, digits, `_` and `-` (it is used as `NAME:path`). */
export const SERVER_NAME = /^[A-Za-z][A-Za-z0-9_-]{1,63}$/;

export interface ResolvedConfig extends FerryConfig {
  /** Where each value came from, for error messages. */
  sources: { server?: 'option' | 'env' | 'file'; token?: 'option' | 'env' | 'file' };
  file: string;
  /** A saved (or FERRY_TOKEN) token left out because it belongs to another server: that server. */
  withheldFor?: string;
}

type Env = Record<string, string | undefined>;

/** The config file's path for this environment. */
export function configPath(env: Env = process.env): string {
  if (env.FERRY_CONFIG) return env.FERRY_CONFIG;
  return join(configDir(env), 'config.json');
}

/** Reads the config file; an absent file is an empty config, a broken one is FERRY_ERR_CONFIG. */
export async function readConfigFile(file: string): Promise<ConfigFile> {
  const data = (await readJsonObjectFile(file)) ?? {};
  const out: ConfigFile = loginFields(data, file);
  if (data.servers !== undefined) {
    if (typeof data.servers !== 'object' || data.servers === null || Array.isArray(data.servers)) throw new ConfigError(`${file}: "servers" must be an object`);
    out.servers = {};
    for (const [name, entry] of Object.entries(data.servers as Record<string, unknown>)) {
      if (!SERVER_NAME.test(name) || name === DEFAULT_SERVER_NAME) throw new ConfigError(`${file}: "servers.${name}": not a server name`);
      if (typeof entry !== 'object' || entry === null) throw new ConfigError(`${file}: "servers.${name}" must be an object`);
      const fields = loginFields(entry as Record<string, unknown>, `${file}: servers.${name}`);
      if (!fields.server) throw new ConfigError(`${file}: "servers.${name}" has no "server"`);
      out.servers[name] = { ...fields, server: fields.server };
    }
  }
  return out;
}

function loginFields(data: Record<string, unknown>, where: string): FerryConfig {
  const { server, token, ca, fingerprint, madeByLogin } = data;
  for (const [k, v] of Object.entries({ server, token, ca, fingerprint })) {
    if (v !== undefined && typeof v !== 'string') throw new ConfigError(`${where}: "${k}" must be a string`);
  }
  if (madeByLogin !== undefined && typeof madeByLogin !== 'boolean') throw new ConfigError(`${where}: "madeByLogin" must be true or false`);
  return { server, token, ca, fingerprint, madeByLogin } as FerryConfig;
}

/** Writes the config file with mode 0600 (directory 0700), replacing it atomically. */
export async function writeConfigFile(file: string, config: ConfigFile): Promise<void> {
  const servers = config.servers && Object.keys(config.servers).length > 0 ? config.servers : undefined;
  await writePrivateJsonFile(file, { server: config.server, token: config.token, madeByLogin: config.token === undefined ? undefined : config.madeByLogin, ca: config.ca, fingerprint: config.fingerprint, servers });
}

/** Every saved login, the default (named `ferry`) first. */
export function savedServers(config: ConfigFile): Array<SavedServer & { name: string }> {
  const out: Array<SavedServer & { name: string }> = [];
  if (config.server) out.push({ name: DEFAULT_SERVER_NAME, server: config.server, token: config.token, ca: config.ca, fingerprint: config.fingerprint, madeByLogin: config.madeByLogin });
  for (const [name, s] of Object.entries(config.servers ?? {})) out.push({ name, ...s });
  return out;
}

/**
 * A login saved under `name` that `ferry logout` left without a token. Used by name
 * (`NAME:/path`, `whoami --name`), it stops here: looked up by its URL instead, the token of
 * another login to the same server (the default one, another user) would stand in for it.
 */
export function loggedOutLogin(name: string, server: string): FerryError {
  return new AuthRequiredError(`the login saved as ${name}: holds no token (ferry logout removed it): run ferry login ${server} --name ${name} again, or ferry logout --name ${name} --forget to drop it`);
}

/** The saved login for exactly this server URL (compared normalized), the default first. */
export function savedServerFor(config: ConfigFile, server: string): (SavedServer & { name: string }) | undefined {
  const want = normalizeServerUrl(server);
  return savedServers(config).find((s) => sameServerUrl(s.server, want));
}

function sameServerUrl(a: string, normalizedB: string): boolean {
  try {
    return normalizeServerUrl(a) === normalizedB;
  } catch {
    return false; // a broken saved URL matches nothing
  }
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
  return url.origin + trimTrailingSlashes(url.pathname);
}

/**
 * Merges options, environment and file, strongest first. A token is only taken along to the
 * server it belongs to: an option's to any server (the caller paired them), FERRY_TOKEN to
 * FERRY_SERVER when that is set (to the server at hand otherwise), a saved one only to the
 * exact server URL it was saved with. The same holds for the saved trust (--ca, --fingerprint).
 */
export async function resolveConfig(options: FerryConfig = {}, env: Env = process.env): Promise<ResolvedConfig> {
  const file = configPath(env);
  const fromFile = await readConfigFile(file);
  const sources: ResolvedConfig['sources'] = {};
  let server: string | undefined;
  if (options.server) (server = normalizeServerUrl(options.server)), (sources.server = 'option');
  else if (env.FERRY_SERVER) (server = normalizeServerUrl(env.FERRY_SERVER)), (sources.server = 'env');
  else if (fromFile.server) (server = normalizeServerUrl(fromFile.server)), (sources.server = 'file');
  const saved = server === undefined ? undefined : savedServerFor(fromFile, server);
  let token: string | undefined;
  let withheldFor: string | undefined;
  if (options.token) (token = options.token), (sources.token = 'option');
  else if (env.FERRY_TOKEN && (!env.FERRY_SERVER || server === undefined || sameServerUrl(env.FERRY_SERVER, server))) (token = env.FERRY_TOKEN), (sources.token = 'env');
  else if (saved?.token) (token = saved.token), (sources.token = 'file');
  else if (env.FERRY_TOKEN) withheldFor = normalizeServerUrl(env.FERRY_SERVER!);
  else if (fromFile.token && fromFile.server) withheldFor = normalizeServerUrl(fromFile.server);
  const ca = options.ca ?? env.FERRY_CA ?? saved?.ca;
  const fingerprint = options.fingerprint ?? env.FERRY_FINGERPRINT ?? saved?.fingerprint;
  return { server, token, ca, fingerprint, sources, file, withheldFor };
}
