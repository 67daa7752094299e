/**
 * Webhook delivery: every recorded event a webhook subscribes to becomes a row of the
 * durable queue (src/store/webhook-store.ts) before anything is sent, and this dispatcher
 * POSTs the rows: signed with HMAC-SHA256 of the body under the webhook's secret
 * (`X-Ferry-Signature-256: sha256=<hex>`, as GitHub does), retried with exponential backoff
 * (`webhookRetryDelay` doubling per attempt, at most an hour apart) until a 2xx answer or
 * `webhookMaxAttempts`, in order per webhook and file (a delivery waits while an older one
 * of the same path is pending, retries included). On start it picks up whatever the last
 * run left pending.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { ValidationError } from '../core/errors.js';
import type { Delivery, Webhook, WebhookStore } from '../store/webhook-store.js';
import type { RecordedEvent } from './audit.js';
import type { ServerConfig } from './config.js';
import { hookEventOf, payloadOf } from './events.js';
import type { ServerMetrics } from './metrics.js';
import { HOOK_EVENTS, type HookEvent } from './settings.js';

export const SIGNATURE_HEADER = 'x-ferry-signature-256';

/** `sha256=<hex HMAC-SHA256(secret, body)>`: what a receiver recomputes and compares. */
export function signatureOf(secret: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

const MAX_BACKOFF_MS = 3600_000;
const BATCH = 16;
/**
 * The webhook list is read again after this long: a webhook added or removed through another
 * node of a cluster (or another process on the same database) is used, or no longer used,
 * within it.
 */
export const HOOKS_REFRESH_MS = 2000;
/** A claimed delivery another node may take over this long after its time-out (its claimer died). */
const CLAIM_MARGIN_MS = 60_000;

/** Idle servers look for deliveries queued elsewhere every this many seconds. */
const IDLE_POLL_TICKS = 60;

/**
 * A webhook URL as the audit log and the server's log show it: its scheme, host and port, the
 * rest as `…`. Receivers put their secret in the path (Slack's
 * `/services/T000/B000/XXXXXXXX`) or the query (`?token=`), and whoever holds that URL can
 * post to the receiver; audit entries and log lines outlive the webhook and travel further.
 */
export function webhookUrlForLogs(href: string): string {
  const url = new URL(href);
  return url.pathname === '/' && url.search === '' && url.hash === '' ? `${url.origin}/` : `${url.origin}/…`;
}

/**
 * The ports fetch never connects to ("port blocking" in the Fetch standard, as undici
 * carries it): a delivery to one fails with "bad port" before any connection.
 */
const FETCH_BLOCKED_PORTS = new Set(
  '1 7 9 11 13 15 17 19 20 21 22 23 25 37 42 43 53 69 77 79 87 95 101 102 103 104 109 110 111 113 115 117 119 123 135 137 139 143 161 179 389 427 465 512 513 514 515 526 530 531 532 540 548 554 556 563 587 601 636 989 990 993 995 1719 1720 1723 2049 3659 4045 4190 5060 5061 6000 6566 6665 6666 6667 6668 6669 6679 6697 10080'.split(' '),
);

export class WebhookDispatcher {
  /** The webhooks, and when they were read (performance.now()); undefined: read them at next use. */
  private hooks: { list: Webhook[]; at: number } | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly store: WebhookStore,
    private readonly config: Pick<ServerConfig, 'webhookRetryDelayMs' | 'webhookMaxAttempts' | 'webhookTimeoutMs'>,
    private readonly log: FastifyBaseLogger,
    private readonly now: () => number,
    private readonly metrics?: ServerMetrics,
  ) {}

  /**
   * Resumes what a previous run left pending, then looks for due deliveries every second
   * while some are queued, and once a minute otherwise (rows another node of a cluster
   * queued and could not send): an idle server does not query its database every second.
   */
  start(): void {
    this.kick();
    let idleTicks = 0;
    const t = setInterval(() => {
      if (this.pending === 0 && ++idleTicks < IDLE_POLL_TICKS) return;
      idleTicks = 0;
      this.kick();
    }, 1000);
    t.unref();
    this.timers.add(t);
  }

  /** Deliveries queued at the last look (unknown before the first: looked for at once). */
  private pending = -1;

  async add(url: string, events: string[], secret?: string): Promise<Webhook> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ValidationError(`not a URL: ${JSON.stringify(url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ValidationError('a webhook URL must be http: or https:');
    // fetch refuses a URL with credentials, so such a webhook never delivered anything; and the
    // password would show in `webhook ls`, the audit log and every failed delivery's message.
    if (parsed.username || parsed.password) {
      throw new ValidationError('a webhook URL cannot carry a user name or password (user:password@): the receiver checks the X-Ferry-Signature-256 header instead');
    }
    // fetch refuses these ports too ("bad port"), so every delivery failed until given up.
    const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
    // Port 0 is no port a receiver can listen on (a listener given 0 gets another one): every
    // connection to it is refused (ECONNREFUSED), so every delivery failed until given up.
    if (port === '0') {
      throw new ValidationError("a webhook URL cannot use port 0: no receiver listens there (every delivery would be refused); give the port the receiver listens on");
    }
    if (FETCH_BLOCKED_PORTS.has(port)) {
      throw new ValidationError(`a webhook URL cannot use port ${port}: it is one of the ports the Fetch standard blocks (SMTP, IRC, X11...), which the server's HTTP client refuses to send to; give the receiver another port`);
    }
    if (events.length === 0) throw new ValidationError(`name at least one event (${HOOK_EVENTS.join(', ')})`);
    for (const e of events) if (!(HOOK_EVENTS as readonly string[]).includes(e)) throw new ValidationError(`unknown event ${JSON.stringify(e)} (known: ${HOOK_EVENTS.join(', ')})`);
    if (secret !== undefined && secret.length < 16) throw new ValidationError('a webhook secret must be at least 16 characters');
    const hook: Webhook = { id: 'wh_' + randomBytes(8).toString('hex'), url: parsed.href, events: [...new Set(events)], secret: secret ?? randomBytes(24).toString('base64url'), createdAt: this.now() };
    await this.store.add(hook);
    this.hooks = undefined;
    return hook;
  }

  async remove(id: string): Promise<boolean> {
    const gone = await this.store.remove(id);
    this.hooks = undefined;
    return gone;
  }

  /** The webhooks, read again when `fresh` or older than {@link HOOKS_REFRESH_MS}. */
  private async webhooks(fresh = false): Promise<Webhook[]> {
    if (fresh || this.hooks === undefined || performance.now() - this.hooks.at >= HOOKS_REFRESH_MS) {
      const at = performance.now();
      this.hooks = { list: await this.store.list(), at };
    }
    return this.hooks.list;
  }

  private async subscribed(event: HookEvent): Promise<Webhook[]> {
    return (await this.webhooks()).filter((h) => h.events.includes(event));
  }

  /**
   * Queues the event for every webhook that wants it (an audit listener). Calls are
   * chained, so rows are inserted in the order events were recorded.
   */
  enqueue(e: RecordedEvent): Promise<void> {
    const next = this.chain.then(() => this.insert(e));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private chain: Promise<void> = Promise.resolve();

  private async insert(e: RecordedEvent): Promise<void> {
    const event = hookEventOf(e);
    if (!event || this.closed) return;
    const hooks = await this.subscribed(event);
    if (hooks.length === 0) return;
    const payload = JSON.stringify(payloadOf(event, e));
    const orderKey = e.path ?? e.target ?? '';
    await this.store.enqueue(hooks.map((h) => ({ webhookId: h.id, event, orderKey, payload })), this.now());
    this.pending = Math.max(this.pending, 0) + hooks.length;
    this.kick();
  }

  /** Sends what is due now; one pump at a time, re-run if kicked meanwhile. */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pump()
      .catch((err: unknown) => this.log.error({ err }, 'webhook delivery failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async pump(): Promise<void> {
    for (;;) {
      const found = await this.store.due(this.now(), BATCH);
      if (found.length === 0 || this.closed) break;
      // Another node of a cluster may have found the same rows: each goes to the one that claims it.
      const due = await this.store.claim(found, this.now() + this.config.webhookTimeoutMs + CLAIM_MARGIN_MS);
      await Promise.all(due.map((d) => this.deliver(d)));
    }
    this.pending = await this.store.pendingCount();
    this.metrics?.webhookQueue.set(this.pending);
  }

  private async deliver(d: Delivery): Promise<void> {
    const hook = (await this.webhooks()).find((h) => h.id === d.webhookId) ?? (await this.webhooks(true)).find((h) => h.id === d.webhookId);
    if (!hook) {
      // Removed (its rows went with it) while this row was being queued for it: nowhere to send it.
      await this.store.attemptFailed(d.id, { status: null, error: 'the webhook was removed' }, this.now(), undefined);
      return;
    }
    let result: { status: number | null; error: string };
    try {
      const res = await fetch(hook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'ferry-webhook',
          'x-ferry-event': d.event,
          'x-ferry-delivery': String(d.id),
          [SIGNATURE_HEADER]: signatureOf(hook.secret, d.payload),
        },
        body: d.payload,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.config.webhookTimeoutMs),
      });
      // The answer's body is not wanted: not read, so a receiver cannot make this process hold it.
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) {
        await this.store.delivered(d.id, res.status, this.now());
        return;
      }
      result = { status: res.status, error: `HTTP ${res.status}` };
    } catch (err) {
      result = { status: null, error: err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err) };
    }
    const attempts = d.attempts + 1;
    const giveUp = attempts >= this.config.webhookMaxAttempts;
    const delay = Math.min(this.config.webhookRetryDelayMs * 2 ** (attempts - 1), MAX_BACKOFF_MS);
    await this.store.attemptFailed(d.id, result, this.now(), giveUp ? undefined : this.now() + delay);
    if (giveUp) this.log.warn({ webhook: hook.id, delivery: d.id, attempts, error: result.error }, 'webhook delivery given up');
    else this.wakeIn(delay);
  }

  private wakeIn(ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.kick();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  /** Stops sending; what is pending stays queued for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.chain;
    await this.running;
  }
}
