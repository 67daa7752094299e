/**
 * The `ferry` backend type for the registry: `ferry:/path` (the server of `ferry login`, or
 * FERRY_SERVER/FERRY_TOKEN) and `ferry://host:port/path`. Light on purpose: the client and
 * the backend (undici, the chunker) load only when a ferry remote is opened.
 */
import { ConfigError } from '../core/errors.js';
import { baseName, joinPath, normalizePath, parentPath } from '../core/path.js';
import type { BackendDefinition } from '../backends/definition.js';

/** `ferry:/path` -> {path}; `ferry://host:port/path` -> {server, path}. */
export function parseFerrySpec(rest: string): { server?: string; path: string } {
  if (rest.startsWith('//')) {
    const m = /^\/\/([^/]+)(\/.*)?$/.exec(rest);
    if (!m) throw new ConfigError(`ferry://${rest.slice(2)}: expected ferry://host[:port]/path`);
    return { server: `http://${m[1]}`, path: normalizePath(m[2] ?? '/') };
  }
  if (rest === '') return { path: '/' };
  return { path: normalizePath(rest.startsWith('/') ? rest : '/' + rest) };
}

export const ferryBackendDefinition: BackendDefinition = {
  type: 'ferry',
  description: 'a Ferry server: ferry:/path on the logged-in server (ferry login), or ferry://host:port/path',
  options: [
    { name: 'path', type: 'string', default: '/', description: 'the folder on the server' },
    { name: 'server', type: 'string', description: 'server URL (default: FERRY_SERVER or the config file of ferry login)' },
    { name: 'token', type: 'string', secret: true, description: 'access token (default: FERRY_TOKEN or the config file)' },
    { name: 'retries', type: 'number', description: 'times a failing request is tried again (default 8; sync, copy, move, check and bisync pass their --retries)' },
  ],
  parseSpec: (rest) => parseFerrySpec(rest),
  subPath: (options, sub) => ({ ...options, path: joinPath(String(options.path ?? '/'), sub) }),
  parentOf(options) {
    const path = normalizePath(String(options.path ?? '/'));
    return path === '/' ? undefined : { options: { ...options, path: parentPath(path) }, name: baseName(path) };
  },
  async factory(options, origin) {
    if (origin?.startsWith('login:') && options.token === undefined) {
      const { loggedOutLogin } = await import('./config.js');
      throw loggedOutLogin(origin.slice('login:'.length), String(options.server));
    }
    const [{ FerryClient }, { FerryBackend }] = await Promise.all([import('./client.js'), import('./ferry-backend.js')]);
    const { DEFAULT_RETRY_POLICY } = await import('../core/retry.js');
    const retries = options.retries as number | undefined;
    const client = await FerryClient.fromConfig({
      server: options.server as string | undefined,
      token: options.token as string | undefined,
      parallel: 8,
      retry: retries === undefined ? undefined : { ...DEFAULT_RETRY_POLICY, retries },
      // A refused token of `NAME:` names the login or remote it came with (not `token`).
      ...(origin ? { tokenSource: origin } : {}),
    });
    return new FerryBackend({ client, root: options.path as string });
  },
};
