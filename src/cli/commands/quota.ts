/** `ferry quota [USER]`: usage against the quota and limits (your own, or a user's as admin). */
import { formatSize } from '../../core/units.js';
import type { Command } from 'commander';
import { addLoginOptions, withClient, printJson, type ConnectionOpts } from '../options.js';

interface QuotaOpts extends ConnectionOpts {
  json?: boolean;
}

function line(used: number, quota: number | null, fmt: (n: number) => string): string {
  if (quota === null) return `${fmt(used)} (no quota)`;
  const pct = quota === 0 ? 100 : Math.round((used / quota) * 1000) / 10;
  return `${fmt(used)} of ${fmt(quota)} (${pct}%)`;
}

export function registerQuota(program: Command): void {
  const cmd = program
    .command('quota')
    .description('show storage used against the quota: logical bytes (dedup does not lower them) and files')
    .argument('[user]', "another user's (admin)")
    .option('--json', 'JSON output');
  addLoginOptions(cmd).action(async (user: string | undefined, opts: QuotaOpts) => {
    await withClient(opts, async (client) => {
      const account = await import('../../client/account.js');
      let out: { user: string; usage: { bytes: number; files: number }; limits: { quotaBytes: number | null; quotaFiles: number | null; maxFileSize: number | null; maxSessions: number | null }; uploadSessions?: number };
      if (user === undefined) {
        const m = await account.me(client);
        out = { user: m.user, usage: m.usage, limits: m.limits, uploadSessions: m.uploadSessions };
      } else {
        const u = await account.getUser(client, user);
        out = { user: u.name, usage: u.usage, limits: u.limits, uploadSessions: u.uploadSessions };
      }
      if (opts.json) return printJson(out);
      process.stdout.write(
        [
          `user:     ${out.user}`,
          `bytes:    ${line(out.usage.bytes, out.limits.quotaBytes, formatSize)}`,
          `files:    ${line(out.usage.files, out.limits.quotaFiles, String)}`,
          `max file: ${out.limits.maxFileSize === null ? 'no limit' : formatSize(out.limits.maxFileSize)}`,
          ...(out.uploadSessions !== undefined ? [`uploads:  ${out.uploadSessions} open${out.limits.maxSessions === null ? '' : ` of ${out.limits.maxSessions}`}`] : []),
        ].join('\n') + '\n',
      );
    });
  });
}
