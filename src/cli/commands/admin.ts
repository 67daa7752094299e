/** `ferry admin audit|bans|unban`: the security side of running a server (admin token). */
import { InvalidArgumentError, type Command } from 'commander';
import { parseDuration } from '../../core/units.js';
import { addLoginOptions, withClient, printJson, type ConnectionOpts } from '../options.js';
import { table, when } from '../table.js';
import { registerWebhook } from './admin-webhook.js';
import { registerMaintenance } from './admin-maintenance.js';
import { registerKeys } from './admin-keys.js';

interface AuditOpts extends ConnectionOpts {
  json?: boolean;
  since?: number;
  user?: string;
  event?: string;
  path?: string;
  limit?: number;
}

/** `24h` (that long ago) or an ISO date/time -> ms since the epoch. */
export function parseSince(text: string, now = Date.now()): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (Number.isNaN(t)) throw new InvalidArgumentError(`not a date: ${text}`);
    return t;
  }
  try {
    return now - parseDuration(text);
  } catch {
    throw new InvalidArgumentError(`--since wants a duration (24h, 7d) or a date (2026-11-01), not ${JSON.stringify(text)}`);
  }
}

/**
 * Names an operator reaches for under `ferry admin` whose command lives elsewhere: the
 * unknown-command error names the right one (commander's own suggestion only finds names a
 * letter or two off, as `stat` for `stats`).
 */
const ADMIN_ELSEWHERE: Readonly<Record<string, string>> = {
  user: 'ferry user',
  users: 'ferry user ls',
  token: 'ferry token',
  tokens: 'ferry token ls',
  share: 'ferry share',
  shares: 'ferry share ls',
  verify: 'ferry admin check',
  fsck: 'ferry admin check',
  quota: 'ferry quota USER',
};

function pointElsewhere(admin: Command): void {
  admin.on('command:*', (operands: string[]) => {
    const meant = ADMIN_ELSEWHERE[operands[0] ?? ''];
    // With a listener commander leaves every unknown name to it: the others get its own error.
    if (meant === undefined) (admin as unknown as { unknownCommand(): never }).unknownCommand();
    admin.error(`error: unknown command '${operands[0]}' (did you mean ${meant}?)`, { code: 'commander.unknownCommand' });
  });
}

export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('server administration: audit, bans, unban, stats, gc, uploads, webhook, backup, restore, check, migrate, keygen and rekey (encryption keys)');
  registerWebhook(admin);
  registerMaintenance(admin);
  registerKeys(admin);
  pointElsewhere(admin);

  const audit = admin
    .command('audit')
    .description('the audit log of security events, newest first')
    .option('--since <when>', 'events since a duration ago (24h, 7d) or a date (2026-11-01)', (v: string) => parseSince(v))
    .option('--user <name>', "one user's events")
    .option('--path <path>', 'file operations on this path or below it (a server path: /home/ana/x)')
    .option('--event <name>', 'one kind of event (upload and download stand for file.upload, file.download, ...), or a prefix ending in "." (auth.)')
    .option('--limit <n>', 'at most this many (default 1000)', (v: string) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError('--limit is 1 to 10000');
      return n;
    })
    .option('--json', 'one JSON object per line (JSON Lines)')
    .addHelpText(
      'after',
      `
Events: auth.failure auth.login auth.session auth.refresh auth.logout access.denied
defender.ban defender.unban token.create token.revoke user.create user.update user.delete
user.password user.grant share.create share.revoke share.use share.password-failure
share.unknown file.upload file.download file.delete file.move file.copy file.restore
file.expire file.quarantine quota.exceeded lock.break webhook.create webhook.delete
File events carry the path, the user, the token, the address and the way in (FRONT:
api, web, sftp, webdav, tus, share). A download is recorded once per transfer (whole,
ranged or chunk by chunk), not once per request.

Examples:
  $ ferry admin audit --path /home/ana/report.pdf --event download
  $ ferry admin audit --since 24h
  $ ferry admin audit --user ana --event auth. --json | jq .`,
    );
  addLoginOptions(audit).action(async (opts: AuditOpts) => {
    await withClient(opts, async (client) => {
      const { auditLog } = await import('../../client/account.js');
      const want = opts.limit ?? 1000;
      const entries = [];
      let before: number | undefined;
      while (entries.length < want) {
        const page = await auditLog(client, { since: opts.since, user: opts.user, event: opts.event, path: opts.path, before, limit: Math.min(1000, want - entries.length) });
        entries.push(...page.entries);
        if (page.next === undefined) break;
        before = page.next;
      }
      if (opts.json) {
        for (const e of entries) printJson(e);
        return;
      }
      if (entries.length === 0) return void process.stderr.write('no audit entries match\n');
      process.stdout.write(
        table(
          ['TIME', 'EVENT', 'OK', 'USER', 'TOKEN', 'ADDRESS', 'FRONT', 'TARGET', 'DETAILS'],
          entries.map((e) => [new Date(e.at).toISOString().replace('T', ' ').slice(0, 19), e.event, e.ok ? 'yes' : 'NO', e.user ?? '-', e.tokenId ?? '-', e.ip ?? '-', e.front ?? '-', e.path ?? e.target ?? '-', e.details ? JSON.stringify(e.details) : '']),
        ),
      );
    });
  });

  const bans = admin.command('bans').description('addresses the defender bans now').option('--json', 'JSON output');
  addLoginOptions(bans).action(async (opts: AuditOpts) => {
    await withClient(opts, async (client) => {
      const account = await import('../../client/account.js');
      const list = await account.bans(client);
      if (opts.json) return printJson(list);
      if (list.length === 0) return void process.stderr.write('no address is banned\n');
      process.stdout.write(table(['ADDRESS', 'UNTIL'], list.map((b) => [b.ip, when(b.until)])));
    });
  });

  const unban = admin.command('unban').description('lift a ban at once').argument('<address>').option('--json', 'print {unbanned: ADDRESS} as JSON');
  addLoginOptions(unban).action(async (ip: string, opts: AuditOpts) => {
    await withClient(opts, async (client) => {
      const account = await import('../../client/account.js');
      await account.unban(client, ip);
      if (opts.json) return printJson({ unbanned: ip });
      process.stderr.write(`unbanned ${ip}\n`);
    });
  });
}
