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

/** The named remotes and environment a command resolves remote strings with. */
export async function remoteContext(env: Readonly<Record<string, string | undefined>> = process.env): Promise<RemoteContext> {
  return { remotes: await readRemotes(remotesPath(env)), env };
}

/**
 * Opens what a person typed (`./dir`, `s3:bucket/x`, `photos:2024`) with the configured named
 * remotes and the environment: what every command taking a remote calls.
 */
export async function openRemote(spec: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<StorageBackend> {
  return defaultRegistry.open(spec, await remoteContext(env));
}

/** `ferry remote add`: checks the name and options against the type's schema and saves the remote. */
export function addRemote(file: string, name: string, type: string, options: Record<string, string>): Promise<NamedRemote> {
  return addNamedRemote(file, name, type, options, defaultRegistry);
}
