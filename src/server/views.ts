/** Metadata rows as the protocol shows them (never a secret or a hash of one). */
import { parsePermissions } from '../core/permissions.js';
import type { GrantInfo, ShareInfo, ShareMadeWith, TokenInfo, UserInfo } from '../core/protocol.js';
import type { GrantRow, TokenRow, UserRow } from '../store/auth-store.js';
import type { ShareRow } from '../store/share-store.js';
import { CidrList } from './ip-filter.js';

const num = (v: number | null): number | null => (v === null ? null : Number(v));

export function grantInfo(g: Pick<GrantRow, 'path' | 'perms'>): GrantInfo {
  return { path: g.path, permissions: parsePermissions(g.perms) };
}

export function userInfo(u: UserRow, grants: GrantRow[]): UserInfo {
  return {
    id: u.id,
    name: u.name,
    role: u.role,
    home: u.home,
    disabled: u.disabled === 1,
    hasPassword: u.password_hash !== null,
    grants: grants.map(grantInfo),
    quotaBytes: num(u.quota_bytes),
    quotaFiles: num(u.quota_files),
    maxFileSize: num(u.max_file_size),
    maxSessions: num(u.max_sessions),
    ipAllow: CidrList.deserialize(u.ip_allow),
    ipDeny: CidrList.deserialize(u.ip_deny),
    createdAt: Number(u.created_at),
  };
}

/**
 * A token as the API shows it. A full token (`*`) can do what its user can: its scopes are
 * shown without `admin` unless the user has the admin role (which `admin` needs anyway).
 */
export function tokenInfo(t: TokenRow, userName: string, userRole: string): TokenInfo {
  const scopes = parsePermissions(t.scopes);
  return {
    id: t.id,
    userName,
    name: t.name,
    scopes: t.scopes === '*' && userRole !== 'admin' ? scopes.filter((p) => p !== 'admin') : scopes,
    pathPrefix: t.path_prefix,
    createdAt: Number(t.created_at),
    expiresAt: num(t.expires_at),
    lastUsedAt: num(t.last_used_at),
    revokedAt: num(t.revoked_at),
  };
}

/** What `made_with` (AuthContext.tokenId at creation) says made a link; `tokenName`: the token's, if kept. */
export function shareMadeWith(madeWith: string | null, tokenName: string | null = null): ShareMadeWith | null {
  if (madeWith === null) return null;
  if (madeWith.startsWith('session:')) return { kind: 'session' };
  if (madeWith.startsWith('password:')) return { kind: 'password' };
  return { kind: 'token', tokenId: madeWith, tokenName };
}

export function shareInfo(s: ShareRow, userName: string, tokenName: string | null = null): ShareInfo {
  return {
    id: s.id,
    userName,
    path: s.path,
    kind: s.kind,
    name: s.name,
    hasPassword: s.password_hash !== null,
    expiresAt: num(s.expires_at),
    maxUses: num(s.max_uses),
    uses: Number(s.uses),
    maxBytes: num(s.max_bytes),
    bytesReceived: Number(s.bytes_received ?? 0),
    createdAt: Number(s.created_at),
    revokedAt: num(s.revoked_at),
    lastUsedAt: num(s.last_used_at),
    madeWith: shareMadeWith(s.made_with ?? null, tokenName),
  };
}
