/** `ferry admin webhook add|ls|rm|log`: webhooks and their delivery log (admin token). */
import { InvalidArgumentError, type Command } from 'commander';
import { addLoginOptions, withClient, printJson, type ConnectionOpts } from '../options.js';
import { table, when } from '../table.js';
import { terminalSafe } from '../terminal-text.js';

interface WebhookOpts extends ConnectionOpts {
  events?: string[];
  secret?: string;
  json?: boolean;
  limit?: number;
}

const EVENTS = 'upload, download, delete, move, copy, mkdir, share, login, quota';

export function registerWebhook(admin: Command): void {
  const webhook = admin.command('webhook').description('webhooks: HTTP POSTs signed with HMAC-SHA256 on file and account events');

  const add = webhook
    .command('add')
    .argument('<url>', 'http(s) URL that receives the events')
    .description('add a webhook; prints its id and signing secret (shown once)')
    .requiredOption('--events <list>', `comma-separated: ${EVENTS}`, (v: string) => v.split(',').map((e) => e.trim()).filter(Boolean))
    .option('--secret <secret>', 'signing secret (16+ characters; default: generated)', (v: string) => {
      // The server's own refusal names its JSON field ("body/secret"), not this option.
      if (v.length < 16) throw new InvalidArgumentError(`the signing secret must be 16 characters or more, not ${v.length} (openssl rand -hex 16 makes one)`);
      return v;
    })
    .option('--json', 'JSON output')
    .addHelpText(
      'after',
      `
Each event is POSTed as JSON with the headers X-Ferry-Event, X-Ferry-Delivery and
X-Ferry-Signature-256: sha256=<hex HMAC-SHA256 of the body with the secret>. A receiver
answers 2xx; anything else is retried with backoff, in order per file.

Examples:
  $ ferry admin webhook add https://hooks.example.com/ferry --events upload,delete
  $ ferry admin webhook add http://127.0.0.1:9000/in --events login,quota --secret "$SECRET"`,
    );
  addLoginOptions(add).action(async (url: string, opts: WebhookOpts) => {
    await withClient(opts, async (client) => {
      const { addWebhook } = await import('../../client/admin.js');
      const hook = await addWebhook(client, { url, events: opts.events ?? [], ...(opts.secret !== undefined ? { secret: opts.secret } : {}) });
      if (opts.json) return printJson(hook);
      process.stdout.write(`${terminalSafe(hook.id)}\n`);
      process.stderr.write(terminalSafe(`webhook ${hook.id} -> ${hook.url} (${hook.events.join(', ')})`) + `\nsigning secret (shown once): ${terminalSafe(hook.secret)}\n`);
    });
  });

  const ls = webhook.command('ls').description('list webhooks').option('--json', 'JSON output').addHelpText('after', '\nExample:\n  $ ferry admin webhook ls');
  addLoginOptions(ls).action(async (opts: WebhookOpts) => {
    await withClient(opts, async (client) => {
      const { listWebhooks } = await import('../../client/admin.js');
      const hooks = await listWebhooks(client);
      if (opts.json) return printJson(hooks);
      if (hooks.length === 0) return void process.stderr.write('no webhooks (ferry admin webhook add URL --events upload,… adds one)\n');
      process.stdout.write(table(['ID', 'URL', 'EVENTS', 'CREATED'], hooks.map((h) => [h.id, h.url, h.events.join(','), when(h.createdAt)])));
    });
  });

  const rm = webhook
    .command('rm')
    .argument('<id>')
    .description('remove a webhook and its pending deliveries')
    .option('--json', 'print {removed: ID} as JSON')
    .addHelpText('after', '\nExample:\n  $ ferry admin webhook rm wh_0123456789abcdef');
  addLoginOptions(rm).action(async (id: string, opts: WebhookOpts) => {
    await withClient(opts, async (client) => {
      const { removeWebhook } = await import('../../client/admin.js');
      await removeWebhook(client, id);
      if (opts.json) return printJson({ removed: id });
      process.stderr.write(`removed ${id}\n`);
    });
  });

  const log = webhook
    .command('log')
    .argument('[id]', 'one webhook (default: all)')
    .description('the delivery log, newest first: status, attempts, last answer')
    .option('--limit <n>', 'at most this many (default 100)', (v: string) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError('--limit is 1 to 10000');
      return n;
    })
    .option('--json', 'one JSON object per line, with the payload')
    .addHelpText('after', '\nExamples:\n  $ ferry admin webhook log\n  $ ferry admin webhook log wh_0123456789abcdef --json | jq .payload');
  addLoginOptions(log).action(async (id: string | undefined, opts: WebhookOpts) => {
    await withClient(opts, async (client) => {
      const { webhookLog } = await import('../../client/admin.js');
      const rows = await webhookLog(client, { webhook: id, limit: opts.limit });
      if (opts.json) {
        for (const r of rows) printJson(r);
        return;
      }
      if (rows.length === 0) return void process.stderr.write(`no deliveries${id ? ` of ${id}` : ''} yet\n`);
      process.stdout.write(
        table(
          ['ID', 'WEBHOOK', 'EVENT', 'STATUS', 'ATTEMPTS', 'LAST', 'CREATED', 'PATH'],
          rows.map((r) => [String(r.id), r.webhookId, r.event, r.status, String(r.attempts), r.lastError ?? (r.lastStatus === null ? '-' : String(r.lastStatus)), when(r.createdAt), String((r.payload as { path?: string } | null)?.path ?? '-')]),
        ),
      );
    });
  });
}
