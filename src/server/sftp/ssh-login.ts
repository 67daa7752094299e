/**
 * Who an SSH connection is: the user it logged in as, and how (a registered public key, or
 * a password where the admin allows passwords over SSH). The identity is an AuthContext like
 * an API token's, with every permission of the user (`kind: 'ssh'`), so the one
 * authorization module decides what each SFTP request may do.
 *
 * SSH connections live long; what made the login valid is checked again whenever security
 * state may have changed (MetaStore.securityEpoch, read by every request but the READs and
 * WRITEs of an open file, which check at most once a second): a disabled or deleted user, a
 * removed key, a changed password, or an address the user's lists no longer allow ends the
 * connection's rights at its next request, as a revoked token does over HTTP. A key's
 * expiry (that of the token that added it) is checked at every such request, whatever the
 * epoch says: time passing changes no security state.
 */
import { AuthInvalidError, ForbiddenError } from '../../core/errors.js';
import type { UserRow } from '../../store/auth-store.js';
import type { ServerContext } from '../context.js';
import { userIpPolicy } from '../auth.js';
import type { AuthContext } from '../authz.js';

/** How the connection proved who it is. */
export type SshCredential = { method: 'publickey'; keyId: string; publicKey: string; fingerprint: string } | { method: 'password'; passwordHash: string };


export class SshLogin {
  private context!: AuthContext;
  private epoch: string | undefined;
  private verified = false;
  /** The key's expiry as last read; null: never. */
  private keyExpiresAt: number | null = null;

  private constructor(
    private readonly ctx: ServerContext,
    private readonly userId: string,
    readonly credential: SshCredential,
    readonly ip: string,
  ) {}

  /** The identity of a connection that just authenticated as `user`. */
  static async start(ctx: ServerContext, user: UserRow, credential: SshCredential, ip: string): Promise<SshLogin> {
    const login = new SshLogin(ctx, user.id, credential, ip);
    await login.current();
    return login;
  }

  /** `sshkey:<id>` or `ssh-password`: what audit entries name as the credential. */
  get credentialId(): string {
    return this.credential.method === 'publickey' ? `sshkey:${this.credential.keyId}` : 'ssh-password';
  }

  /** The last identity verified (for log lines; requests use {@link current}). */
  get known(): AuthContext {
    return this.context;
  }

  /**
   * The connection's identity now. FERRY_ERR_AUTH_INVALID when the login no longer holds,
   * FERRY_ERR_FORBIDDEN when the user may no longer connect from this address.
   */
  async current(): Promise<AuthContext> {
    const c = this.credential;
    const now = this.ctx.now();
    if (c.method === 'publickey' && this.keyExpiresAt !== null && now >= this.keyExpiresAt) throw new AuthInvalidError(`the SSH key ${c.fingerprint} has expired: this login has ended`);
    const epoch = await this.ctx.meta.securityEpoch();
    if (this.verified && epoch !== undefined && epoch === this.epoch) return this.context;
    const user = await this.ctx.users.userById(this.userId);
    if (!user || user.disabled) throw new AuthInvalidError('the account was disabled or removed: this SSH login has ended');
    if (c.method === 'publickey') {
      const key = await this.ctx.sshKeys.findKey(user.id, c.publicKey, now);
      if (!key) throw new AuthInvalidError(`the SSH key ${c.fingerprint} was removed or has expired: this login has ended`);
      this.keyExpiresAt = key.expires_at === null ? null : Number(key.expires_at);
    } else if (user.password_hash !== c.passwordHash) {
      throw new AuthInvalidError('the password was changed: this SSH login has ended');
    }
    if (!userIpPolicy(user).permits(this.ip)) throw new ForbiddenError(`the account ${user.name} may not be used from ${this.ip}`);
    this.context = await this.ctx.auth.contextFor(user, { kind: 'ssh', tokenId: this.credentialId, scopes: '*', pathPrefix: null });
    this.epoch = epoch;
    this.verified = true;
    return this.context;
  }
}
