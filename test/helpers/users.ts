/** Users and tokens through the admin API, for the security suites. */
import type { CreatedShare, CreatedToken, UserInfo } from '../../src/core/protocol.js';
import type { TestServer } from './in-process-server.js';

async function ok<T>(res: Response, status: number, what: string): Promise<T> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function addUser(t: TestServer, name: string, body: Record<string, unknown> = {}): Promise<UserInfo> {
  return ok<UserInfo>(await t.api('/api/v1/users', { method: 'POST', json: { name, ...body } }), 201, `add user ${name}`);
}

/** A token for `user`, made by the admin (scopes default to all of the user's). */
export async function tokenFor(t: TestServer, user: string, spec: { name?: string; scopes?: string[]; pathPrefix?: string; expiresInSeconds?: number } = {}): Promise<CreatedToken> {
  return ok<CreatedToken>(await t.api('/api/v1/tokens', { method: 'POST', json: { name: spec.name ?? `${user} test token`, user, ...spec } }), 201, `token for ${user}`);
}

export async function share(t: TestServer, token: string, body: Record<string, unknown>): Promise<CreatedShare> {
  return ok<CreatedShare>(await t.api('/api/v1/shares', { method: 'POST', json: body, token }), 201, 'create share');
}

/** The audit entries of the server, newest first. */
export async function auditEvents(t: TestServer, query = ''): Promise<{ event: string; ok: boolean; user: string | null; target: string | null; ip: string | null; front: string | null; path: string | null; details: Record<string, unknown> | null }[]> {
  const res = await ok<{ entries: never[] }>(await t.api(`/api/v1/admin/audit?limit=10000${query ? '&' + query : ''}`), 200, 'audit');
  return res.entries;
}
