/**
 * The SDK side of accounts and security (docs/protocol.md, "Users, tokens, sessions",
 * "Share links", "Admin"): the caller's account, tokens, users, share links, the audit log
 * and the server's stats. Functions over a FerryApi, so that the Node client and the web app
 * share them (this module imports nothing of Node; the password login that makes a token
 * for the CLI is in ./account.ts).
 *
 * ```ts
 * const link = await createShare(client, { path: '/photos', expiresInSeconds: 86400 });
 * ```
 */
import {
  API_PREFIX,
  type AdminUpload,
  type AuditPage,
  type CreateShareRequest,
  type CreateTokenRequest,
  type CreateUserRequest,
  type CreatedShare,
  type CreatedToken,
  type GrantInfo,
  type MeResponse,
  type PermissionName,
  type RevokedToken,
  type ShareInfo,
  type SshKeyInfo,
  type TokenInfo,
  type UpdateUserRequest,
  type UserInfo,
  type UserLimits,
  type WebSession,
  type DownloadTicket,
  type ListPage,
} from '../core/protocol.js';
import { ValidationError } from '../core/errors.js';
import type { FerryApi } from './api.js';

const seg = (s: string): string => encodeURIComponent(s);

export function me(client: FerryApi): Promise<MeResponse> {
  return client.http.json<MeResponse>({ method: 'GET', path: `${API_PREFIX}/me` });
}

export async function changePassword(client: FerryApi, currentPassword: string | undefined, newPassword: string): Promise<void> {
  await client.http.json<void>({ method: 'POST', path: `${API_PREFIX}/me/password`, json: { currentPassword, newPassword }, retry: 'never' });
}

// ---------------------------------------------------------------- tokens

/** Every token (of the caller; `all`, `user`: admins), newest first, a page at a time. */
export function listTokens(client: FerryApi, options: { all?: boolean; user?: string } = {}): Promise<TokenInfo[]> {
  return allPages((cursor) => listTokensPage(client, { ...options, cursor }));
}

/** One page of tokens: at most `limit` (the server's maxListLimit by default) after `cursor` (the `next` of the page before). */
export async function listTokensPage(client: FerryApi, options: { all?: boolean; user?: string; cursor?: string; limit?: number } = {}): Promise<ListPage<TokenInfo>> {
  const query = { all: options.all ? true : undefined, user: options.user, cursor: options.cursor, limit: options.limit ?? PAGE };
  return asPage(await client.http.json<ListPage<TokenInfo> | TokenInfo[]>({ method: 'GET', path: `${API_PREFIX}/tokens`, query }));
}

/** The page size the SDK asks for (a server's maxListLimit is at least this). */
const PAGE = 1000;

/** A server from before pages answers the whole list as an array: one page. */
function asPage<T>(answer: ListPage<T> | T[]): ListPage<T> {
  return Array.isArray(answer) ? { entries: answer } : answer;
}

async function allPages<T>(page: (cursor: string | undefined) => Promise<ListPage<T>>): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  do {
    const p = await page(cursor);
    out.push(...p.entries);
    cursor = p.next;
  } while (cursor !== undefined);
  return out;
}

export function createToken(client: FerryApi, request: CreateTokenRequest): Promise<CreatedToken> {
  return client.http.json<CreatedToken>({ method: 'POST', path: `${API_PREFIX}/tokens`, json: request, retry: 'never' });
}

/**
 * Revokes a token and, unless `keepShares`, the share links it made. A server from before
 * answers nothing (204): then `sharesRevoked` is undefined, its links left as they were.
 */
export async function revokeToken(client: FerryApi, id: string, options: { keepShares?: boolean } = {}): Promise<{ id: string; sharesRevoked?: number }> {
  const query = options.keepShares ? '?keepShares=true' : '';
  const res = await client.http.json<RevokedToken | undefined>({ method: 'DELETE', path: `${API_PREFIX}/tokens/${seg(id)}${query}`, retry: 'always' });
  return res ?? { id };
}

// ---------------------------------------------------------------- users (admin)

export function listUsers(client: FerryApi): Promise<UserInfo[]> {
  return client.http.json<UserInfo[]>({ method: 'GET', path: `${API_PREFIX}/users` });
}

/** One user, with their usage, limits in force and live upload sessions, as `me` has them (for `ferry quota USER`). */
export function getUser(client: FerryApi, name: string): Promise<UserInfo & { usage: { bytes: number; files: number }; limits: UserLimits; uploadSessions: number }> {
  return client.http.json({ method: 'GET', path: `${API_PREFIX}/users/${seg(name)}` });
}

export function addUser(client: FerryApi, request: CreateUserRequest): Promise<UserInfo> {
  return client.http.json<UserInfo>({ method: 'POST', path: `${API_PREFIX}/users`, json: request, retry: 'never' });
}

export function updateUser(client: FerryApi, name: string, request: UpdateUserRequest): Promise<UserInfo> {
  return client.http.json<UserInfo>({ method: 'PATCH', path: `${API_PREFIX}/users/${seg(name)}`, json: request, retry: 'never' });
}

export async function removeUser(client: FerryApi, name: string): Promise<void> {
  await client.http.json<void>({ method: 'DELETE', path: `${API_PREFIX}/users/${seg(name)}`, retry: 'never' });
}

export async function setUserPassword(client: FerryApi, name: string, password: string): Promise<void> {
  await client.http.json<void>({ method: 'PUT', path: `${API_PREFIX}/users/${seg(name)}/password`, json: { password }, retry: 'never' });
}

export function setGrant(client: FerryApi, name: string, grant: { path: string; permissions: PermissionName[] }): Promise<UserInfo> {
  return client.http.json<UserInfo>({ method: 'PUT', path: `${API_PREFIX}/users/${seg(name)}/grants`, json: grant satisfies GrantInfo, retry: 'never' });
}

// ---------------------------------------------------------------- SSH keys (the SFTP front's logins)

export function listSshKeys(client: FerryApi, user: string): Promise<SshKeyInfo[]> {
  return client.http.json<SshKeyInfo[]>({ method: 'GET', path: `${API_PREFIX}/users/${seg(user)}/keys` });
}

/**
 * Adds the keys of an authorized_keys text (one or more lines) to a user; all or none. A
 * private key (pasted or given instead of its `.pub`) is refused here, before any request:
 * the server must never see one (FERRY_ERR_VALIDATION).
 */
export async function addSshKeys(client: FerryApi, user: string, keys: string): Promise<SshKeyInfo[]> {
  if (PRIVATE_KEY.test(keys)) throw new ValidationError('this is a private key, which stays on this machine (nothing was sent): give the public one (its .pub file)');
  return client.http.json<SshKeyInfo[]>({ method: 'POST', path: `${API_PREFIX}/users/${seg(user)}/keys`, json: { keys }, retry: 'never' });
}

/** The armour of a private key file (OpenSSH, PKCS#1, PKCS#8), encrypted or not. */
export const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** Removes a key by id or fingerprint. */
export async function removeSshKey(client: FerryApi, user: string, idOrFingerprint: string): Promise<void> {
  await client.http.json<void>({ method: 'DELETE', path: `${API_PREFIX}/users/${seg(user)}/keys/${seg(idOrFingerprint)}`, retry: 'always' });
}

// ---------------------------------------------------------------- shares

export function createShare(client: FerryApi, request: CreateShareRequest): Promise<CreatedShare> {
  return client.http.json<CreatedShare>({ method: 'POST', path: `${API_PREFIX}/shares`, json: request, retry: 'never' });
}

/** Every share link (of the caller; `all`: admins), newest first, a page at a time. */
export function listShares(client: FerryApi, options: { all?: boolean } = {}): Promise<ShareInfo[]> {
  return allPages((cursor) => listSharesPage(client, { ...options, cursor }));
}

/** One page of share links: at most `limit` after `cursor` (the `next` of the page before). */
export async function listSharesPage(client: FerryApi, options: { all?: boolean; cursor?: string; limit?: number } = {}): Promise<ListPage<ShareInfo>> {
  const query = { all: options.all ? true : undefined, cursor: options.cursor, limit: options.limit ?? PAGE };
  return asPage(await client.http.json<ListPage<ShareInfo> | ShareInfo[]>({ method: 'GET', path: `${API_PREFIX}/shares`, query }));
}

export async function revokeShare(client: FerryApi, id: string): Promise<void> {
  await client.http.json<void>({ method: 'DELETE', path: `${API_PREFIX}/shares/${seg(id)}`, retry: 'always' });
}

// ---------------------------------------------------------------- admin

export function auditLog(client: FerryApi, query: { since?: number; before?: number; user?: string; event?: string; path?: string; limit?: number } = {}): Promise<AuditPage> {
  return client.http.json<AuditPage>({ method: 'GET', path: `${API_PREFIX}/admin/audit`, query });
}

export function bans(client: FerryApi): Promise<{ ip: string; until: number }[]> {
  return client.http.json({ method: 'GET', path: `${API_PREFIX}/admin/bans` });
}

export async function unban(client: FerryApi, ip: string): Promise<void> {
  await client.http.json<void>({ method: 'DELETE', path: `${API_PREFIX}/admin/bans/${seg(ip)}` });
}

/** Open upload sessions (admin): everyone's, or `user`'s. */
export function listUploads(client: FerryApi, options: { user?: string; limit?: number } = {}): Promise<AdminUpload[]> {
  return client.http.json<AdminUpload[]>({ method: 'GET', path: `${API_PREFIX}/admin/uploads`, query: { user: options.user, limit: options.limit } });
}

/** Aborts anyone's upload session (admin). */
export async function abortUploadAsAdmin(client: FerryApi, id: string): Promise<void> {
  await client.http.json<void>({ method: 'DELETE', path: `${API_PREFIX}/admin/uploads/${seg(id)}` });
}

export interface ServerStats {
  files: number;
  logicalBytes: number;
  chunks: number;
  storedBytes: number;
  /** What the chunk objects take in the store, after compression (older servers: absent). */
  encodedBytes?: number;
  uploads: number;
}

export function stats(client: FerryApi): Promise<ServerStats> {
  return client.http.json<ServerStats>({ method: 'GET', path: `${API_PREFIX}/admin/stats` });
}

// ---------------------------------------------------------------- web sessions

/**
 * Starts a web session (the web app's sign-in). With `cookie`, the server keeps the refresh
 * token in an HttpOnly cookie instead of returning it (browsers).
 */
export function startSession(client: FerryApi, user: string, password: string, options: { cookie?: boolean } = {}): Promise<WebSession> {
  return client.http.json<WebSession>({ method: 'POST', path: `${API_PREFIX}/auth/session`, json: { user, password, cookie: options.cookie || undefined }, auth: false, retry: 'unprocessed' });
}

/** Renews a web session: from `refreshToken`, or (browsers) from the refresh cookie. */
export function refreshSession(client: FerryApi, refreshToken?: string): Promise<WebSession> {
  return client.http.json<WebSession>({ method: 'POST', path: `${API_PREFIX}/auth/refresh`, json: refreshToken === undefined ? {} : { refreshToken }, auth: false, retry: 'unprocessed' });
}

/** The web session of the refresh cookie, renewed; undefined when the browser has no such cookie (`ifSession`: 204, not 401). */
export function resumeSession(client: FerryApi): Promise<WebSession | undefined> {
  return client.http.json<WebSession | undefined>({ method: 'POST', path: `${API_PREFIX}/auth/refresh`, json: { ifSession: true }, auth: false, retry: 'unprocessed' });
}

export async function logout(client: FerryApi): Promise<void> {
  await client.http.json<void>({ method: 'POST', path: `${API_PREFIX}/auth/logout`, retry: 'never' });
}

/**
 * A download ticket: a short, read-only credential for files below `path`, to put in a URL
 * (`?ticket=`) where a browser cannot send the Authorization header (downloads, previews).
 */
export function downloadTicket(client: FerryApi, path: string): Promise<DownloadTicket> {
  return client.http.json<DownloadTicket>({ method: 'POST', path: `${API_PREFIX}/auth/ticket`, json: { path }, retry: 'unprocessed' });
}
