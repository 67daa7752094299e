/**
 * Permissions: the vocabulary shared by the server (which enforces them), the admin API and
 * the CLI (which names them).
 *
 * A user holds permissions through per-path grants, paths relative to the user's home: the
 * grant on the nearest ancestor-or-self of a path decides what may be done there (SFTPGo's
 * rule: a sub-directory's grant replaces its parent's, it does not add to it). A token
 * carries scopes, a subset of the permissions; what a request may do at a path is the
 * grant there intersected with the token's scopes, and only within the token's path prefix.
 *
 * - list:   stat and list
 * - read:   download files, manifests and their chunks; copy from
 * - write:  upload (create or replace files); copy or move to
 * - delete: delete; move from
 * - mkdir:  create directories explicitly (uploads create their parents with write)
 * - share:  create share links (which also need read, or write for upload links)
 * - admin:  the admin API (users, everyone's tokens and shares, audit log, GC, metrics);
 *           held only by users with the admin role
 */
import { UsageError } from './errors.js';

export const PERMISSIONS = ['list', 'read', 'write', 'delete', 'mkdir', 'share', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** What a new user gets on their home unless told otherwise. */
export const DEFAULT_USER_PERMISSIONS: readonly Permission[] = ['list', 'read', 'write', 'delete', 'mkdir', 'share'];

/** Read-only, for `--read-only` tokens. */
export const READ_ONLY_PERMISSIONS: readonly Permission[] = ['list', 'read'];

export function isPermission(value: unknown): value is Permission {
  return typeof value === 'string' && (PERMISSIONS as readonly string[]).includes(value);
}

/**
 * `list,read` / `["list","read"]` / `*` -> a sorted, de-duplicated list. `*` means every
 * permission (for a token: every permission its user has). Throws FERRY_ERR_USAGE on an
 * unknown name, so a typo never silently grants less (or more) than meant.
 */
export function parsePermissions(input: string | readonly string[]): Permission[] {
  const parts = typeof input === 'string' ? input.split(',') : [...input];
  const out = new Set<Permission>();
  for (const raw of parts) {
    const p = raw.trim().toLowerCase();
    if (p === '') continue;
    if (p === '*' || p === 'all') {
      for (const q of PERMISSIONS) out.add(q);
      continue;
    }
    if (!isPermission(p)) throw new UsageError(`unknown permission ${JSON.stringify(raw)} (known: ${PERMISSIONS.join(', ')}, or *)`);
    out.add(p);
  }
  return PERMISSIONS.filter((p) => out.has(p));
}

export function formatPermissions(perms: Iterable<Permission>): string {
  const set = new Set(perms);
  return PERMISSIONS.filter((p) => set.has(p)).join(',');
}
