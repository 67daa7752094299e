/**
 * Webhooks and their delivery queue, in the metadata store: a delivery is a row from the
 * moment its event is recorded until it is delivered or given up, so a restart (or a crash)
 * loses none; the dispatcher (src/server/webhooks.ts) picks rows up again where they were.
 *
 * Order: deliveries of one webhook with the same `order_key` (the file's path) go out in
 * id order: `due()` never offers a row while an older one of its key is still pending.
 */
import type { Kysely } from 'kysely';
import type { Database, WebhookDeliveriesTable } from './meta-schema.js';

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  secret: string;
  createdAt: number;
}

export interface Delivery {
  id: number;
  webhookId: string;
  event: string;
  orderKey: string;
  payload: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAt: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  doneAt: number | null;
}

type Row = Omit<WebhookDeliveriesTable, 'id'> & { id: number };

const toDelivery = (r: Row): Delivery => ({
  id: Number(r.id),
  webhookId: r.webhook_id,
  event: r.event,
  orderKey: r.order_key,
  payload: r.payload,
  status: r.status as Delivery['status'],
  attempts: r.attempts,
  nextAt: Number(r.next_at),
  lastStatus: r.last_status,
  lastError: r.last_error,
  createdAt: Number(r.created_at),
  doneAt: r.done_at === null ? null : Number(r.done_at),
});

export class WebhookStore {
  constructor(private readonly db: Kysely<Database>) {}

  async add(hook: Webhook): Promise<void> {
    await this.db.insertInto('webhooks').values({ id: hook.id, url: hook.url, events: hook.events.join(','), secret: hook.secret, created_at: hook.createdAt }).execute();
  }

  async list(): Promise<Webhook[]> {
    const rows = await this.db.selectFrom('webhooks').selectAll().orderBy('created_at').execute();
    return rows.map((r) => ({ id: r.id, url: r.url, events: r.events.split(',').filter(Boolean), secret: r.secret, createdAt: Number(r.created_at) }));
  }

  /** Removes a webhook and its queue; false when there was none. */
  async remove(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
      await trx.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
      return Number(r.numDeletedRows) > 0;
    });
  }

  /** Queues one delivery per webhook, in one transaction. */
  async enqueue(items: readonly { webhookId: string; event: string; orderKey: string; payload: string }[], now: number): Promise<void> {
    if (items.length === 0) return;
    await this.db
      .insertInto('webhook_deliveries')
      .values(items.map((i) => ({ webhook_id: i.webhookId, event: i.event, order_key: i.orderKey, payload: i.payload, status: 'pending', attempts: 0, next_at: now, created_at: now })))
      .execute();
  }

  /** Pending deliveries due by `now` that are first of their key, oldest first. */
  async due(now: number, limit: number): Promise<Delivery[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries as d')
      .selectAll('d')
      .where('d.status', '=', 'pending')
      .where('d.next_at', '<=', now)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('webhook_deliveries as e')
              .select('e.id')
              .whereRef('e.webhook_id', '=', 'd.webhook_id')
              .whereRef('e.order_key', '=', 'd.order_key')
              .where('e.status', '=', 'pending')
              .whereRef('e.id', '<', 'd.id'),
          ),
        ),
      )
      .orderBy('d.id')
      .limit(limit)
      .execute();
    return rows.map((r) => toDelivery(r as Row));
  }

  /**
   * Claims deliveries `due()` found, for one sender: each row whose `next_at` is still what
   * it was found with is moved to `until`, so that no other node sends it meanwhile; the
   * rows claimed are returned (a row another node claimed first is not). Sent or failed,
   * a row leaves the claim through `delivered` / `attemptFailed`; one whose sender died is
   * due again at `until`.
   */
  async claim(rows: readonly Delivery[], until: number): Promise<Delivery[]> {
    const claimed: Delivery[] = [];
    for (const d of rows) {
      const r = await this.db.updateTable('webhook_deliveries').set({ next_at: until }).where('id', '=', d.id).where('status', '=', 'pending').where('next_at', '=', d.nextAt).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) claimed.push(d);
    }
    return claimed;
  }

  /** When the next pending delivery is due (undefined: none pending). */
  async nextDue(): Promise<number | undefined> {
    const r = await this.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.min('next_at').as('next')).where('status', '=', 'pending').executeTakeFirst();
    return r?.next === null || r?.next === undefined ? undefined : Number(r.next);
  }

  async pendingCount(): Promise<number> {
    const r = await this.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll().as('n')).where('status', '=', 'pending').executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async delivered(id: number, status: number, now: number): Promise<void> {
    await this.db.updateTable('webhook_deliveries').set((eb) => ({ status: 'delivered', attempts: eb('attempts', '+', 1), last_status: status, last_error: null, done_at: now })).where('id', '=', id).execute();
  }

  /** Records a failed attempt: retried at `retryAt`, or given up (`retryAt` undefined). */
  async attemptFailed(id: number, result: { status: number | null; error: string }, now: number, retryAt: number | undefined): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        last_status: result.status,
        last_error: result.error.slice(0, 500),
        ...(retryAt === undefined ? { status: 'failed', done_at: now } : { next_at: retryAt }),
      }))
      .where('id', '=', id)
      .execute();
  }

  /** The delivery log, newest first. */
  async log(q: { webhookId?: string; limit: number }): Promise<Delivery[]> {
    let sel = this.db.selectFrom('webhook_deliveries').selectAll();
    if (q.webhookId !== undefined) sel = sel.where('webhook_id', '=', q.webhookId);
    const rows = await sel.orderBy('id', 'desc').limit(q.limit).execute();
    return rows.map((r) => toDelivery(r as Row));
  }
}
