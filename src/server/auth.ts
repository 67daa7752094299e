/**
 * Bearer-token authentication.
 *
 * A token reads `ferry_<id>_<secret>`: `id` is 16 random hex digits, unrelated to the
 * secret (goflux derived its token id from the secret and leaked 48 bits of it), `secret`
 * 256 random bits in base64url. Only SHA-256 of the whole token is stored; a presented
 * token is looked up by id and its hash compared in constant time. The operator-chosen
 * `FERRY_ADMIN_TOKEN` (any string) is stored the same way under the fixed id `env-admin`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AuthInvalidError, AuthRequiredError } from '../core/errors.js';
import type { MetaStore } from '../store/meta-store.js';

export interface AuthContext {
  userId: string;
  userName: string;
  role: 'admin' | 'user';
  tokenId: string;
  scopes: string[];
  pathPrefix: string | null;
}

const ENV_TOKEN_ID = 'env-admin';
const GENERATED_ADMIN_TOKEN_ID_SETTING = 'bootstrap.admin-token-id';
const ADMIN_USER_ID = 'u-admin';
const TOKEN_SHAPE = /^ferry_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;
/** last_used_at is written at most this often per token: a chunk upload is thousands of requests. */
const TOUCH_INTERVAL_MS = 60_000;

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function newToken(): { id: string; token: string } {
  const id = randomBytes(8).toString('hex');
  return { id, token: `ferry_${id}_${randomBytes(32).toString('base64url')}` };
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Authenticator {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly meta: MetaStore,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Makes sure an admin user and an admin token exist. With `envToken`, that token is the
   * admin's; otherwise a token is generated on the first start only, written with mode 0600
   * to `DATA/initial-admin-token`, and returned so the caller can print it once.
   */
  async bootstrap(dataDir: string, envToken?: string): Promise<{ generatedToken?: string; tokenFile?: string }> {
    const now = this.now();
    await this.meta.insertUser({ id: ADMIN_USER_ID, name: 'admin', role: 'admin', password_hash: null, home: '/', created_at: now });
    const base = { user_id: ADMIN_USER_ID, scopes: '*', path_prefix: null, created_at: now, expires_at: null, last_used_at: null, revoked_at: null };
    if (envToken) {
      await this.meta.upsertToken({ ...base, id: ENV_TOKEN_ID, name: 'FERRY_ADMIN_TOKEN', secret_hash: hashSecret(envToken) });
      return {};
    }
    if (await this.meta.getSetting(GENERATED_ADMIN_TOKEN_ID_SETTING)) return {};
    const { id, token } = newToken();
    await this.meta.upsertToken({ ...base, id, name: 'initial admin token', secret_hash: hashSecret(token) });
    const tokenFile = join(dataDir, 'initial-admin-token');
    await writeFile(tokenFile, token + '\n', { mode: 0o600 });
    await this.meta.setSetting(GENERATED_ADMIN_TOKEN_ID_SETTING, id);
    return { generatedToken: token, tokenFile };
  }

  /** The identity behind an `Authorization` header; FERRY_ERR_AUTH_REQUIRED / _AUTH_INVALID otherwise. */
  async verify(header: string | undefined): Promise<AuthContext> {
    if (!header) throw new AuthRequiredError('authentication required: send Authorization: Bearer <token>');
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!m) throw new AuthInvalidError('the Authorization header must read "Bearer <token>"');
    const presented = m[1];
    const id = TOKEN_SHAPE.exec(presented)?.[1] ?? ENV_TOKEN_ID;
    const row = await this.meta.findToken(id);
    // Hash even when the id is unknown, so a miss costs the same as a wrong secret.
    const presentedHash = hashSecret(presented);
    const now = this.now();
    if (!row || !sameHash(presentedHash, row.secret_hash)) throw new AuthInvalidError('the token is not valid');
    if (row.revoked_at !== null) throw new AuthInvalidError('the token was revoked');
    if (row.expires_at !== null && Number(row.expires_at) <= now) throw new AuthInvalidError('the token has expired');
    const user = await this.meta.findUser(row.user_id);
    if (!user || user.disabled) throw new AuthInvalidError('the token\'s user is disabled or gone');
    if ((this.touched.get(id) ?? 0) + TOUCH_INTERVAL_MS <= now) {
      this.touched.set(id, now);
      await this.meta.touchToken(id, now);
    }
    return { userId: user.id, userName: user.name, role: user.role, tokenId: row.id, scopes: row.scopes.split(',').filter(Boolean), pathPrefix: row.path_prefix };
  }
}
