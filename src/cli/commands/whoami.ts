/** `ferry whoami`: who the saved or given credentials are, on which server (`ferry logout` is ./logout.ts). */
import type { Command } from 'commander';
import { addLoginOptions, printJson, withClient, type ConnectionOpts } from '../options.js';
import { formatTime } from '../format.js';
import { UsageError } from '../../core/errors.js';
import { terminalSafe } from '../terminal-text.js';

export function registerWhoami(program: Command): void {
  const cmd = program
    .command('whoami')
    .description('show the server, the user, the token (its id, scopes, expiry) that commands use')
    .option('--name <name>', 'the same as --login NAME')
    .option('--json', 'print {server, user, role, home, tokenId, scopes, pathPrefix, expiresAt} as JSON');
  addLoginOptions(cmd).addHelpText(
    'after',
    `
Examples:
  $ ferry whoami
  $ ferry whoami --login work
  $ ferry whoami --server https://work.example:7373 --json`,
  );
  cmd.action(async (opts: ConnectionOpts & { json?: boolean; name?: string }) => {
    if (opts.name !== undefined) {
      if (opts.login !== undefined) throw new UsageError('--name and --login both name a login: give one');
      opts = { ...opts, login: opts.name };
    }
    await withClient(opts, async (client) => {
      const { me, listTokens } = await import('../../client/account-api.js');
      const m = await me(client);
      // A web session's token is not listed; a missing one just leaves the expiry unknown.
      const token = (await listTokens(client).catch(() => [])).find((t) => t.id === m.tokenId);
      const out = { server: client.server, user: m.user, role: m.role, home: m.home, tokenId: m.tokenId, scopes: m.scopes, pathPrefix: m.pathPrefix, expiresAt: token?.expiresAt ?? null };
      if (opts.json) return printJson(out);
      const lines: Array<[string, string]> = [
        ['server', out.server],
        ['user', `${out.user} (${out.role})`],
        ['home', out.home],
        ['token', out.tokenId],
        ['scopes', out.scopes.join(', ')],
        ['expires', out.expiresAt === null ? 'never' : formatTime(out.expiresAt)],
      ];
      if (out.pathPrefix) lines.push(['prefix', out.pathPrefix]);
      process.stdout.write(lines.map(([k, v]) => `${(k + ':').padEnd(9)}${terminalSafe(v)}`).join('\n') + '\n');
    });
  });
}
