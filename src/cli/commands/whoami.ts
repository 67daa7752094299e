/** `ferry whoami` (who the saved or given credentials are, on which server) and `ferry logout`. */
import type { Command } from 'commander';
import { addConnectionOptions, addLoginOptions, printJson, savedLogin, withClient, type ConnectionOpts } from '../options.js';
import { formatTime } from '../format.js';
import { UsageError } from '../../core/errors.js';
import type { SavedServer } from '../../client/config.js';
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

export function registerLogout(program: Command): void {
  const cmd = program
    .command('logout')
    .description('forget the saved token (server and trust settings stay, unless --forget); --revoke also revokes it on the server')
    .option('--name <name>', 'the server saved under this name by ferry login --name (default: the default server)')
    .option('--revoke', 'revoke the token on the server first, so that no copy of it works either')
    .option('--forget', 'forget the saved server too (its URL and trust settings), not only its token')
    .option('--json', 'print {name, loggedOut, revoked, forgotten, file} as JSON (loggedOut: false when no token was saved)')
    .addHelpText(
      'after',
      `
Examples:
  $ ferry logout
  $ ferry logout --revoke
  $ ferry logout --name work --forget`,
    );
  cmd.action(async (opts: { revoke?: boolean; name?: string; forget?: boolean; json?: boolean }) => {
    const { writeConfigFile, configPath, readConfigFile, DEFAULT_SERVER_NAME } = await import('../../client/config.js');
    const name = opts.name ?? DEFAULT_SERVER_NAME;
    const file = configPath();
    const config = await readConfigFile(file);
    // No default server saved is "not logged in", not an error; an unknown name is one.
    const saved = name === DEFAULT_SERVER_NAME && !config.server ? undefined : (await savedLogin(name)).saved;
    const loggedIn = saved?.token !== undefined;
    const report = (done: { loggedOut: boolean; revoked: boolean; forgotten: boolean }) => printJson({ name, ...done, file });
    if (!loggedIn && !opts.forget) {
      if (opts.json) return report({ loggedOut: false, revoked: false, forgotten: false });
      process.stderr.write(`not logged in${name === DEFAULT_SERVER_NAME ? '' : ` as ${name}`} (no token in ${file})\n`);
      return;
    }
    if (opts.revoke && saved?.token !== undefined) {
      await withClient({ server: saved.server, token: saved.token }, async (client) => {
        const { me, revokeToken } = await import('../../client/account-api.js');
        await revokeToken(client, (await me(client)).tokenId);
      });
    }
    const kept: SavedServer | undefined = opts.forget || !saved ? undefined : { server: saved.server, ca: saved.ca, fingerprint: saved.fingerprint };
    if (name === DEFAULT_SERVER_NAME) {
      await writeConfigFile(file, { ...config, server: kept?.server, token: undefined, ca: kept?.ca, fingerprint: kept?.fingerprint });
    } else {
      const servers = { ...config.servers };
      if (kept) servers[name] = kept;
      else delete servers[name];
      await writeConfigFile(file, { ...config, servers });
    }
    if (opts.json) return report({ loggedOut: loggedIn, revoked: opts.revoke === true && loggedIn, forgotten: opts.forget === true });
    const what = opts.forget ? `${name === DEFAULT_SERVER_NAME ? 'the default server' : name} and its token are` : 'the token is';
    process.stderr.write(`logged out${opts.revoke ? ' (token revoked)' : ''}: ${what} no longer in ${file}\n`);
  });
}
