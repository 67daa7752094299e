/**
 * Old versions and the trash (the server's retention; README "Versions and trash"). Functions
 * over a FerryApi, shared by the CLI and the web app (nothing of Node here).
 */
import { homesReachedBy, joinPath } from '../core/path.js';
import { API_PREFIX, type Entry, type MeResponse } from '../core/protocol.js';
import { listUsers, me } from './account-api.js';
import type { FerryApi } from './api.js';

export interface VersionEntry {
  id: number;
  path: string;
  hash: string;
  size: number;
  mtime: number;
  mode?: number;
  createdAt: number;
  replacedAt: number;
}

/** The server's retention rule for a path: `enabled` false means versioning is off there. */
export interface VersionPolicy {
  enabled: boolean;
  /** Versions kept at most (0: no count limit). */
  keep: number;
  /** Days a version is kept at most (0: no age limit). */
  days: number;
}

/** `GET /api/v1/versions/PATH`: the versions, newest first, and the path's rule (absent from servers before it was added). */
export interface VersionList {
  path: string;
  versions: VersionEntry[];
  policy?: VersionPolicy;
  /** On one page (versionListPage): the `cursor` of the following page, when there may be more. */
  next?: string;
}

export interface TrashEntry {
  id: number;
  batch: string;
  path: string;
  hash: string;
  size: number;
  mtime: number;
  deletedAt: number;
}

const encodePath = (p: string): string => p.split('/').map(encodeURIComponent).join('/');

export async function listVersions(client: FerryApi, path: string): Promise<VersionEntry[]> {
  return (await versionList(client, path)).versions;
}

/** One page of the old versions of a file (`GET /api/v1/versions/PATH`): `next`, when there, is the `cursor` of the following page. */
export function versionListPage(client: FerryApi, path: string, options: { cursor?: string; limit?: number; signal?: AbortSignal } = {}): Promise<VersionList> {
  return client.http.json<VersionList>({ method: 'GET', path: `${API_PREFIX}/versions${encodePath(path)}`, query: { cursor: options.cursor, limit: options.limit }, signal: options.signal });
}

/** All the old versions of a file (every page), newest first, with the retention rule of its path (FERRY_ERR_NOT_FOUND: no such file and no versions). */
export async function versionList(client: FerryApi, path: string, options: { limit?: number; signal?: AbortSignal } = {}): Promise<VersionList> {
  const first = await versionListPage(client, path, options);
  const versions = [...first.versions];
  for (let cursor = first.next; cursor !== undefined; ) {
    const page = await versionListPage(client, path, { ...options, cursor });
    versions.push(...page.versions);
    cursor = page.next;
  }
  return { path: first.path, versions, ...(first.policy ? { policy: first.policy } : {}) };
}

export function restoreVersion(client: FerryApi, path: string, which: { version: number } | { at: number }): Promise<Entry> {
  return client.http.json<Entry>({ method: 'POST', path: `${API_PREFIX}/versions/restore`, json: { path, ...which }, retry: 'never' });
}

/** One page of the trash (`GET /api/v1/trash`): `next`, when there, is the `cursor` of the following page. */
export interface TrashPage {
  entries: TrashEntry[];
  next?: string;
}

/** `batch`: only the files one delete put in the trash (an entry's `batch`). */
export function listTrashPage(client: FerryApi, path = '/', options: { cursor?: string; limit?: number; batch?: string; signal?: AbortSignal } = {}): Promise<TrashPage> {
  return client.http.json<TrashPage>({ method: 'GET', path: `${API_PREFIX}/trash`, query: { path, cursor: options.cursor, limit: options.limit, batch: options.batch }, signal: options.signal });
}

/** The whole trash at or below `path` (or one `batch` of it), newest first: every page. */
export async function listTrash(client: FerryApi, path = '/', options: { limit?: number; batch?: string } = {}): Promise<TrashEntry[]> {
  const all: TrashEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await listTrashPage(client, path, { cursor, limit: options.limit, batch: options.batch });
    all.push(...page.entries);
    cursor = page.next;
  } while (cursor !== undefined);
  return all;
}

/** `reencrypt`: `to` is a stored path in a vault whose names this client computed with the key (docs/e2e.md). */
export function restoreTrash(client: FerryApi, id: number, to?: string, options: { reencrypt?: boolean } = {}): Promise<Entry> {
  const json = { id, ...(to === undefined ? {} : { to }), ...(options.reencrypt ? { reencrypt: true } : {}) };
  return client.http.json<Entry>({ method: 'POST', path: `${API_PREFIX}/trash/restore`, json, retry: 'never' });
}

/**
 * Deletes for good what was deleted at or below `path` (before `before`, ms). `allUsers`: the
 * caller, an admin, means the trash of the other users whose homes `path` holds too (see
 * {@link othersWithTrashAt}); without it the server refuses such a path
 * (FERRY_ERR_ALL_USERS_REQUIRED).
 */
export async function emptyTrash(client: FerryApi, path = '/', before?: number, options: { allUsers?: boolean } = {}): Promise<number> {
  const query = { path, before, allUsers: options.allUsers ? 'true' : undefined };
  return (await client.http.json<{ files: number }>({ method: 'DELETE', path: `${API_PREFIX}/trash`, query, retry: 'never' })).files;
}

/**
 * The other users whose trash emptying `path` would empty too: none for a user; for an admin
 * (whose root holds every home, and whose trash listing shows everyone's), those whose home
 * holds or is inside `path`. The server's rule for `allUsers` (routes/versions.ts). `caller`:
 * what `/me` said, when the caller has it already (asked for otherwise).
 */
export async function othersWithTrashAt(client: FerryApi, path: string, caller?: MeResponse): Promise<string[]> {
  const self = caller ?? (await me(client));
  if (self.role !== 'admin') return [];
  const users = await listUsers(client);
  const reached = homesReachedBy(joinPath(self.home, path), users.map((u) => u.home));
  // Users who share the caller's root (the built-in admin's `/`) have no trash apart from the caller's.
  return users.filter((u) => u.home !== self.home && reached.has(u.home)).map((u) => u.name);
}
