/**
 * Old versions and the trash (the server's retention; README "Versions and trash"). Functions
 * over a FerryApi, shared by the CLI and the web app (nothing of Node here).
 */
import { API_PREFIX, type Entry } from '../core/protocol.js';
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
  const res = await client.http.json<{ versions: VersionEntry[] }>({ method: 'GET', path: `${API_PREFIX}/versions${encodePath(path)}` });
  return res.versions;
}

export function restoreVersion(client: FerryApi, path: string, which: { version: number } | { at: number }): Promise<Entry> {
  return client.http.json<Entry>({ method: 'POST', path: `${API_PREFIX}/versions/restore`, json: { path, ...which }, retry: 'never' });
}

export async function listTrash(client: FerryApi, path = '/'): Promise<TrashEntry[]> {
  return (await client.http.json<{ entries: TrashEntry[] }>({ method: 'GET', path: `${API_PREFIX}/trash`, query: { path } })).entries;
}

/** `reencrypt`: `to` is a stored path in a vault whose names this client computed with the key (docs/e2e.md). */
export function restoreTrash(client: FerryApi, id: number, to?: string, options: { reencrypt?: boolean } = {}): Promise<Entry> {
  const json = { id, ...(to === undefined ? {} : { to }), ...(options.reencrypt ? { reencrypt: true } : {}) };
  return client.http.json<Entry>({ method: 'POST', path: `${API_PREFIX}/trash/restore`, json, retry: 'never' });
}

export async function emptyTrash(client: FerryApi, path = '/', before?: number): Promise<number> {
  return (await client.http.json<{ files: number }>({ method: 'DELETE', path: `${API_PREFIX}/trash`, query: { path, before }, retry: 'never' })).files;
}
