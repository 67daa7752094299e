/**
 * Accounts in the Node SDK: everything of ./account-api.ts (shared with the web app), plus
 * the password login that makes an API token for the CLI (`ferry login`).
 *
 * ```ts
 * const { token } = await loginWithPassword({ server, user: 'ana', password });
 * const client = new FerryClient({ server, token });
 * ```
 */
import { API_PREFIX, type CreatedToken, type LoginRequest } from '../core/protocol.js';
import { FerryClient } from './client.js';

export * from './account-api.js';

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

