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
