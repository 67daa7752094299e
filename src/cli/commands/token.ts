/** `ferry token create|ls|revoke`: API tokens for scripts, other machines, narrower rights. */
import { InvalidArgumentError, type Command } from 'commander';
import { READ_ONLY_PERMISSIONS, parsePermissions } from '../../core/permissions.js';
import type { CreateTokenRequest } from '../../core/protocol.js';
import { countOf } from '../../core/units.js';
import { addLoginOptions, durationArg, withClient, printJson, type ConnectionOpts } from '../options.js';
import { table, when } from '../table.js';
import { terminalSafe } from '../terminal-text.js';

interface TokenOpts extends ConnectionOpts {
  json?: boolean;
  quiet?: boolean;
  name?: string;
  scopes?: string;
  readOnly?: boolean;
  prefix?: string;
  expires?: number;
  user?: string;
  all?: boolean;
}

const seconds = (v: string): number => {
  const ms = durationArg(v);
  if (ms < 60_000) throw new InvalidArgumentError('--expires must be at least 1m');
  return Math.round(ms / 1000);
};

export function registerToken(program: Command): void {
  const token = program.command('token').description('API tokens: create, ls, revoke');

  const create = token
    .command('create')
    .description('make a token (shown once); it can do at most what the token you use can')
    .option('--name <name>', 'what it is for', 'ferry token')
    .option('--scopes <perms>', 'comma-separated permissions (default: all of yours)')
    .option('--read-only', 'scopes list,read')
    .option('--prefix <path>', 'only this path and below (relative to your home)')
    .option('--expires <duration>', 'lifetime (90d, 12h, ...); default: none, or your token\'s own expiry', seconds)
    .option('--user <name>', 'a token for another user (admin)')
    .option('--json', 'print the token and its facts as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ ferry token create --name backup-job --prefix /backups --expires 90d
  $ ferry token create --name viewer --read-only`,
    );
  addLoginOptions(create).action(async (opts: TokenOpts) => {
    await withClient(opts, async (client) => {
      const body: CreateTokenRequest = { name: opts.name ?? 'ferry token' };
      if (opts.readOnly) body.scopes = [...READ_ONLY_PERMISSIONS];
      else if (opts.scopes) body.scopes = parsePermissions(opts.scopes);
      if (opts.prefix) body.pathPrefix = opts.prefix;
      if (opts.expires !== undefined) body.expiresInSeconds = opts.expires;
      if (opts.user) body.user = opts.user;
      const { createToken } = await import('../../client/account.js');
      const t = await createToken(client, body);
      if (opts.json) return printJson(t);
      process.stdout.write(terminalSafe(t.token) + '\n');
      process.stderr.write(`token ${terminalSafe(t.id)} for ${terminalSafe(t.userName)}: ${terminalSafe(t.scopes.join(','))}${t.pathPrefix ? ` under ${terminalSafe(t.pathPrefix)}` : ''}${t.expiresAt ? `, expires ${when(t.expiresAt)}` : ''} (shown once)\n`);
    });
  });

  const ls = token
    .command('ls')
    .description('your tokens (never their secrets)')
    .option('--all', "everyone's (admin)")
    .option('--user <name>', "one user's (admin)")
    .option('--json', 'JSON output');
  addLoginOptions(ls).action(async (opts: TokenOpts) => {
    await withClient(opts, async (client) => {
      const { listTokens } = await import('../../client/account.js');
      const list = await listTokens(client, { all: opts.all, user: opts.user });
      if (opts.json) return printJson(list);
      process.stdout.write(
        table(
          ['ID', 'USER', 'NAME', 'SCOPES', 'PREFIX', 'EXPIRES', 'LAST USED', 'STATE'],
          list.map((t) => [t.id, t.userName, t.name, t.scopes.join(','), t.pathPrefix ?? '-', when(t.expiresAt), when(t.lastUsedAt), t.revokedAt ? 'revoked' : t.expiresAt !== null && t.expiresAt <= Date.now() ? 'expired' : 'active']),
        ),
      );
    });
  });

  const revoke = token
    .command('revoke')
    .description('revoke a token, and the share links it made: refused from the next request on')
    .argument('<id>')
    .option('--keep-shares', 'keep the share links the token made working (revoke the token again without it to take them)')
    .option('--json', 'print {revoked: ID, sharesRevoked: N} as JSON (N: the links that went with it; null from a server that does not revoke them)')
    .option('-q, --quiet', 'print nothing but errors')
    .addHelpText(
      'after',
      `
A leaked token's links are its way out: they go with it. Links made before the server
recorded which token made them stay (MADE WITH "-" in ferry share ls, which shows what made each).`,
    );
  addLoginOptions(revoke).action(async (id: string, opts: TokenOpts & { keepShares?: boolean }) => {
    await withClient(opts, async (client) => {
      const { revokeToken } = await import('../../client/account.js');
      const { sharesRevoked } = await revokeToken(client, id, { keepShares: opts.keepShares });
      if (opts.json) return printJson({ revoked: id, sharesRevoked: sharesRevoked ?? null });
      if (opts.quiet) return;
      const links = sharesRevoked === undefined ? ' (this server keeps the links it made)' : opts.keepShares ? '; its share links kept' : ` and ${countOf(sharesRevoked, 'share link')} it made`;
      process.stderr.write(`revoked ${id}${links}\n`);
    });
  });
}
