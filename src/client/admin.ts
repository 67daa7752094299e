/** Server administration through the API (admin token): webhooks, backup, check. */
import { API_PREFIX, type CreatedWebhook, type WebhookDeliveryInfo, type WebhookInfo } from '../core/protocol.js';
import type { FerryClient } from './client.js';

const seg = (s: string): string => encodeURIComponent(s);

export function addWebhook(client: FerryClient, request: { url: string; events: string[]; secret?: string }): Promise<CreatedWebhook> {
  return client.http.json<CreatedWebhook>({ method: 'POST', path: `${API_PREFIX}/admin/webhooks`, json: request, retry: 'never' });
}

export function listWebhooks(client: FerryClient): Promise<WebhookInfo[]> {
  return client.http.json<WebhookInfo[]>({ method: 'GET', path: `${API_PREFIX}/admin/webhooks` });
}

export async function removeWebhook(client: FerryClient, id: string): Promise<void> {
  await client.http.json<void>({ method: 'DELETE', path: `${API_PREFIX}/admin/webhooks/${seg(id)}`, retry: 'never' });
}

export function webhookLog(client: FerryClient, query: { webhook?: string; limit?: number } = {}): Promise<WebhookDeliveryInfo[]> {
  return client.http.json<WebhookDeliveryInfo[]>({ method: 'GET', path: `${API_PREFIX}/admin/webhook-deliveries`, query });
}

export interface BackupResult {
  format: number;
  ferry: string;
  createdAt: string;
  files: { path: string; size: number; sha256: string }[];
  chunkStores: string[];
  /** Secrets the backup does not hold, and why (a credential that expires gets no `session-key`). */
  leftOut?: { path: string; reason: string }[];
}

/** Has the server write its metadata and secrets into `dir` (a path on the server's machine). */
export function backup(client: FerryClient, dir: string): Promise<BackupResult> {
  return client.http.json<BackupResult>({ method: 'POST', path: `${API_PREFIX}/admin/backup`, json: { dir }, retry: 'never' });
}

export interface CheckResult {
  manifests: number;
  chunks: number;
  /** Chunk and pack objects no index row points at (older than the server's gcGrace): `ferry admin gc` frees them. */
  unreferenced: { chunks: number; packs: number; bytes: number };
  chunksRead: number;
  bytesRead: number;
  problems: { kind: string; hash: string; message: string; files: string[]; quarantined: boolean }[];
  ok: boolean;
}

/** Runs the server's integrity check; `onProgress` hears the progress lines it streams. */
export async function check(client: FerryClient, options: { readData?: boolean; quarantine?: boolean }, onProgress?: (p: { chunks: number; chunksRead: number; bytesRead: number }) => void): Promise<CheckResult> {
  return client.http.request({ method: 'POST', path: `${API_PREFIX}/admin/check`, json: options, retry: 'never' }, async (res) => {
    let pending = '';
    let report: CheckResult | undefined;
    let failure: { code: string; message: string } | undefined;
    const take = (line: string) => {
      if (!line.trim()) return;
      const msg = JSON.parse(line) as { progress?: Parameters<NonNullable<typeof onProgress>>[0]; report?: CheckResult; error?: { code: string; message: string } };
      if (msg.progress) onProgress?.(msg.progress);
      if (msg.report) report = msg.report;
      if (msg.error) failure = msg.error;
    };
    for await (const piece of res.body) {
      pending += (piece as Buffer).toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      lines.forEach(take);
    }
    take(pending);
    if (failure) throw new Error(`the check failed on the server: ${failure.message}`);
    if (!report) throw new Error('the server ended the check without a report');
    return report;
  });
}
