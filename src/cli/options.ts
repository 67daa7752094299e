/**
 * Options shared by the commands that talk to a server, and the glue from parsed options
 * to an SDK client: `--server`, `--token`, `--parallel`, `--bwlimit`, `--retries`,
 * `--json`, `-q`. Also the Ctrl-C handling: the first SIGINT aborts the operation
 * cleanly (a partial download keeps its .ferry-part), a second one exits at once.
 */
import { setMaxListeners } from 'node:events';
import { type Command, Option, InvalidArgumentError } from 'commander';
import type { FerryClient } from '../client/client.js';
import { parseRate } from '../client/bandwidth.js';
import { parseDuration } from '../core/units.js';
import { DEFAULT_RETRY_POLICY } from '../core/retry.js';
import { MAX_PARALLEL, MAX_RETRIES, intBetween } from '../core/option-values.js';
import { AbortedError, ConfigError, NotFoundError, UsageError, isFerryError } from '../core/errors.js';
import type { ConfigFile, SavedServer } from '../client/config.js';
import { stdoutClosed } from './stdout.js';

export interface ConnectionOpts {
  server?: string;
  token?: string;
  /** Where `token` came from when not --token (a location's: `login:NAME`, `remote:NAME`), for the messages when it is refused. */
  tokenSource?: string;
  retries?: number;
  /** A PEM CA file to trust (`--ca`). */
  ca?: string;
  /** A pinned certificate fingerprint (`--fingerprint`). */
  fingerprint?: string;
  /** `--login NAME`: act as the login saved under NAME (`ferry login URL --name NAME`). */
  login?: string;
}

export interface TransferOpts extends ConnectionOpts {
  parallel?: number;
  bwlimit?: number;
  /** -P / --no-progress; undefined: on when stderr is a terminal. */
  progress?: boolean;
  dryRun?: boolean;
  /** -v: retries and every file as it goes. */
  verbose?: number;
}

export interface OutputOpts {
  json?: boolean;
  quiet?: boolean;
}

/**
 * `--retries` means the same on every command: how many times one failing request (to a
 * Ferry server) or storage call (to S3, SFTP, a disk) is tried again, with backoff; a call
 * that cannot be repeated safely (a streamed write) is retried as a whole file copy instead.
 */
export const RETRIES_HELP = 'times a failing request or storage call is tried again (backoff with jitter)';

/** Whether progress is drawn: -P forces it, --no-progress, -q and --json turn it off, else a terminal decides. */
export function progressWanted(opts: { progress?: boolean; quiet?: boolean; json?: boolean }): boolean {
  if (opts.progress !== undefined) return opts.progress;
  return !opts.quiet && !opts.json && process.stderr.isTTY === true;
}

/** -P/--progress and --no-progress, the same on every transfer command. */
export function addProgressOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-P, --progress', 'show progress (bytes, rate, ETA, files) on stderr; the default on a terminal'))
    .addOption(new Option('--no-progress', 'never show progress'));
}

/** -v/--verbose counted (-vv), as rclone's. */
export function addVerboseOption(cmd: Command, help: string): Command {
  return cmd.addOption(new Option('-v, --verbose', help).argParser((_v: string, n: number) => n + 1).default(0));
}

/**
 * A duration flag's value in milliseconds, for commander's argParser: a value that is not
 * one is commander's own error, naming the flag ("option '--ttl <duration>' argument '7x' is
 * invalid. not a duration: …"), as --bwlimit's is, not a bare "not a duration" from the top.
 */
export function durationArg(value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

/** An integer flag's parser for commander: the check the SDK's options go through too (src/core/option-values.ts). */
export function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    try {
      return intBetween(name, Number(value), min, max);
    } catch (err) {
      throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
    }
  };
}

export function addConnectionOptions(cmd: Command): Command {
  if (!cmd.options.some((o) => o.long === '--verbose')) addVerboseOption(cmd, 'print retries as they happen');
  return cmd
    .addOption(new Option('--server <url>', 'server URL (default: FERRY_SERVER or the config file)'))
    .addOption(new Option('--token <token>', 'access token (default: FERRY_TOKEN or the config file)'))
    .addOption(new Option('--retries <n>', RETRIES_HELP).default(DEFAULT_RETRY_POLICY.retries).argParser(intArg('--retries', 0, MAX_RETRIES)))
    .addOption(new Option('--ca <file>', 'trust this CA (PEM) for https, e.g. a self-signed server\'s DATA/tls/ca.crt (default: FERRY_CA or the config file)'))
    .addOption(new Option('--fingerprint <sha256>', "trust exactly the server certificate with this fingerprint, as `ferry serve` prints it (default: FERRY_FINGERPRINT or the config file)"));
}

/**
 * The connection options and `--login NAME`, for the commands that take no location (a
 * location's `NAME:` says which login acts: `ferry ls work:/`; `ferry quota --login work`).
 */
export function addLoginOptions(cmd: Command): Command {
  return addConnectionOptions(cmd).addOption(
    new Option('--login <name>', 'act as the login saved by `ferry login URL --name NAME` (default: the default login, or the one FERRY_SERVER or --server names)'),
  );
}

export function addTransferOptions(cmd: Command): Command {
  addProgressOptions(cmd).addOption(new Option('-n, --dry-run', 'show what would be transferred; change nothing'));
  addVerboseOption(cmd, 'print retries as they happen and, for trees, every file');
  return addConnectionOptions(cmd)
    .addOption(
      new Option('--parallel <n>', 'chunks in flight at once, for the whole transfer').default(4).argParser(intArg('--parallel', 1, MAX_PARALLEL)),
    )
    .addOption(
      new Option('--bwlimit <rate>', 'bandwidth limit, shared by all transfers, up and down (10M = 10 MiB/s; B, K, M, G suffixes; a bare number is KiB/s, as in rclone)').argParser((v) => {
        try {
          return parseRate(v);
        } catch (err) {
          throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
        }
      }),
    );
}

export function addOutputOptions(cmd: Command, jsonHelp = 'print a machine-readable JSON summary on stdout'): Command {
  return cmd.option('--json', jsonHelp).option('-q, --quiet', 'print nothing but errors');
}

/** Builds the SDK client from the options, the environment and the config file. */
async function clientFrom(opts: TransferOpts, retries: { count: number }, onWarning?: (m: string) => void): Promise<FerryClient> {
  const shown = (opts.verbose ?? 0) > 0 || process.env.FERRY_DEBUG === '1' || process.argv.includes('--debug');
  // Loaded here, not at the top: `ferry --help` and friends should not pay for undici.
  const { FerryClient } = await import('../client/client.js');
  return FerryClient.fromConfig({
    server: opts.server,
    token: opts.token,
    tokenSource: opts.tokenSource,
    ca: opts.ca,
    fingerprint: opts.fingerprint,
    parallel: opts.parallel,
    bwlimit: opts.bwlimit,
    retry: opts.retries === undefined ? undefined : { ...DEFAULT_RETRY_POLICY, retries: opts.retries },
    onWarning,
    onRetry: ({ method, path, error, attempt, delayMs }) => {
      retries.count++;
      if (shown) {
        process.stderr.write(
          `ferry: retry ${attempt + 1} of ${method} ${path} in ${delayMs} ms: ${isFerryError(error) ? `${error.message} (${error.code})` : String(error)}\n`,
        );
      }
    },
  });
}

/**
 * Builds the client from the options, runs `fn` with it, and closes it (its connections)
 * however `fn` ends: the one way commands talk to a server. Retries are printed with -v;
 * otherwise one line at the end counts them (unless -q or --json).
 */
export async function withClient<T>(opts: TransferOpts & OutputOpts, fn: (client: FerryClient) => Promise<T>, onWarning?: (m: string) => void): Promise<T> {
  if ((opts.verbose ?? 0) > 0 || opts.quiet || opts.json) retryNote.wanted = false;
  const client = await clientFrom(await asLogin(opts), retryNote, onWarning);
  try {
    return await fn(client);
  } catch (err) {
    // The account and admin calls go to `client.http` directly: a token they had refused is explained here.
    throw client.explainFailure(err);
  } finally {
    await client.close();
  }
}

/**
 * `opts` with `--login NAME` made the server and token saved under NAME: that token, not the
 * first one saved for its URL (one server, two logins). A `--token` given still wins, as
 * it does over a location's login.
 */
async function asLogin<T extends ConnectionOpts>(opts: T): Promise<T> {
  if (opts.login === undefined) return opts;
  if (opts.server !== undefined) throw new UsageError('--login and --server both name a server: give one');
  const { saved } = await savedLogin(opts.login);
  if (opts.token !== undefined) return { ...opts, server: saved.server };
  if (saved.token === undefined) throw (await import('../client/config.js')).loggedOutLogin(opts.login, saved.server);
  return { ...opts, server: saved.server, token: saved.token, tokenSource: `login:${opts.login}` };
}

/** The login saved as `name` (`ferry` is the default one); FERRY_ERR_CONFIG naming the saved ones when there is none. */
export async function savedLogin(name: string): Promise<{ file: string; config: ConfigFile; saved: SavedServer }> {
  const { configPath, readConfigFile, savedServers } = await import('../client/config.js');
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

/** Requests retried by this command's clients, for the closing note (see {@link retrySummary}). */
const retryNote = { count: 0, wanted: true };

/** The line main() prints last when requests were retried silently (no -v, -q or --json), else undefined. */
export function retrySummary(): string | undefined {
  if (retryNote.count === 0 || !retryNote.wanted) return undefined;
  return `ferry: ${retryNote.count === 1 ? '1 request was' : `${retryNote.count} requests were`} retried (-v shows each)`;
}

/**
 * {@link withClient} for a location on a Ferry server: the logged-in one, or the server a
 * named remote or `ferry://host` names (its token then comes with it).
 */
export async function withServer<T>(
  loc: { server?: string; token?: string; spec?: string; path?: string; label?: string },
  opts: TransferOpts,
  fn: (client: FerryClient) => Promise<T>,
  onWarning?: (m: string) => void,
): Promise<T> {
  const source = await locationTokenSource(loc.spec);
  // NAME: of a login ferry logout emptied: not the token another login to its URL holds.
  if (loc.token === undefined && opts.token === undefined && source?.startsWith('login:')) {
    throw (await import('../client/config.js')).loggedOutLogin(source.slice('login:'.length), loc.server ?? '');
  }
  const tokenSource = loc.token === undefined ? undefined : source;
  try {
    return await withClient({ ...opts, server: loc.server ?? opts.server, token: loc.token ?? opts.token, ...(tokenSource ? { tokenSource } : {}) }, fn, onWarning);
  } catch (err) {
    throw notFoundAsTyped(err, loc);
  }
}

/**
 * The server says which of its paths it did not find (`/x: no such file or directory`); the
 * user typed `me:x`: the message names the location as typed, `details.path` keeps the
 * server's path (for --json). Another path's not-found (a parent, the other side of a copy)
 * is left as it is.
 */
export function notFoundAsTyped(err: unknown, loc: { path?: string; label?: string }): unknown {
  if (!isFerryError(err, 'FERRY_ERR_NOT_FOUND') || loc.path === undefined) return err;
  if (!err.message.startsWith(`${loc.path}: `)) return err;
  const label = loc.label ?? loc.path;
  const hint = WILDCARD.test(loc.path) ? WILDCARD_HINT : '';
  if (label === loc.path && !hint) return err;
  return new NotFoundError(`${label}${err.message.slice(loc.path.length)}${hint}`, { cause: err, details: { ...err.details, path: loc.path } });
}

/** Characters of a shell wildcard: a quoted one reaches a server path as it is. */
const WILDCARD = /[*?[]/;
/** Said after the not-found of a server path with one: `ferry get '/logs/*.gz' .` looked for a file named `*.gz`. */
const WILDCARD_HINT = ' (server paths take no wildcards: list them with ferry ls, or fetch a folder with get -r --include PATTERN)';

/** Whose token a `NAME:/path` carries: a login saved under NAME, or the named remote NAME's. */
async function locationTokenSource(spec: string | undefined): Promise<string | undefined> {
  const name = spec === undefined ? '' : /^([A-Za-z][A-Za-z0-9+.-]+):/.exec(spec)?.[1] ?? '';
  if (!name || name === 'ferry') return undefined;
  // As remoteContext resolves a name: a named remote first, then a saved login.
  const { readRemotes, remotesPath } = await import('../backends/remotes.js');
  if (Object.hasOwn(await readRemotes(remotesPath()).catch(() => ({})), name)) return `remote:${name}`;
  const { configPath, readConfigFile, savedServers } = await import('../client/config.js');
  const saved = await readConfigFile(configPath()).then(savedServers, () => []);
  return saved.some((s) => s.name === name) ? `login:${name}` : undefined;
}

/**
 * Runs `fn` with a signal that the first Ctrl-C (SIGINT) or a SIGTERM aborts; a second
 * Ctrl-C exits at once with code 130. The signal also aborts when stdout's reader goes
 * away (`| head`): the operation stops and ends with that reason (exit code 141, quietly).
 */
export async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  setMaxListeners(0, ac.signal); // one listener per request in flight
  let count = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    count++;
    if (count > 1) process.exit(130);
    ac.abort(new Error(`interrupted by ${sig}`));
    // A command reading a pipe (`producer | ferry put - /x`) would otherwise wait for the
    // writer's next piece before it sees the abort, forever if the writer outlives the Ctrl-C.
    if (!process.stdin.isTTY) process.stdin.destroy();
  };
  const onStdoutClosed = () => ac.abort(stdoutClosed.reason);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (stdoutClosed.aborted) onStdoutClosed();
  else stdoutClosed.addEventListener('abort', onStdoutClosed, { once: true });
  try {
    return await fn(ac.signal);
  } catch (err) {
    // Whatever failed after stdout closed failed because of it (an aborted request, a write).
    if (stdoutClosed.aborted) throw stdoutClosed.reason;
    // Interrupted: whatever failed after it failed because of it (stdin cut short included).
    if (ac.signal.aborted && (count > 0 || isFerryError(err, 'FERRY_ERR_ABORTED'))) {
      throw new AbortedError(`${(ac.signal.reason as Error).message}; run the same command again to resume`, { cause: err });
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stdoutClosed.removeEventListener('abort', onStdoutClosed);
  }
}

/** Writes one JSON document to stdout (a closed stdout is dealt with by ./stdout.ts). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}
