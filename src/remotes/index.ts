/**
 * The composition root of storage: every backend type Ferry knows, `ferry` included, in one
 * list and one registry, and what a remote string (`./dir`, `s3:bucket/x`, `ferry:/photos`,
 * a named remote) opens into. It sits above client/ because the `ferry` type is a client of
 * a Ferry server; the server (`--store`), the sync engine and the CLI all open remotes here,
 * so a type added to {@link BACKENDS} is available everywhere at once.
 *
 * The list holds definitions only (./backends/definition.ts): each type loads its
 * implementation (the AWS SDK, ssh2, the HTTP client) when a remote of it is opened, so
 * importing this module stays cheap for `ferry --help`.
 */
import type { StorageBackend } from '../core/storage.js';
import type { BackendDefinition, NamedRemote, RemoteContext, RemoteSpec } from '../backends/definition.js';
import { BackendRegistry } from '../backends/registry.js';
import { ConfigError } from '../core/errors.js';
import { channelBackendDefinition } from '../backends/channel/index.js';
import { localBackendDefinition } from '../backends/local/index.js';
import { memoryBackendDefinition } from '../backends/memory/index.js';
import { s3BackendDefinition } from '../backends/s3/index.js';
import { sftpBackendDefinition } from '../backends/sftp/index.js';
import { addRemote as addNamedRemote, readRemotes, remotesPath } from '../backends/remotes.js';
import { ferryBackendDefinition } from '../client/ferry-definition.js';

/** Every backend type, in the order `ferry remote types` lists them. The only list of them. */
export const BACKENDS: readonly BackendDefinition[] = [
  localBackendDefinition,
  memoryBackendDefinition,
  s3BackendDefinition,
  sftpBackendDefinition,
  channelBackendDefinition,
  ferryBackendDefinition,
];

/** The process-wide registry, with every type of {@link BACKENDS}. */
export const defaultRegistry = new BackendRegistry(BACKENDS);

export const parseRemote = (spec: string, context?: RemoteContext): RemoteSpec => defaultRegistry.parseRemote(spec, context);
export const openBackend = (remote: string | RemoteSpec, context?: RemoteContext): Promise<StorageBackend> => defaultRegistry.open(remote, context);
export const redactRemote = (spec: string): string => defaultRegistry.redactRemote(spec);
export const redactOptions = (type: string, options: Record<string, unknown>): Record<string, unknown> => defaultRegistry.redactOptions(type, options);

/**
 * The named remotes and environment a command resolves remote strings with. The servers
 * saved by `ferry login URL --name NAME` are named remotes of type ferry too (`NAME:/path`),
 * with the token saved under that name: two logins to one server (an admin's and one's own)
 * each act as their own user, where looking the token up by URL would find the first.
 */
export async function remoteContext(env: Readonly<Record<string, string | undefined>> = process.env): Promise<RemoteContext> {
  const remotes = await readRemotes(remotesPath(env));
  for (const [name, r] of Object.entries(remotes)) r.origin = `remote:${name}`;
  for (const saved of await savedServerRemotes(env)) {
    if (!Object.hasOwn(remotes, saved.name)) {
      remotes[saved.name] = { type: 'ferry', options: { server: saved.server, ...(saved.token ? { token: saved.token } : {}) }, origin: `login:${saved.name}` };
    }
  }
  return { remotes, env };
}

/** The named servers of the client's config file (not the default one, which is `ferry:`). */
async function savedServerRemotes(env: Readonly<Record<string, string | undefined>>): Promise<Array<{ name: string; server: string; token?: string }>> {
  const { configPath, readConfigFile, savedServers, DEFAULT_SERVER_NAME } = await import('../client/config.js');
  const { isFerryError } = await import('../core/errors.js');
  // A sealed config.json without FERRY_CONFIG_PASS: commands on other remotes still run (as
  // before saved servers were remotes); one that talks to a server stops on the key then.
  const config = await readConfigFile(configPath(env)).catch((err: unknown) => {
    if (isFerryError(err, 'FERRY_ERR_CRYPTO_KEY_MISSING')) return {};
    throw err;
  });
  return savedServers(config).filter((s) => s.name !== DEFAULT_SERVER_NAME);
}

/**
 * Opens what a person typed (`./dir`, `s3:bucket/x`, `photos:2024`) with the configured named
 * remotes and the environment: what every command taking a remote calls.
 */
export async function openRemote(spec: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<StorageBackend> {
  return defaultRegistry.open(spec, await remoteContext(env));
}

/** `ferry remote add`: checks the name and options against the type's schema and saves the remote. */
export async function addRemote(file: string, name: string, type: string, options: Record<string, string>, env: Readonly<Record<string, string | undefined>> = process.env): Promise<NamedRemote> {
  if ((await savedServerRemotes(env)).some((s) => s.name === name)) {
    throw new ConfigError(`${JSON.stringify(name)} names a server saved by ferry login --name; a remote needs another name (or ferry logout --name ${name} --forget first)`);
  }
  return addNamedRemote(file, name, type, options, defaultRegistry);
}
