/** `ferry whoami` (who the saved or given credentials are, on which server) and `ferry logout`. */
import type { Command } from 'commander';
import { addConnectionOptions, printJson, withClient, type ConnectionOpts } from '../options.js';
import { formatTime } from '../format.js';

export function registerWhoami(program: Command): void {
  const cmd = program
    .command('whoami')
    .description('show the server, the user, the token (its id, scopes, expiry) that commands use')
    .option('--json', 'print {server, user, role, home, tokenId, scopes, pathPrefix, expiresAt} as JSON');
  addConnectionOptions(cmd).addHelpText(
    'after',
    `
Examples:
  $ ferry whoami
  $ ferry whoami --server https://work.example:7373 --json`,
  );
  cmd.action(async (opts: ConnectionOpts & { json?: boolean }) => {
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
      process.stdout.write(lines.map(([k, v]) => `${(k + ':').padEnd(9)}${v}`).join('\n') + '\n');
    });
  });
}

export function registerLogout(program: Command): void {
  const cmd = program
    .command('logout')
    .description('forget the saved token (server and trust settings stay); --revoke also revokes it on the server')
    .option('--revoke', 'revoke the token on the server first, so that no copy of it works either')
    .addHelpText(
      'after',
      `
Examples:
  $ ferry logout
  $ ferry logout --revoke`,
    );
  cmd.action(async (opts: { revoke?: boolean }) => {
    const { configPath, readConfigFile, writeConfigFile } = await import('../../client/config.js');
    const file = configPath();
    const saved = await readConfigFile(file);
    if (saved.token === undefined) {
      process.stderr.write(`not logged in (no token in ${file})\n`);
      return;
    }
    if (opts.revoke) {
      await withClient({ server: saved.server, token: saved.token }, async (client) => {
        const { me, revokeToken } = await import('../../client/account-api.js');
        await revokeToken(client, (await me(client)).tokenId);
      });
    }
    await writeConfigFile(file, { ...saved, token: undefined });
    process.stderr.write(`logged out${opts.revoke ? ' (token revoked)' : ''}: the token is no longer in ${file}\n`);
  });
}
