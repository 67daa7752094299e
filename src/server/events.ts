/**
 * The events webhooks and command hooks see: recorded audit entries, under the names an
 * administrator subscribes to (`upload`, `download`, `delete`, `move`, `copy`, `mkdir`,
 * `share`, `login`, `quota`), as the JSON documented in the README ("Webhooks and hooks").
 */
import type { RecordedEvent } from './audit.js';
import type { HookEvent } from './settings.js';

const BY_AUDIT_EVENT: Record<string, HookEvent> = {
  'file.upload': 'upload',
  'file.download': 'download',
  'file.delete': 'delete',
  'file.expire': 'delete',
  'file.move': 'move',
  'file.copy': 'copy',
  'file.mkdir': 'mkdir',
  'share.create': 'share',
  'share.use': 'share',
  'share.revoke': 'share',
  'auth.login': 'login',
  'auth.session': 'login',
  'quota.exceeded': 'quota',
};

/** The hook event of an audit entry, if it has one. */
export function hookEventOf(e: RecordedEvent): HookEvent | undefined {
  return BY_AUDIT_EVENT[e.event];
}

export interface EventPayload {
  /** The hook event: upload, download, ... */
  event: HookEvent;
  /** The audit event it comes from: file.upload, share.use, ... */
  action: string;
  at: string;
  ok: boolean;
  user: string | null;
  tokenId: string | null;
  ip: string | null;
  front: string | null;
  /** The file (server path), for file events. */
  path: string | null;
  target: string | null;
  details: Record<string, unknown> | null;
}

export function payloadOf(event: HookEvent, e: RecordedEvent): EventPayload {
  return { event, action: e.event, at: new Date(e.at).toISOString(), ok: e.ok, user: e.userName, tokenId: e.tokenId, ip: e.ip, front: e.front, path: e.path, target: e.target, details: e.details };
}
