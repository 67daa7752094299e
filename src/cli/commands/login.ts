/**
 * `ferry login URL`: with a user name and password (asked for, never echoed) the server makes
 * an API token for this CLI; or with an existing `--token`. Either way the token is checked,
 * then saved with the server's URL and how to trust its certificate (`--ca`, `--fingerprint`)
 * in the config file (mode 0600).
 */
import { resolve as resolvePath } from 'node:path';
import type { Command } from 'commander';
import { configPath, normalizeServerUrl, writeConfigFile } from '../../client/config.js';
import { UsageError, isFerryError } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import { printJson } from '../options.js';
import { closePrompts, promptLine, promptSecret, stdinLine } from '../prompt.js';

interface LoginOpts {
  token?: string;
  user?: string;
  passwordStdin?: boolean;
  ca?: string;
  fingerprint?: string;
  tokenName?: string;
  expires?: string;
  json?: boolean;
  quiet?: boolean;
}

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('log in to a server (user and password, or a token) and save it to the config file (mode 0600)')
    .argument('<url>', 'server URL, e.g. https://nas.local:7373')
    .option('-u, --user <name>', 'user name (asked for when neither it nor --token is given)')
    .option('--password-stdin', 'read the password from the first line of stdin instead of asking')
    .option('--token <token>', 'use an existing token instead of a password; `-` reads it from stdin (default: FERRY_TOKEN)')
    .option('--ca <file>', "trust this CA (PEM) for https, e.g. a self-signed server's DATA/tls/ca.crt; saved")
    .option('--fingerprint <sha256>', 'trust exactly the certificate with this SHA-256 fingerprint (as `ferry serve` prints it); saved')
    .option('--token-name <name>', 'name of the token a password login creates (default: ferry login on HOST)')
    .option('--expires <duration>', 'lifetime of the token a password login creates (default 90d, at most 1y)')
    .option('--json', 'print {server, user, tokenId, config} on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .addHelpText(
      'after',
      `
The config file is $FERRY_CONFIG, else $XDG_CONFIG_HOME/ferry/config.json, else
~/.config/ferry/config.json. FERRY_SERVER and FERRY_TOKEN override it.

Examples:
  $ ferry login https://files.example.com              (asks for user and password)
  $ ferry login https://nas.local:7373 --fingerprint SHA256:4F:1A:…
  $ ferry login https://nas.local:7373 --ca ./nas-ca.crt -u ana
  $ ferry login http://127.0.0.1:7373 --token "$TOKEN"
  $ pass show ferry | ferry login https://files.example.com -u ana --password-stdin`,
    )
    .action(async (url: string, opts: LoginOpts) => {
      const server = normalizeServerUrl(url);
      const { FerryClient, readCaFile } = await import('../../client/client.js');
      const { normalizeFingerprint } = await import('../../client/tls.js');
      const fingerprint = opts.fingerprint === undefined ? undefined : normalizeFingerprint(opts.fingerprint);
      const caFile = opts.ca === undefined ? undefined : resolvePath(opts.ca);
      const ca = caFile === undefined ? undefined : await readCaFile(caFile);
      if (fingerprint && !server.startsWith('https:')) throw new UsageError('--fingerprint needs an https:// server URL');

      let token = opts.token ?? (opts.user === undefined ? process.env.FERRY_TOKEN : undefined);
      let tokenId: string | undefined;
      try {
        if (token === '-') token = process.stdin.isTTY ? await promptSecret('Token: ') : await stdinLine('token');
        if (!token) {
          const { loginWithPassword } = await import('../../client/account.js');
          const user = opts.user ?? (await promptLine('User: '));
          if (!user) throw new UsageError('a user name is needed (or --token T)');
          const password = opts.passwordStdin ? await stdinLine('password') : await promptSecret(`Password for ${user}: `);
          const expiresInSeconds = opts.expires === undefined ? undefined : Math.round(parseDuration(opts.expires) / 1000);
          const created = await loginWithPassword({ server, user, password, ca, fingerprint, tokenName: opts.tokenName ?? `ferry login on ${(await import('node:os')).hostname()}`, expiresInSeconds });
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
        await writeConfigFile(file, { server, token, ca: caFile, fingerprint });
        if (opts.json) printJson({ server, version: caps.version, user: who.user, tokenId: tokenId ?? who.tokenId, config: file });
        else if (!opts.quiet) process.stderr.write(`logged in to ${server} as ${who.user} (ferry ${caps.version}); saved to ${file}\n`);
      } catch (err) {
        throw await explainTls(err, server, fingerprint, ca);
      } finally {
        await client.close();
      }
    });
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
