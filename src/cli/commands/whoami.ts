/** `ferry whoami` (who the saved or given credentials are, on which server) and `ferry logout`. */
import type { Command } from 'commander';
import { addConnectionOptions, printJson, withClient, type ConnectionOpts } from '../options.js';
import { formatTime } from '../format.js';
import { ConfigError, UsageError } from '../../core/errors.js';
import type { ConfigFile, SavedServer } from '../../client/config.js';

/** The saved server called `name` (`ferry` is the default one); FERRY_ERR_CONFIG naming the saved ones when there is none. */
async function savedServerNamed(name: string): Promise<{ file: string; config: ConfigFile; saved: SavedServer }> {
  const { configPath, readConfigFile, savedServers } = await import('../../client/config.js');
  const file = configPath();
  const config = await readConfigFile(file);
  const all = savedServers(config);
  const saved = all.find((s) => s.name === name);
  if (!saved) {
    const names = all.map((s) => s.name).join(', ') || 'none';
    throw new ConfigError(`no server saved as ${JSON.stringify(name)} in ${file} (saved: ${names}); ferry login URL --name ${name} saves one`);
  }
  return { file, config, saved };
}

export function registerWhoami(program: Command): void {
  const cmd = program
    .command('whoami')
    .description('show the server, the user, the token (its id, scopes, expiry) that commands use')
    .option('--name <name>', 'the server saved under this name by ferry login --name (default: the default server, or --server)')
    .option('--json', 'print {server, user, role, home, tokenId, scopes, pathPrefix, expiresAt} as JSON');
  addConnectionOptions(cmd).addHelpText(
    'after',
    `
Examples:
  $ ferry whoami
  $ ferry whoami --name work
  $ ferry whoami --server https://work.example:7373 --json`,
  );
  cmd.action(async (opts: ConnectionOpts & { json?: boolean; name?: string }) => {
    if (opts.name !== undefined) {
      if (opts.server !== undefined) throw new UsageError('--name and --server both name a server: give one');
      // The token saved under that name, not the first one saved for its URL (one server, two logins).
      const { saved } = await savedServerNamed(opts.name);
      if (opts.token === undefined && saved.token === undefined && opts.name !== 'ferry') throw (await import('../../client/config.js')).loggedOutLogin(opts.name, saved.server);
      opts = { ...opts, server: saved.server, token: opts.token ?? saved.token };
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
      process.stdout.write(lines.map(([k, v]) => `${(k + ':').padEnd(9)}${v}`).join('\n') + '\n');
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
    const saved = name === DEFAULT_SERVER_NAME && !config.server ? undefined : (await savedServerNamed(name)).saved;
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
