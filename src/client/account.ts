/**
 * The SDK side of accounts and security (docs/protocol.md, "Users, tokens, sessions",
 * "Share links", "Admin"): password login, the caller's account, tokens, users, share links
 * and the audit log. Functions over a FerryClient, like put.ts and get.ts.
 *
 * ```ts
 * const { token } = await loginWithPassword({ server, user: 'ana', password });
 * const client = new FerryClient({ server, token });
 * const link = await createShare(client, { path: '/photos', expiresInSeconds: 86400 });
 * ```
 */
import {
  API_PREFIX,
  type AuditPage,
  type CreateShareRequest,
  type CreateTokenRequest,
  type CreateUserRequest,
  type CreatedShare,
  type CreatedToken,
  type GrantInfo,
  type LoginRequest,
  type MeResponse,
  type PermissionName,
  type ShareInfo,
  type SshKeyInfo,
  type TokenInfo,
  type UpdateUserRequest,
  type UserInfo,
} from '../core/protocol.js';
import { FerryClient } from './client.js';

const seg = (s: string): string => encodeURIComponent(s);

/**
 * Logs in with a user name and password and returns a new API token (the server never sees
 * the password again: the client keeps the token). Password failures are not retried.
 */
export async function loginWithPassword(options: { server: string; user: string; password: string; ca?: string; fingerprint?: string } & Omit<LoginRequest, 'user' | 'password'>): Promise<CreatedToken> {
  const client = new FerryClient({ server: options.server, ca: options.ca, fingerprint: options.fingerprint, retry: { retries: 2, baseMs: 200, capMs: 2000, maxRetryAfterMs: 5000 } });
  try {
    await client.capabilities(); // a clear "not a Ferry server" before a password goes anywhere
    const body: LoginRequest = { user: options.user, password: options.password, tokenName: options.tokenName, expiresInSeconds: options.expiresInSeconds };
    return await client.http.json<CreatedToken>({ method: 'POST', path: `${API_PREFIX}/auth/login`, json: body, auth: false, retry: 'unprocessed' });
  } finally {
    await client.close();
  }
}

export function me(client: FerryClient): Promise<MeResponse> {
  return client.http.json<MeResponse>({ method: 'GET', path: `${API_PREFIX}/me` });
}

export async function changePassword(client: FerryClient, currentPassword: string | undefined, newPassword: string): Promise<void> {
  await client.http.json<void>({ method: 'POST', path: `${API_PREFIX}/me/password`, json: { currentPassword, newPassword }, retry: 'never' });
}

// ---------------------------------------------------------------- tokens

export function listTokens(client: FerryClient, options: { all?: boolean; user?: string } = {}): Promise<TokenInfo[]> {
  return client.http.json<TokenInfo[]>({ method: 'GET', path: `${API_PREFIX}/tokens`, query: { all: options.all ? true : undefined, user: options.user } });
}

export function createToken(client: FerryClient, request: CreateTokenRequest): Promise<CreatedToken> {
  return client.http.json<CreatedToken>({ method: 'POST', path: `${API_PREFIX}/tokens`, json: request, retry: 'never' });
}

export async function revokeToken(client: FerryClient, id: string): Promise<void> {
  await client.http.json<void>({ method: 'DELETE', path: `${API_PREFIX}/tokens/${seg(id)}`, retry: 'always' });
}

// ---------------------------------------------------------------- users (admin)

export function listUsers(client: FerryClient): Promise<UserInfo[]> {
  return client.http.json<UserInfo[]>({ method: 'GET', path: `${API_PREFIX}/users` });
}

/** One user, with their current usage (for `ferry quota USER`). */
export function getUser(client: FerryClient, name: string): Promise<UserInfo & { usage: { bytes: number; files: number } }> {
  return client.http.json({ method: 'GET', path: `${API_PREFIX}/users/${seg(name)}` });
}

export function addUser(client: FerryClient, request: CreateUserRequest): Promise<UserInfo> {
  return client.http.json<UserInfo>({ method: 'POST', path: `${API_PREFIX}/users`, json: request, retry: 'never' });
}

export function updateUser(client: FerryClient, name: string, request: UpdateUserRequest): Promise<UserInfo> {
  return client.http.json<UserInfo>({ method: 'PATCH', path: `${API_PREFIX}/users/${seg(name)}`, json: request, retry: 'never' });
}

export async function removeUser(client: FerryClient, name: string): Promise<void> {
  await client.http.json<void>({ method: 'DELETE', path: `${API_PREFIX}/users/${seg(name)}`, retry: 'never' });
}

export async function setUserPassword(client: FerryClient, name: string, password: string): Promise<void> {
  await client.http.json<void>({ method: 'PUT', path: `${API_PREFIX}/users/${seg(name)}/password`, json: { password }, retry: 'never' });
}

export function setGrant(client: FerryClient, name: string, grant: { path: string; permissions: PermissionName[] }): Promise<UserInfo> {
  return client.http.json<UserInfo>({ method: 'PUT', path: `${API_PREFIX}/users/${seg(name)}/grants`, json: grant satisfies GrantInfo, retry: 'never' });
}

// ---------------------------------------------------------------- SSH keys (the SFTP front's logins)

export function listSshKeys(client: FerryClient, user: string): Promise<SshKeyInfo[]> {
  return client.http.json<SshKeyInfo[]>({ method: 'GET', path: `${API_PREFIX}/users/${seg(user)}/keys` });
}

/** Adds the keys of an authorized_keys text (one or more lines) to a user; all or none. */
export function addSshKeys(client: FerryClient, user: string, keys: string): Promise<SshKeyInfo[]> {
  return client.http.json<SshKeyInfo[]>({ method: 'POST', path: `${API_PREFIX}/users/${seg(user)}/keys`, json: { keys }, retry: 'never' });
}

/** Removes a key by id or fingerprint. */
export async function removeSshKey(client: FerryClient, user: string, idOrFingerprint: string): Promise<void> {
  await client.http.json<void>({ method: 'DELETE', path: `${API_PREFIX}/users/${seg(user)}/keys/${seg(idOrFingerprint)}`, retry: 'always' });
}

// ---------------------------------------------------------------- shares

export function createShare(client: FerryClient, request: CreateShareRequest): Promise<CreatedShare> {
  return client.http.json<CreatedShare>({ method: 'POST', path: `${API_PREFIX}/shares`, json: request, retry: 'never' });
}

export function listShares(client: FerryClient, options: { all?: boolean } = {}): Promise<ShareInfo[]> {
  return client.http.json<ShareInfo[]>({ method: 'GET', path: `${API_PREFIX}/shares`, query: { all: options.all ? true : undefined } });
}

export async function revokeShare(client: FerryClient, id: string): Promise<void> {
  await client.http.json<void>({ method: 'DELETE', path: `${API_PREFIX}/shares/${seg(id)}`, retry: 'always' });
}

// ---------------------------------------------------------------- admin

export function auditLog(client: FerryClient, query: { since?: number; before?: number; user?: string; event?: string; limit?: number } = {}): Promise<AuditPage> {
  return client.http.json<AuditPage>({ method: 'GET', path: `${API_PREFIX}/admin/audit`, query });
}

export function bans(client: FerryClient): Promise<{ ip: string; until: number }[]> {
  return client.http.json({ method: 'GET', path: `${API_PREFIX}/admin/bans` });
}

export async function unban(client: FerryClient, ip: string): Promise<void> {
  await client.http.json<void>({ method: 'DELETE', path: `${API_PREFIX}/admin/bans/${seg(ip)}` });
}
