/**
 * `ferry logout`: ends a saved login. A token that `ferry login` made from a password is
 * revoked on its server when that server answers; a token given to `ferry login` (it may
 * serve elsewhere too: a script's, the first admin token) stays valid unless `--revoke`.
 * Either way it is forgotten here, and the report says what happened on the server, so that
 * a token still valid there is never a surprise.
 */
import type { Command } from 'commander';
import { UsageError, isFerryError } from '../../core/errors.js';
import type { ConfigFile, SavedServer } from '../../client/config.js';
import { printJson } from '../options.js';
import { terminalSafe } from '../terminal-text.js';

interface LogoutOpts {
  name?: string;
  all?: boolean;
  revoke?: boolean;
  keepToken?: boolean;
  forget?: boolean;
  json?: boolean;
}

/**
 * What became of a login's token on its server: `revoked`; `invalid` (the server no longer
 * took it: revoked or expired already); `unreachable` (no answer: it still works until it
 * expires); `failed` (the server answered with another error); `kept` (--keep-token, or a
 * token given to `ferry login` rather than made by it, without --revoke); `none` (no token
 * was saved).
 */
type RevokeOutcome = 'revoked' | 'invalid' | 'unreachable' | 'failed' | 'kept' | 'none';

interface LogoutReport {
  name: string;
  server: string | null;
  loggedOut: boolean;
  revoked: boolean;
  revoke: RevokeOutcome;
  error: { code: string; message: string } | null;
  forgotten: boolean;
}

/** Answers that mean the server could not be asked at all. */
const UNREACHABLE = new Set(['FERRY_ERR_NETWORK', 'FERRY_ERR_HOST_UNKNOWN', 'FERRY_ERR_TIMEOUT', 'FERRY_ERR_TLS_MISMATCH', 'FERRY_ERR_TLS_UNTRUSTED', 'FERRY_ERR_UNAVAILABLE']);
/** Time allowed for the server's answer to the revocation: a logout should not hang on a dead server. */
const REVOKE_TIMEOUT_MS = 10_000;

export function registerLogout(program: Command): void {
  const cmd = program
    .command('logout')
    .description('end a saved login: forget its token here, and revoke it on the server if ferry login made it from a password (server and trust settings stay, unless --forget)')
    .option('--name <name>', 'the login saved under this name by ferry login --name (default: the default login)')
    .option('--all', 'every saved login')
    .option('--keep-token', 'forget the token here but do not revoke it, even one ferry login made')
    .option('--revoke', 'revoke the token on the server even if it was given to ferry login (--token), not made by it')
    .option('--forget', 'forget the saved server too (its URL and trust settings), not only its token')
    .option('--json', 'print {name, server, loggedOut, revoked, revoke, error, forgotten, file} as JSON (with --all: {file, logins: [...]})')
    .addHelpText(
      'after',
      `
A token ferry login made from your password is revoked on the server first (POST
/api/v1/auth/logout). A token you gave to ferry login (--token, or pasted) may serve
elsewhere too (a script, the first admin token ferry serve printed): it stays valid on the
server (revoke: kept) unless you add --revoke. A server that cannot be reached (or answers
with an error) does not stop the logout: the token is forgotten here, and the report says it
was not revoked (revoke: unreachable or failed, with the error), so that you can revoke it
later (ferry token ls, then ferry token revoke ID, from another login). A token the server no
longer takes (already revoked or expired) is reported as revoke: invalid.
The exit status is 0 whenever the login was forgotten here.

Examples:
  $ ferry logout
  $ ferry logout --name work --forget
  $ ferry logout --all --json`,
    );
  cmd.action(async (opts: LogoutOpts) => {
    if (opts.all && opts.name !== undefined) throw new UsageError('--all and --name both say which login: give one');
    if (opts.keepToken && opts.revoke) throw new UsageError('--keep-token and --revoke contradict each other: give one');
    const { configPath, readConfigFile, savedServers, DEFAULT_SERVER_NAME } = await import('../../client/config.js');
    const file = configPath();
    const config = await readConfigFile(file);
    const saved = savedServers(config);
    const name = opts.name ?? DEFAULT_SERVER_NAME;
    // No default login saved is "not logged in", not an error; an unknown name is one.
    if (!opts.all && name !== DEFAULT_SERVER_NAME && !saved.some((s) => s.name === name)) {
      const { savedLogin } = await import('../options.js');
      await savedLogin(name);
    }
    const targets: Array<SavedServer & { name: string }> = opts.all ? saved : saved.filter((s) => s.name === name);
    const reports: LogoutReport[] = [];
    let next = config;
    for (const login of targets) {
      const report = await logoutOne(login, opts);
      next = withoutLogin(next, login, opts.forget === true, DEFAULT_SERVER_NAME);
      reports.push(report);
    }
    if (reports.length > 0) {
      const { writeConfigFile } = await import('../../client/config.js');
      await writeConfigFile(file, next);
    }
    if (opts.all) {
      if (opts.json) return printJson({ file, logins: reports });
      if (reports.length === 0) process.stderr.write(`not logged in anywhere (no login saved in ${file})\n`);
      for (const r of reports) process.stderr.write(describe(r, file, opts.keepToken === true) + '\n');
      return;
    }
    const report = reports[0] ?? { name, server: null, loggedOut: false, revoked: false, revoke: 'none' as const, error: null, forgotten: false };
    if (opts.json) return printJson({ ...report, file });
    process.stderr.write(describe(report, file, opts.keepToken === true) + '\n');
  });
}

/** Revokes `login`'s token on its server (unless --keep-token); never throws for the server's part. */
async function logoutOne(login: SavedServer & { name: string }, opts: LogoutOpts): Promise<LogoutReport> {
  const base = { name: login.name, server: login.server, forgotten: opts.forget === true };
  if (login.token === undefined) return { ...base, loggedOut: false, revoked: false, revoke: 'none', error: null };
  if (opts.keepToken || (!opts.revoke && login.madeByLogin !== true)) return { ...base, loggedOut: true, revoked: false, revoke: 'kept', error: null };
  const { FerryClient } = await import('../../client/client.js');
  const { logout } = await import('../../client/account-api.js');
  const { DEFAULT_RETRY_POLICY } = await import('../../core/retry.js');
  let client: InstanceType<typeof FerryClient> | undefined;
  try {
    client = await FerryClient.fromConfig({
      server: login.server,
      token: login.token,
      tokenSource: `login:${login.name}`,
      ca: login.ca,
      fingerprint: login.fingerprint,
      retry: { ...DEFAULT_RETRY_POLICY, retries: 1 },
      headersTimeoutMs: REVOKE_TIMEOUT_MS,
    });
    await logout(client);
    return { ...base, loggedOut: true, revoked: true, revoke: 'revoked', error: null };
  } catch (err) {
    const error = isFerryError(err) ? { code: err.code, message: err.message } : { code: 'FERRY_ERR_INTERNAL', message: String(err) };
    const revoke: RevokeOutcome = error.code === 'FERRY_ERR_AUTH_INVALID' || error.code === 'FERRY_ERR_AUTH_REQUIRED' ? 'invalid' : UNREACHABLE.has(error.code) ? 'unreachable' : 'failed';
    return { ...base, loggedOut: true, revoked: false, revoke, error };
  } finally {
    await client?.close();
  }
}

/** `config` without `login`'s token (and without the login itself with `forget`). */
function withoutLogin(config: ConfigFile, login: { name: string }, forget: boolean, defaultName: string): ConfigFile {
  if (login.name === defaultName) {
    return forget ? { ...config, server: undefined, token: undefined, ca: undefined, fingerprint: undefined } : { ...config, token: undefined };
  }
  const servers = { ...config.servers };
  const kept = servers[login.name];
  if (forget || !kept) delete servers[login.name];
  else servers[login.name] = { server: kept.server, ca: kept.ca, fingerprint: kept.fingerprint };
  return { ...config, servers };
}

/** One line for a person: which login, what the server did with the token, what was forgotten here. */
function describe(r: LogoutReport, file: string, keepToken: boolean): string {
  const who = `${r.name}${r.server ? ` (${terminalSafe(r.server)})` : ''}`;
  const here = r.forgotten ? `the login is no longer in ${file}` : `the token is no longer in ${file}`;
  switch (r.revoke) {
    case 'none':
      return r.forgotten && r.server ? `forgot ${who}: no token was saved; ${here}` : `not logged in${r.name === 'ferry' ? '' : ` as ${r.name}`} (no token in ${file})`;
    case 'revoked':
      return `logged out of ${who}: token revoked on the server; ${here}`;
    case 'kept':
      if (keepToken) return `logged out of ${who}: token kept valid on the server (--keep-token); ${here}`;
      return `logged out of ${who}: the token stays valid on the server (it was given to ferry login, not made by it; ferry logout --revoke, or ferry token revoke ID, ends it); ${here}`;
    case 'invalid':
      return `logged out of ${who}: the server no longer took the token (already revoked or expired); ${here}`;
    default:
      return `logged out of ${who}, but the token was NOT revoked: ${terminalSafe(r.error?.message ?? '')} (${r.error?.code}); it works until it expires or is revoked (ferry token revoke ID from another login); ${here}`;
  }
}
