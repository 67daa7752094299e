/**
 * Webhooks against a real local HTTP receiver (signature, retries after 500s, order per
 * file, nothing lost across a server restart), command hooks, and the pre-upload hook with
 * a stub virus scanner that rejects the EICAR test string.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedWebhook, WebhookDeliveryInfo } from '../../src/core/protocol.js';
import type { RecordedEvent } from '../../src/server/audit.js';
import { hookEventOf } from '../../src/server/events.js';
import { defaultConfig } from '../../src/server/config.js';
import { applySettings, HOOK_EVENTS, resolveSettings } from '../../src/server/settings.js';
import { HOOKS_REFRESH_MS, WebhookDispatcher, webhookUrlForLogs } from '../../src/server/webhooks.js';
import { MetaStore } from '../../src/store/meta-store.js';
import { WebhookStore } from '../../src/store/webhook-store.js';
import { runFerry } from '../helpers/cli.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { auditEvents } from '../helpers/users.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  json: { event: string; action: string; path: string | null; user: string | null; ip: string | null; front: string | null; details: Record<string, unknown> | null };
}

/** A webhook receiver on 127.0.0.1: records what it accepts; `fail(n)` answers 500 n times first. */
class Receiver {
  readonly got: Received[] = [];
  failures = 0;
  /** Paths whose first N deliveries get a 500. */
  readonly failPath = new Map<string, number>();
  server: Server | undefined;
  port = 0;
  async listen(port = 0): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        const json = JSON.parse(body) as Received['json'];
        const left = json.path ? (this.failPath.get(json.path) ?? 0) : 0;
        if (left > 0) {
          this.failPath.set(json.path!, left - 1);
          this.failures++;
          res.writeHead(500).end('not now');
          return;
        }
        this.got.push({ headers: req.headers, body, json });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r));
    this.port = (this.server!.address() as AddressInfo).port;
  }
  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }
}

const until = async (what: string, cond: () => boolean | Promise<boolean>, tries = 400): Promise<void> => {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
};

const verify = (secret: string, r: Received): boolean => {
  const want = Buffer.from('sha256=' + createHmac('sha256', secret).update(r.body).digest('hex'));
  const got = Buffer.from(String(r.headers['x-ferry-signature-256']));
  return got.length === want.length && timingSafeEqual(got, want);
};

const work = mkdtempSync(join(tmpdir(), 'ferry-hooks-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('webhooks', () => {
  let t: TestServer;
  const rx = new Receiver();
  let hook: CreatedWebhook;
  beforeAll(async () => {
    await rx.listen();
    t = await startTestServer({ webhookRetryDelayMs: 40, webhookMaxAttempts: 50 });
    const res = await t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url: rx.url, events: ['upload', 'delete', 'move'] } });
    expect(res.status).toBe(201);
    hook = (await res.json()) as CreatedWebhook;
  });
  afterAll(async () => {
    await t?.close();
    await rx.close();
  });

  it('delivers a signed event for an upload; a wrong secret does not verify', async () => {
    expect((await uploadBuffer(t, '/signed.txt', Buffer.from('hello'))).status).toBe(200);
    await until('the upload event', () => rx.got.some((r) => r.json.path === '/signed.txt'));
    const r = rx.got.find((x) => x.json.path === '/signed.txt')!;
    expect(r.json).toMatchObject({ event: 'upload', action: 'file.upload', user: 'admin', front: 'api', ip: '127.0.0.1' });
    expect(r.json.details).toMatchObject({ size: 5 });
    expect(r.headers['x-ferry-event']).toBe('upload');
    expect(verify(hook.secret, r)).toBe(true);
    expect(verify(hook.secret + 'x', r)).toBe(false);
  });

  it('follows no redirect: a receiver answering 307 to an inner address sends nothing there', async () => {
    const inner: string[] = [];
    const innerServer = createServer((req, res) => {
      inner.push(req.url ?? '');
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => innerServer.listen(0, '127.0.0.1', r));
    const innerUrl = `http://127.0.0.1:${(innerServer.address() as AddressInfo).port}/internal`;
    const redirector = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(307, { location: innerUrl }).end());
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    try {
      const res = await t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url: `http://127.0.0.1:${(redirector.address() as AddressInfo).port}/hook`, events: ['upload'] } });
      expect(res.status).toBe(201);
      const redirecting = (await res.json()) as CreatedWebhook;
      expect((await uploadBuffer(t, '/redirected.txt', Buffer.from('x'))).status).toBe(200);
      const attempt = async () => {
        const log = (await (await t.api(`/api/v1/admin/webhook-deliveries?webhook=${redirecting.id}`)).json()) as WebhookDeliveryInfo[];
        return log.find((x) => (x.payload as { path: string }).path === '/redirected.txt' && x.attempts >= 1);
      };
      await until('an attempt of the redirected delivery', async () => (await attempt()) !== undefined);
      // Not delivered: a redirect is an answer of the receiver's, not followed.
      expect(await attempt()).toMatchObject({ status: 'pending', lastStatus: 307 });
      expect(inner).toEqual([]);
      expect((await t.api(`/api/v1/admin/webhooks/${redirecting.id}`, { method: 'DELETE' })).status).toBe(204);
    } finally {
      await new Promise<void>((r) => redirector.close(() => r()));
      await new Promise<void>((r) => innerServer.close(() => r()));
      redirector.closeAllConnections();
      innerServer.closeAllConnections();
    }
  });

  it('retries after 500s with backoff until accepted, and logs the attempts', async () => {
    rx.failPath.set('/flaky.txt', 3);
    expect((await uploadBuffer(t, '/flaky.txt', Buffer.from('flaky'))).status).toBe(200);
    await until('the retried delivery', () => rx.got.some((r) => r.json.path === '/flaky.txt'));
    const log = (await (await t.api(`/api/v1/admin/webhook-deliveries?webhook=${hook.id}`)).json()) as WebhookDeliveryInfo[];
    const d = log.find((x) => (x.payload as { path: string }).path === '/flaky.txt')!;
    expect(d).toMatchObject({ status: 'delivered', attempts: 4, lastStatus: 204, lastError: null });
  });

  it("keeps the order of one file's events while an earlier one is retried", async () => {
    rx.failPath.set('/ordered.txt', 2);
    const before = rx.got.length;
    expect((await uploadBuffer(t, '/ordered.txt', Buffer.from('one'))).status).toBe(200);
    expect((await uploadBuffer(t, '/ordered.txt', Buffer.from('two'))).status).toBe(200);
    expect((await t.api('/api/v1/move', { method: 'POST', json: { from: '/ordered.txt', to: '/moved.txt' } })).status).toBe(200);
    expect((await t.api('/api/v1/files/moved.txt', { method: 'DELETE' })).status).toBe(204);
    // Another file is not held up by /ordered.txt's retries.
    expect((await uploadBuffer(t, '/other.txt', Buffer.from('x'))).status).toBe(200);
    await until('all events', () => rx.got.filter((r) => r.json.path === '/ordered.txt').length === 3 && rx.got.some((r) => r.json.path === '/moved.txt') && rx.got.some((r) => r.json.path === '/other.txt'));
    const ordered = rx.got.slice(before).filter((r) => r.json.path === '/ordered.txt');
    expect(ordered.map((r) => [r.json.action, r.json.details?.size])).toEqual([
      ['file.upload', 3],
      ['file.upload', 3],
      ['file.move', undefined],
    ]);
    expect(ordered.map((r) => Number(r.headers['x-ferry-delivery']))).toEqual([...ordered.map((r) => Number(r.headers['x-ferry-delivery']))].sort((a, b) => a - b));
    expect(rx.got.find((r) => r.json.path === '/moved.txt')!.json.action).toBe('file.delete');
  });

  it('loses nothing across a server restart: pending deliveries go out after it', async () => {
    await rx.close();
    const port = rx.port;
    const before = rx.got.length;
    for (const name of ['r1', 'r2', 'r3']) expect((await uploadBuffer(t, `/restart/${name}`, Buffer.from(name))).status).toBe(200);
    await until('failed attempts', async () => {
      const log = (await (await t.api(`/api/v1/admin/webhook-deliveries?webhook=${hook.id}&limit=3`)).json()) as WebhookDeliveryInfo[];
      return log.every((d) => d.status === 'pending' && d.attempts >= 1);
    });
    await t.restart();
    await rx.listen(port);
    const restarted = () => rx.got.slice(before).filter((r) => r.json.path?.startsWith('/restart/'));
    await until('the queued deliveries', () => restarted().length >= 3);
    expect(restarted().map((r) => r.json.path).sort()).toEqual(['/restart/r1', '/restart/r2', '/restart/r3']);
  });

  it('validates what it is given and removes a webhook with its queue', async () => {
    const bad = await t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url: 'ftp://x', events: ['upload'] } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_VALIDATION');
    // A password in the URL: never delivered (fetch refuses it), and it would be in every log.
    const withPassword = new URL(rx.url);
    withPassword.username = 'hook';
    withPassword.password = 'hunter2-in-the-url';
    const creds = await t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url: withPassword.href, events: ['upload'] } });
    expect(creds.status).toBe(400);
    const refused = (await creds.json()) as { error: { code: string; message: string } };
    expect(refused.error.code).toBe('FERRY_ERR_VALIDATION');
    expect(refused.error.message).toContain('cannot carry a user name or password');
    expect(refused.error.message).not.toContain('hunter2');
    // A port fetch never connects to ("bad port"): every delivery would fail, so it is refused at add.
    for (const port of ['6667', '10080']) {
      const blocked = new URL(rx.url);
      blocked.port = port;
      const res = await t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url: blocked.href, events: ['upload'] } });
      expect(res.status, port).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(`cannot use port ${port}: it is one of the ports the Fetch standard blocks`);
      // And that it is fetch's rule, not ours: fetch itself refuses it, before any connection.
      await expect(fetch(blocked.href)).rejects.toMatchObject({ cause: { message: 'bad port' } });
    }
    // Port 0: fetch tries it, and every connection is refused; refused at add as well.
    const zero = new URL(rx.url);
    zero.port = '0';
    const atZero = await t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url: zero.href, events: ['upload'] } });
    expect(atZero.status).toBe(400);
    expect((await atZero.json()) as { error: { code: string; message: string } }).toMatchObject({ error: { code: 'FERRY_ERR_VALIDATION', message: expect.stringContaining('cannot use port 0') } });
    await expect(fetch(zero.href)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
    expect(((await (await t.api('/api/v1/admin/webhooks')).json()) as { url: string }[]).map((w) => w.url)).not.toContain(zero.href);
    // An unknown event (here the payload's action name) is named, with the events there are:
    // it was "must be equal to constant" once per event, then "must match a schema in anyOf"
    const unknown = await t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url: rx.url, events: ['upload', 'file.upload'] } });
    expect(unknown.status).toBe(400);
    expect((await unknown.json()) as { error: { code: string; message: string } }).toEqual({
      error: expect.objectContaining({ code: 'FERRY_ERR_VALIDATION', message: 'body/events/1 is "file.upload": must be one of upload, download, delete, move, copy, mkdir, share, login, quota' }),
    });
    // A value that is not even a string keeps ajv's own words (the type's error is among them)
    const notAName = await t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url: rx.url, events: [7] } });
    expect(notAName.status).toBe(400);
    expect(((await notAName.json()) as { error: { message: string } }).error.message).toMatch(/body\/events\/0 must be string/);
    const other = (await (await t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url: rx.url, events: ['login'] } })).json()) as CreatedWebhook;
    expect((await t.api(`/api/v1/admin/webhooks/${other.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await t.api(`/api/v1/admin/webhooks/${other.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('ferry admin webhook add, ls, log and rm', async () => {
    const env = { FERRY_SERVER: t.url, FERRY_TOKEN: t.token, HOME: work };
    // A short --secret is refused by its name, before the server's schema would say "body/secret".
    const short = await runFerry(['admin', 'webhook', 'add', rx.url, '--events', 'delete', '--secret', 'short'], { env });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain("option '--secret <secret>' argument 'short' is invalid. the signing secret must be 16 characters or more, not 5");
    expect(short.stderr).not.toContain('body/secret');
    const add = await runFerry(['admin', 'webhook', 'add', rx.url, '--events', 'delete', '--secret', 'a-secret-of-enough-length'], { env });
    expect(add.code).toBe(0);
    const id = add.stdout.trim();
    expect(id).toMatch(/^wh_[0-9a-f]{16}$/);
    expect(add.stderr).toContain('signing secret (shown once): a-secret-of-enough-length');
    const ls = await runFerry(['admin', 'webhook', 'ls'], { env });
    expect(ls.stdout).toContain(id);
    expect(ls.stdout).not.toContain('a-secret-of-enough-length');
    expect((await uploadBuffer(t, '/cli.txt', Buffer.from('c'))).status).toBe(200);
    expect((await t.api('/api/v1/files/cli.txt', { method: 'DELETE' })).status).toBe(204);
    await until('the delete delivery', async () => (await runFerry(['admin', 'webhook', 'log', id], { env })).stdout.includes('delivered'));
    const log = await runFerry(['admin', 'webhook', 'log', id, '--json'], { env });
    const rows = log.stdout.trim().split('\n').map((l) => JSON.parse(l) as WebhookDeliveryInfo);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ event: 'delete', status: 'delivered', attempts: 1, payload: { path: '/cli.txt' } });
    expect((await runFerry(['admin', 'webhook', 'rm', id], { env })).code).toBe(0);
    expect((await runFerry(['admin', 'webhook', 'rm', id], { env })).code).toBe(3);
    // The removed webhook's log went with it: not found, not an empty table that reads as
    // "nothing was sent".
    const gone = await runFerry(['admin', 'webhook', 'log', id], { env });
    expect(gone.code).toBe(3);
    expect(gone.stdout).toBe('');
    expect(gone.stderr).toContain(`no webhook ${id}`);
    const goneJson = await runFerry(['admin', 'webhook', 'log', 'wh_0000000000000000', '--json'], { env });
    expect(goneJson.code).toBe(3);
    expect(goneJson.stdout).toBe('');
    expect(JSON.parse(goneJson.stderr)).toMatchObject({ error: { code: 'FERRY_ERR_NOT_FOUND' } });
  });
});

describe('a webhook URL with a secret in it', () => {
  it('shows in the admins\' listing, but only its origin in the audit log and the server log', async () => {
    let logText = '';
    const logs = new Writable({
      write: (chunk: Buffer, _e, cb) => {
        logText += chunk.toString();
        cb();
      },
    });
    const t = await startTestServer({ logLevel: 'info', logDestination: logs });
    try {
      // Slack's form: whoever holds the path can post to the channel.
      const url = 'https://hooks.example.com:8443/services/T0001/B0002/sEcReTpAtH0123456789?token=qUeRySeCrEt';
      const res = await t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url, events: ['upload'] } });
      expect(res.status).toBe(201);
      const hook = (await res.json()) as CreatedWebhook;
      expect(hook.url).toBe(url);
      const listed = (await (await t.api('/api/v1/admin/webhooks')).json()) as { id: string; url: string }[];
      expect(listed.find((h) => h.id === hook.id)?.url).toBe(url);

      const entries = await auditEvents(t, 'event=webhook.create');
      expect(entries).toHaveLength(1);
      expect(entries[0].details).toEqual({ url: 'https://hooks.example.com:8443/…', events: ['upload'] });
      // The log line that mirrors the audit entry: there, and without the secrets.
      expect(logText).toContain('audit webhook.create');
      expect(logText).toContain('https://hooks.example.com:8443/…');
      expect(logText).not.toMatch(/sEcReTpAtH|qUeRySeCrEt|T0001/);
      expect(JSON.stringify(await auditEvents(t))).not.toMatch(/sEcReTpAtH|qUeRySeCrEt/);
    } finally {
      await t.close();
    }
  });

  it('webhookUrlForLogs keeps a bare origin as it is', () => {
    expect(webhookUrlForLogs('http://127.0.0.1:9000/')).toBe('http://127.0.0.1:9000/');
    expect(webhookUrlForLogs('http://127.0.0.1:9000/hook')).toBe('http://127.0.0.1:9000/…');
    expect(webhookUrlForLogs('https://h.example/?k=v')).toBe('https://h.example/…');
  });
});

describe('webhooks on several nodes sharing one database', () => {
  const rx = new Receiver();
  const stores: MetaStore[] = [];
  const dispatchers: WebhookDispatcher[] = [];
  const config = { webhookRetryDelayMs: 40, webhookMaxAttempts: 50, webhookTimeoutMs: 5000 };
  /** A node's dispatcher, on its own connection to the shared database. */
  const node = async (): Promise<WebhookDispatcher> => {
    const meta = await MetaStore.openSqlite(join(work, 'shared-webhooks.db'));
    stores.push(meta);
    const d = new WebhookDispatcher(new WebhookStore(meta.db), config, pino({ enabled: false }), Date.now);
    dispatchers.push(d);
    return d;
  };
  const upload = (path: string): RecordedEvent => ({ event: 'file.upload', at: Date.now(), ok: true, front: 'api', target: path, path, details: { size: 1 }, userId: 'u-1', userName: 'ana', tokenId: null, ip: '192.0.2.7' });
  beforeAll(async () => {
    await rx.listen();
  });
  afterAll(async () => {
    for (const d of dispatchers) await d.close();
    for (const m of stores) await m.close();
    await rx.close();
  });

  it('a webhook added through one node gets the events of another that had read the list before; one removed stops getting them', async () => {
    const [a, b] = [await node(), await node()];
    await b.enqueue(upload('/before.txt')); // b reads the (empty) webhook list
    const hook = await a.add(rx.url, ['upload']);
    await new Promise((r) => setTimeout(r, HOOKS_REFRESH_MS + 100));
    await b.enqueue(upload('/through-b.txt'));
    await until('the event recorded by the other node', () => rx.got.some((r) => r.json.path === '/through-b.txt'));
    expect(rx.got.some((r) => r.json.path === '/before.txt')).toBe(false);
    expect(await a.remove(hook.id)).toBe(true);
    await new Promise((r) => setTimeout(r, HOOKS_REFRESH_MS + 100));
    const before = rx.got.length;
    await b.enqueue(upload('/after-rm.txt'));
    b.kick();
    await new Promise((r) => setTimeout(r, 300));
    expect(rx.got.length).toBe(before);
  });

  it('waits webhookRetryDelay, then twice as long each time, and marks the delivery failed after webhookMaxAttempts (README)', async () => {
    // A clock of the test's own: the waits are read from the queue, never timed.
    let clock = 5_000_000;
    const meta = await MetaStore.openSqlite(join(work, 'backoff.db'));
    stores.push(meta);
    const store = new WebhookStore(meta.db);
    const d = new WebhookDispatcher(store, { webhookRetryDelayMs: 1000, webhookMaxAttempts: 4, webhookTimeoutMs: 5000 }, pino({ enabled: false }), () => clock);
    dispatchers.push(d);
    const hook = await d.add(rx.url, ['upload']);
    rx.failPath.set('/always-500.txt', 100);
    const failuresBefore = rx.failures;
    await d.enqueue(upload('/always-500.txt'));
    const row = async () => (await store.log({ webhookId: hook.id, limit: 1 }))[0];
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      await until(`attempt ${attempt}`, async () => (await row()).attempts === attempt);
      const r = await row();
      expect(r.status).toBe('pending');
      waits.push(r.nextAt - clock);
      clock = r.nextAt;
      d.kick();
    }
    expect(waits).toEqual([1000, 2000, 4000]);
    await until('the last attempt', async () => (await row()).status === 'failed');
    expect(await row()).toMatchObject({ status: 'failed', attempts: 4, lastStatus: 500 });
    expect(rx.failures - failuresBefore).toBe(4);
  });

  it('a delivery both nodes find due is sent once', async () => {
    const [a, b] = [await node(), await node()];
    const hook = await a.add(rx.url, ['upload']);
    const before = rx.got.length;
    // Queued through a third node that sends nothing (closed at once), then found by both.
    const queuer = await node();
    await queuer.close();
    const meta = stores[stores.length - 1];
    await new WebhookStore(meta.db).enqueue(
      Array.from({ length: 12 }, (_, i) => ({ webhookId: hook.id, event: 'upload', orderKey: `/twice-${i}.txt`, payload: JSON.stringify({ event: 'upload', path: `/twice-${i}.txt` }) })),
      Date.now(),
    );
    for (let i = 0; i < 5; i++) {
      a.kick();
      b.kick();
      await new Promise((r) => setTimeout(r, 20));
    }
    await until('the twelve deliveries', () => rx.got.length - before >= 12);
    await new Promise((r) => setTimeout(r, 300));
    const ids = rx.got.slice(before).map((r) => String(r.headers['x-ferry-delivery']));
    expect(ids).toHaveLength(12);
    expect(new Set(ids).size).toBe(12);
  });

  it("does not read a receiver's answer body: an endless one is cut at once, the delivery counted", async () => {
    let written = 0;
    let closed!: () => void;
    const gone = new Promise<void>((r) => (closed = r));
    const endless = createServer((req, res) => {
      req.resume();
      res.writeHead(200);
      const block = Buffer.alloc(1 << 20);
      const pump = (): void => {
        if (res.destroyed) return;
        written += block.length;
        if (res.write(block)) setImmediate(pump);
        else res.once('drain', pump);
      };
      res.once('close', closed);
      pump();
    });
    await new Promise<void>((r) => endless.listen(0, '127.0.0.1', r));
    try {
      const a = await node();
      const hook = await a.add(`http://127.0.0.1:${(endless.address() as AddressInfo).port}/`, ['upload']);
      await a.enqueue(upload('/endless.txt'));
      await gone;
      const store = new WebhookStore(stores[stores.length - 1].db);
      await until('the delivery recorded', async () => (await store.log({ webhookId: hook.id, limit: 1 }))[0]?.status === 'delivered');
      // What the socket buffers took before the answer was dropped, not gigabytes.
      expect(written).toBeLessThan(64 << 20);
    } finally {
      endless.closeAllConnections();
      await new Promise((r) => endless.close(r));
    }
  });
});

describe('command hooks and the pre-upload hook', () => {
  let t: TestServer;
  const events = join(work, 'events.jsonl');
  const scanned = join(work, 'scanned.txt');
  beforeAll(async () => {
    const onEvent = join(work, 'on-event.sh');
    writeFileSync(onEvent, `#!/bin/sh\ncat >> '${events}'\n`);
    // (Hooks run in parallel: two events may finish in either order.)
    // A stand-in for clamdscan: reads the file from stdin, exit 1 and a "FOUND" line on EICAR.
    const scanner = join(work, 'scan.sh');
    writeFileSync(scanner, `#!/bin/sh\nbody=$(cat)\nprintf '%s %s\\n' "$FERRY_PATH" "$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)" >> '${scanned}'\ncase "$body" in\n  *EICAR-STANDARD-ANTIVIRUS-TEST-FILE*) echo "stream: Eicar-Test-Signature FOUND"; exit 1 ;;\nesac\nexit 0\n`);
    chmodSync(onEvent, 0o755);
    chmodSync(scanner, 0o755);
    t = await startTestServer({
      hooks: [{ events: ['upload', 'delete'], command: [onEvent], timeoutMs: 10_000 }],
      preUploadHook: { command: [scanner], timeoutMs: 20_000 },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('runs a command hook with the event as JSON on stdin', async () => {
    expect((await uploadBuffer(t, '/hooked.txt', Buffer.from('hooked'))).status).toBe(200);
    expect((await t.api('/api/v1/files/hooked.txt', { method: 'DELETE' })).status).toBe(204);
    await t.server.ctx.hooks.idle();
    const lines = readFileSync(events, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Received['json']);
    expect(lines.map((l) => `${l.event} ${l.path} ${l.user}`).sort()).toEqual(['delete /hooked.txt admin', 'upload /hooked.txt admin']);
  });

  it('the pre-upload hook sees every byte, accepts clean files and rejects EICAR with 422', async () => {
    const clean = Buffer.alloc(300_000, 'a');
    expect((await uploadBuffer(t, '/clean.bin', clean, 64 * 1024)).status).toBe(200);
    expect(readFileSync(scanned, 'utf8')).toContain(`/clean.bin ${createHash('sha256').update(clean).digest('hex')}`);
    const eicar = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*');
    const res = await uploadBuffer(t, '/virus.com', eicar);
    expect(res.status).toBe(422);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('FERRY_ERR_UPLOAD_REJECTED');
    expect(body.error.message).toContain('Eicar-Test-Signature FOUND');
    expect((await t.api('/api/v1/stat/virus.com')).status).toBe(404);
  });

  it('a share-link upload goes through the same check', async () => {
    expect((await t.api('/api/v1/mkdir/inbox', { method: 'POST' })).status).toBe(201);
    const created = await t.api('/api/v1/shares', { method: 'POST', json: { path: '/inbox', kind: 'upload' } });
    expect(created.status).toBe(201);
    const share = (await created.json()) as { url: string };
    const bad = await fetch(`${share.url}/evil.txt`, { method: 'PUT', body: 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' });
    expect(bad.status).toBe(422);
    const good = await fetch(`${share.url}/fine.txt`, { method: 'PUT', body: 'fine' });
    expect(good.status).toBe(201);
  });
});

describe('hooks that hang or cannot start', () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const t of servers) await t.close();
  });

  it('a command hook past its timeout is killed; a pre-upload hook past it rejects (422), one that cannot start fails closed (503): no file either way', async () => {
    const pidFile = join(work, 'hung-hook.pid');
    const hung = join(work, 'hung.sh');
    writeFileSync(hung, `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 600\n`);
    chmodSync(hung, 0o755);
    const slow = await startTestServer({ preUploadHook: { command: [hung], timeoutMs: 300 } });
    servers.push(slow);
    const late = await uploadBuffer(slow, '/late.txt', Buffer.from('late'));
    expect(late.status).toBe(422);
    expect(((await late.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'FERRY_ERR_UPLOAD_REJECTED', message: expect.stringContaining('did not finish in time') });
    expect((await slow.api('/api/v1/stat/late.txt')).status).toBe(404);

    const missing = await startTestServer({ preUploadHook: { command: [join(work, 'no-such-scanner')], timeoutMs: 5_000 } });
    servers.push(missing);
    const closed = await uploadBuffer(missing, '/unchecked.txt', Buffer.from('unchecked'));
    expect(closed.status).toBe(503);
    expect(((await closed.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_UNAVAILABLE');
    expect((await missing.api('/api/v1/stat/unchecked.txt')).status).toBe(404);

    // A command hook that hangs: killed at its timeout (the server's hooks are idle again, its
    // process gone). 2 s leaves the script time to write its pid on a loaded machine.
    rmSync(pidFile, { force: true });
    const plain = await startTestServer({ hooks: [{ events: ['upload'], command: [hung], timeoutMs: 2_000 }] });
    servers.push(plain);
    expect((await uploadBuffer(plain, '/hooked-late.txt', Buffer.from('x'))).status).toBe(200);
    await plain.server.ctx.hooks.idle();
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(pid).toBeGreaterThan(0);
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });
});

describe('the README\'s list of events', () => {
  it('names every event --events takes, each with the audit actions that send it', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const paragraph = /\nEvents: ([\s\S]*?)\n\n/.exec(readme)?.[1].replace(/\s+/g, ' ') ?? '';
    const listed = [...paragraph.matchAll(/`(\w+)` \(((?:`[\w.]+`(?:, )?)+)\)/g)].map((m) => ({ event: m[1], actions: [...m[2].matchAll(/`([\w.]+)`/g)].map((a) => a[1]) }));
    expect(listed.map((l) => l.event)).toEqual([...HOOK_EVENTS]);
    for (const { event, actions } of listed) {
      for (const action of actions) expect(hookEventOf({ event: action } as RecordedEvent), action).toBe(event);
    }
  });
});

describe('command hooks run four at a time (README: "at most four run at once")', () => {
  it('a hook without a timeout gets 30 s (README: "default 30 s"); one given keeps it', () => {
    const env = { FERRY_HOOKS: JSON.stringify([{ events: ['upload'], command: ['true'] }, { events: ['delete'], command: ['true'], timeout: '5s' }]) };
    const { resolved, problems } = resolveSettings({ env });
    expect(problems).toEqual([]);
    expect(applySettings(defaultConfig(), resolved).hooks.map((h) => h.timeoutMs)).toEqual([30_000, 5_000]);
  });

  it('a fifth waits for one of the four to end, and every one runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-hook-cap-'));
    const started = join(dir, 'started');
    const release = join(dir, 'release');
    const hook = join(dir, 'hold.sh');
    // Each run says it started, then holds until the test releases them all.
    writeFileSync(hook, `#!/bin/sh\ncat >/dev/null\necho start >> '${started}'\nwhile [ ! -e '${release}' ]; do sleep 0.05; done\necho end >> '${started}'\n`);
    chmodSync(hook, 0o755);
    const s = await startTestServer({ hooks: [{ events: ['mkdir'], command: [hook], timeoutMs: 60_000 }] });
    try {
      for (let i = 0; i < 6; i++) expect((await s.api(`/api/v1/mkdir/held-${i}`, { method: 'POST' })).status).toBe(201);
      const hooks = s.server.ctx.hooks as unknown as { active: number; queue: unknown[] };
      const lines = () => (readFileSync(started, { encoding: 'utf8', flag: 'a+' }).match(/start/g) ?? []).length;
      // Four running and held, two queued: with no cap the six would run at once.
      await expect.poll(() => [hooks.active, hooks.queue.length, lines()], { timeout: 30_000 }).toEqual([4, 2, 4]);
      writeFileSync(release, '');
      await s.server.ctx.hooks.idle();
      const log = readFileSync(started, 'utf8').trim().split('\n');
      expect(log.filter((l) => l === 'start')).toHaveLength(6);
      expect(log.filter((l) => l === 'end')).toHaveLength(6);
      // The fifth start came after an end.
      expect(log.indexOf('end')).toBeLessThan(log.lastIndexOf('start'));
      expect(log.slice(0, 4)).toEqual(['start', 'start', 'start', 'start']);
    } finally {
      writeFileSync(release, '');
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
