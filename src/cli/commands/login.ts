/**
 * `ferry login URL`: with a user name and password (asked for, never echoed) the server makes
 * an API token for this CLI; or with an existing token (`--token`, or read from stdin when
 * stdin is not a terminal, or asked for without echo: it never needs to be on the command
 * line). Either way the token is checked, then saved with the server's URL and how to trust
 * its certificate (`--ca`, `--fingerprint`) in the config file (mode 0600): as the default
 * server (`ferry:`) or, with `--name work`, as another saved server (`work:`). A saved token
 * is only ever sent to the server it was saved with (./../../client/config.ts).
 */
import { resolve as resolvePath } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_SERVER_NAME, SERVER_NAME, configPath, normalizeServerUrl, readConfigFile, writeConfigFile, type SavedServer } from '../../client/config.js';
import { UsageError, isFerryError } from '../../core/errors.js';
import { durationArg, printJson } from '../options.js';
import { closePrompts, promptLine, promptSecret, stdinLine } from '../prompt.js';
import { terminalSafe } from '../terminal-text.js';

interface LoginOpts {
  token?: string;
  user?: string;
  passwordStdin?: boolean;
  ca?: string;
  fingerprint?: string;
  tokenName?: string;
  expires?: number;
  json?: boolean;
  quiet?: boolean;
  name?: string;
}

/** The server keeps a login's token a year at most (src/server/routes/auth.ts). */
const MAX_LOGIN_DAYS = 365;

/**
 * --expires in whole seconds, checked before the password is asked for: the server's refusal
 * came after it, naming its field ("expiresInSeconds may be at most 31536000"), not the flag.
 */
function loginExpirySeconds(v: string): number {
  const ms = durationArg(v);
  if (ms < 1000) throw new InvalidArgumentError('--expires must be at least 1s (leave it out for the default, 90d)');
  if (ms > MAX_LOGIN_DAYS * 86_400_000) throw new InvalidArgumentError(`--expires may be at most ${MAX_LOGIN_DAYS}d (a login's token lives a year at most)`);
  return Math.round(ms / 1000);
}

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('log in to a server (user and password, or a token) and save it to the config file (mode 0600)')
    .argument('<url>', 'server URL, e.g. https://nas.local:7373')
    .option('-u, --user <name>', 'user name (asked for when neither it nor --token is given)')
    .option('--password-stdin', 'read the password from the first line of stdin instead of asking')
    .option('--token <token>', 'use an existing token instead of a password; `-` reads it from stdin (default: FERRY_TOKEN; without -u, read from stdin or asked for)')
    .option('--name <name>', `save this server under a name (used as NAME:/path) instead of as the default one (${DEFAULT_SERVER_NAME}:)`)
    .option('--ca <file>', "trust this CA (PEM) for https, e.g. a self-signed server's DATA/tls/ca.crt; saved")
    .option('--fingerprint <sha256>', 'trust exactly the certificate with this SHA-256 fingerprint (as `ferry serve` prints it); saved')
    .option('--token-name <name>', 'name of the token a password login creates (default: ferry login on HOST)')
    .option('--expires <duration>', 'lifetime of the token a password login creates (default 90d, at most 1y)', loginExpirySeconds)
    .option('--json', 'print {server, name, version, user, tokenId, config} on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .addHelpText(
      'after',
      `
The config file is $FERRY_CONFIG, else $XDG_CONFIG_HOME/ferry/config.json, else
~/.config/ferry/config.json. FERRY_SERVER and FERRY_TOKEN override it. Without -u or
--token, a token is read from stdin when stdin is not a terminal; on a terminal you are
asked for a user name, or (leave it empty) for a token, typed without echo. A saved token
is only ever sent to the server it was saved with: another server needs its own login.

Examples:
  $ ferry login https://files.example.com              (asks for user and password)
  $ ferry login https://work.example:7373 --name work  (then: ferry ls work:/)
  $ pass show ferry-token | ferry login https://files.example.com
  $ ferry login https://nas.local:7373 --fingerprint SHA256:4F:1A:…
  $ ferry login https://nas.local:7373 --ca ./nas-ca.crt -u ana
  $ ferry login http://127.0.0.1:7373 --token "$TOKEN"
  $ pass show ferry | ferry login https://files.example.com -u ana --password-stdin`,
    )
    .action(async (url: string, opts: LoginOpts) => {
      const server = normalizeServerUrl(url);
      const name = opts.name ?? DEFAULT_SERVER_NAME;
      await checkServerName(name);
      const { FerryClient, readCaFile } = await import('../../client/client.js');
      const { normalizeFingerprint } = await import('../../client/tls.js');
      const fingerprint = opts.fingerprint === undefined ? undefined : normalizeFingerprint(opts.fingerprint);
      const caFile = opts.ca === undefined ? undefined : resolvePath(opts.ca);
      const ca = caFile === undefined ? undefined : await readCaFile(caFile);
      if (fingerprint && !server.startsWith('https:')) throw new UsageError('--fingerprint needs an https:// server URL');

      let token: string | undefined;
      let tokenId: string | undefined;
      try {
        token = await givenToken(opts);
        if (!token) {
          const { loginWithPassword } = await import('../../client/account.js');
          const user = opts.user!;
          const password = opts.passwordStdin ? await stdinLine('password') : await promptSecret(`Password for ${user}: `);
          const created = await loginWithPassword({ server, user, password, ca, fingerprint, tokenName: opts.tokenName ?? `ferry login on ${(await import('node:os')).hostname()}`, expiresInSeconds: opts.expires });
          token = created.token;
          tokenId = created.id;
        }
      } catch (err) {
        throw await explainTls(err, server, fingerprint, ca);
      } finally {
        closePrompts();
      }

      const client = new FerryClient({ server, token, tokenSource: opts.token ? '--token' : 'login', ca, fingerprint, retry: { retries: 2, baseMs: 200, capMs: 2000, maxRetryAfterMs: 5000 } });
      try {
        const caps = await client.capabilities();
        const { me } = await import('../../client/account.js');
        const who = await me(client); // proves the token is accepted
        const file = configPath();
        await saveLogin(file, name, { server, token, ca: caFile, fingerprint, madeByLogin: tokenId !== undefined || undefined });
        const as = name === DEFAULT_SERVER_NAME ? '' : ` as ${name}: (use ${name}:/path)`;
        if (opts.json) printJson({ server, name, version: caps.version, user: who.user, tokenId: tokenId ?? who.tokenId, config: file });
        else if (!opts.quiet) process.stderr.write(`logged in to ${server} as ${terminalSafe(who.user)} (ferry ${terminalSafe(caps.version)}); saved${as} to ${file}\n`);
      } catch (err) {
        throw await explainTls(err, server, fingerprint, ca);
      } finally {
        await client.close();
      }
    });
}

/**
 * The token to log in with, if not a password login: --token (`-`: stdin or a prompt),
 * FERRY_TOKEN, or, with no -u either, stdin when it is not a terminal, else a prompt that
 * asks for a user name and, when that is left empty, for a token without echo. Sets
 * `opts.user` when a password login is to follow.
 */
async function givenToken(opts: LoginOpts): Promise<string | undefined> {
  if (opts.token === '-') return process.stdin.isTTY ? promptSecret('Token: ') : stdinLine('token');
  if (opts.token) return opts.token;
  if (opts.user !== undefined) return undefined;
  if (opts.passwordStdin) throw new UsageError('--password-stdin needs -u NAME (the password of which user?)');
  if (process.env.FERRY_TOKEN) return process.env.FERRY_TOKEN;
  if (!process.stdin.isTTY) {
    const line = (await stdinLine('token', 'without -u, and with stdin not a terminal, login reads a token from it (ferry login URL --token - < FILE); give -u NAME for a password login')).trim();
    if (!line) throw new UsageError('stdin holds an empty line, not a token (or use -u NAME for a password login)');
    return line;
  }
  const user = (await promptLine('User (leave empty to paste a token instead): ')).trim();
  if (user) {
    opts.user = user;
    return undefined;
  }
  const token = (await promptSecret('Token: ')).trim();
  if (!token) throw new UsageError('no token given');
  return token;
}

/** A name for `--name`: `ferry` (the default) or a name no remote, backend type or command uses. */
async function checkServerName(name: string): Promise<void> {
  if (name === DEFAULT_SERVER_NAME) return;
  if (!SERVER_NAME.test(name)) throw new UsageError(`${JSON.stringify(name)} cannot name a server: use a letter, then letters, digits, '_' or '-' (2 to 64)`);
  const { defaultRegistry } = await import('../../remotes/index.js');
  defaultRegistry.checkRemoteName(name); // not a backend type
  const { readRemotes, remotesPath } = await import('../../backends/remotes.js');
  if (Object.hasOwn(await readRemotes(remotesPath()), name)) throw new UsageError(`${JSON.stringify(name)} already names a remote (ferry remote ls): choose another --name`);
}

/** Saves the login as the default server or under its name, keeping the other saved servers. */
async function saveLogin(file: string, name: string, login: SavedServer): Promise<void> {
  const config = await readConfigFile(file);
  if (name === DEFAULT_SERVER_NAME) await writeConfigFile(file, { ...config, ...login });
  else await writeConfigFile(file, { ...config, servers: { ...config.servers, [name]: login } });
}

/**
 * An untrusted certificate at login, with nothing pinned yet: show the fingerprint the
 * server presented, so the user can compare it with what `ferry serve` printed.
 */
async function explainTls(err: unknown, server: string, fingerprint: string | undefined, ca: string | undefined): Promise<unknown> {
  if (!isFerryError(err, 'FERRY_ERR_TLS_UNTRUSTED') || fingerprint || ca) return err;
  const { peekFingerprint } = await import('../../client/tls.js');
  const seen = await peekFingerprint(server).catch(() => undefined);
  if (!seen) return err;
  const { TlsUntrustedError } = await import('../../core/errors.js');
  return new TlsUntrustedError(`${err.message}. The server presents ${seen}: if that is what \`ferry serve\` printed, run again with --fingerprint ${seen}`, { cause: err, details: { ...err.details, presented: seen } });
}
