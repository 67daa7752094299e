/**
 * Security events, written to the audit table of the metadata store (`ferry admin audit`)
 * and mirrored as a log line. Event names are `<area>.<what>`:
 *
 *   auth.failure          a request with a bad, expired or revoked token
 *   auth.login            password login that creates an API token (`ferry login`)
 *   auth.session          password login that starts a web session
 *   auth.refresh          web session refresh (reuse of a retired refresh token: ok=false)
 *   auth.logout
 *   access.denied         an authenticated request refused by authorization (403)
 *   defender.ban          an address banned after repeated failures
 *   defender.unban        an admin lifted a ban
 *   token.create / token.revoke
 *   user.create / user.update / user.delete / user.password / user.grant
 *   user.key-add / user.key-remove   SSH public keys (the SFTP front's logins)
 *   share.create / share.revoke / share.use / share.password-failure
 *   file.delete           deletes through the API (with the path)
 *   file.expire           files removed by the TTL sweeper
 *   quota.exceeded        an upload refused by a quota or size limit
 *
 * Writing an event never fails the request that caused it: a failure is logged instead.
 * Events of the fronts other than the native API name their front (`details.front`).
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { AuditStore } from '../store/audit-store.js';

/** The ways into Ferry, as audit entries name them. */
export type Front = 'api' | 'web' | 'sftp' | 'webdav' | 'tus' | 'share';

export interface AuditEvent {
  event: string;
  /** Which way in the event came through; kept in `details.front`. */
  front?: Front;
  ok: boolean;
  target?: string | null;
  details?: Record<string, unknown>;
  /** Who, when the request has no authenticated identity (a failed login names its user). */
  userId?: string | null;
  userName?: string | null;
  tokenId?: string | null;
  ip?: string | null;
}

export class AuditLog {
  constructor(
    private readonly store: AuditStore,
    private readonly log: FastifyBaseLogger,
    private readonly now: () => number,
  ) {}

  /** Records an event in the context of a request (its identity and address fill the gaps). */
  async record(request: FastifyRequest | null, e: AuditEvent): Promise<void> {
    const auth = request?.auth;
    const entry = {
      at: this.now(),
      event: e.event,
      ok: e.ok,
      userId: e.userId !== undefined ? e.userId : (auth?.userId ?? null),
      userName: e.userName !== undefined ? e.userName : (auth?.userName ?? null),
      tokenId: e.tokenId !== undefined ? e.tokenId : (auth?.tokenId ?? null),
      ip: e.ip !== undefined ? e.ip : (request?.ip ?? null),
      target: e.target ?? null,
      details: e.front === undefined ? (e.details ?? null) : { front: e.front, ...e.details },
    };
    (request?.log ?? this.log).info({ audit: entry }, `audit ${e.event}`);
    try {
      await this.store.append(entry);
    } catch (err) {
      this.log.error({ err, audit: entry }, 'could not write the audit log');
    }
  }
}
