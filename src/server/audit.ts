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
 *   share.upload-refused  a drop-box upload refused (byte cap, password, expired or used-up
 *                         link, quota, name taken, ...): the link, its owner, code and reason
 *   file.upload           a file committed (each file of a multi-file upload)
 *   file.download         a file's bytes read: once per transfer (a whole GET, a ranged
 *                         GET, or the first chunk of a file fetched chunk by chunk)
 *   file.delete           deletes (with the path; to the trash when it is on)
 *   file.move / file.copy  (an SFTP rename is a move)
 *   file.mkdir            a folder made (the `mkdir` webhook and hook event)
 *   file.restore          a version or a trashed file put back
 *   file.expire           files removed by the TTL sweeper
 *   file.quarantine       a chunk `ferry admin check` found corrupt
 *   quota.exceeded        an upload (or a WebDAV PROPPATCH) refused by a quota or size limit
 *   lock.break            a WebDAV lock of another user removed (UNLOCK) by the owner of its
 *                         place or an admin: the lock's path, token, holder (user id) and scope
 *
 * Every entry names the front the request came through (`front`: `api`, `web`,
 * `sftp`, `webdav`, `tus`, `share`): the event's own `front`, else its route's
 * (`config.front`), else `web` for a request with the web app's session, `api` for any
 * other request, and nothing for background work.
 *
 * Writing an event never fails the request that caused it: a failure is logged instead.
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { AuditStore } from '../store/audit-store.js';

/** The ways into Ferry, as audit entries name them. */
export type Front = 'api' | 'web' | 'sftp' | 'webdav' | 'tus' | 'share';

export interface AuditEvent {
  event: string;
  /** Which front the event came through (default: the route's `config.front`, else `api` for a request, nothing for background work). */
  front?: Front | null;
  ok: boolean;
  target?: string | null;
  details?: Record<string, unknown>;
  /** Who, when the request has no authenticated identity (a failed login names its user). */
  userId?: string | null;
  userName?: string | null;
  tokenId?: string | null;
  ip?: string | null;
  /** The file (server path) a file operation acted on. */
  path?: string | null;
}

/** The front a request came through: its route's, else `web` for the web app's session (it calls the API routes), else `api`. */
export function frontOf(request: FastifyRequest): Front {
  return request.routeOptions?.config?.front ?? (request.auth?.kind === 'session' ? 'web' : 'api');
}

/** A recorded entry, as listeners (webhooks, command hooks) receive it. */
export type RecordedEvent = Required<Omit<AuditEvent, 'details'>> & { at: number; details: Record<string, unknown> | null };

/** The `quota.exceeded` entry of a request refused by a quota or size limit, once per request. */
export function quotaRefusal(request: FastifyRequest, err: { message: string; details?: Record<string, unknown> }): AuditEvent {
  return { event: 'quota.exceeded', ok: false, target: `${request.method} ${request.url.split('?')[0]}`, details: { reason: err.message, ...err.details } };
}

export class AuditLog {
  private readonly listeners: ((e: RecordedEvent) => void)[] = [];

  constructor(
    private readonly store: AuditStore,
    private readonly log: FastifyBaseLogger,
    private readonly now: () => number,
  ) {}

  /** Called with every recorded event, after it is written (webhooks and hooks subscribe). */
  onRecord(listener: (e: RecordedEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Records an event in the context of a request (its identity and address fill the gaps). */
  async record(request: FastifyRequest | null, e: AuditEvent): Promise<void> {
    await this.recordMany(request, [e]);
  }

  /** Records events of one request together (the files of one commit): one write of the store for all. */
  async recordMany(request: FastifyRequest | null, events: readonly AuditEvent[]): Promise<void> {
    const entries = events.map((e) => this.entryOf(request, e));
    try {
      await this.store.appendMany(entries);
    } catch (err) {
      this.log.error({ err, audit: entries.length === 1 ? entries[0] : { count: entries.length, event: entries[0]?.event } }, 'could not write the audit log');
    }
    for (const entry of entries) {
      for (const listener of this.listeners) {
        try {
          listener(entry);
        } catch (err) {
          this.log.error({ err, audit: entry }, 'an audit listener failed');
        }
      }
    }
  }

  /** The entry of an event, mirrored as a log line. */
  private entryOf(request: FastifyRequest | null, e: AuditEvent): RecordedEvent {
    const auth = request?.auth;
    const front = e.front ?? (request ? frontOf(request) : undefined);
    const entry = {
      at: this.now(),
      event: e.event,
      ok: e.ok,
      userId: e.userId !== undefined ? e.userId : (auth?.userId ?? null),
      userName: e.userName !== undefined ? e.userName : (auth?.userName ?? null),
      tokenId: e.tokenId !== undefined ? e.tokenId : (auth?.tokenId ?? null),
      ip: e.ip !== undefined ? e.ip : (request?.ip ?? null),
      target: e.target ?? null,
      details: e.details ?? null,
      path: e.path ?? null,
      front: front ?? null,
    };
    (request?.log ?? this.log).info({ audit: entry }, `audit ${e.event}`);
    return entry;
  }
}
