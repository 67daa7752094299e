/** `ferry serve`: run the server on embedded defaults (SQLite + local disk under --data). */
import { Option, type Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { VERSION } from '../../core/version.js';
import { defaultConfig, redactDbUrl, type ServerConfig } from '../../server/config.js';
import { applySettings, changedKeys, envName, flagOf, misspeltVariables, offFlagOf, resolveSettings, settingOrigin, SETTINGS, SETTINGS_BY_KEY, throwProblems, type FileSettings, type ResolvedSettings } from '../../server/settings.js';
import { redactRemote } from '../../remotes/index.js';
import { readRemotes, remotesPath } from '../../backends/remotes.js';
import { performance } from 'node:perf_hooks';
import { constants as osConstants } from 'node:os';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import type { RunningServer } from '../../server/app.js';

interface ServeOptions {
  config?: string;
  [key: string]: string | string[] | boolean | undefined;
}

const repeat = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * One flag per setting of the table (src/server/settings.ts); booleans get `--x` and `--no-x`,
 * the latter shown in the help where it is the one that changes something (on by default).
 */
function addSettingFlags(cmd: Command): void {
  for (const s of SETTINGS) {
    const flag = flagOf(s);
    if (!flag) continue;
    // A setting named in another's doc (`tlsKey`) is the flag here (--tls-key).
    const doc = `${s.doc.replace(/`([^`]*)`/g, (_, name: string) => { const other = SETTINGS_BY_KEY.get(name); return (other && flagOf(other)) || name; })} (${envName(s.key)})`;
    // What a value-taking flag is when not given, and a closed set's choices: the help says both.
    const choices = s.kind.name.includes(' | ') ? `; one of ${s.kind.name.split(' | ').join(', ')}` : '';
    const valued = s.default === undefined ? `${doc.slice(0, -1)}${choices})` : `${doc.slice(0, -1)}; default ${s.default}${choices})`;
    if (s.kind.name === 'boolean') {
      cmd.addOption(new Option(flag, doc));
      const off = offFlagOf(s);
      if (off) cmd.addOption(new Option(off, `turn ${flag} off (it is on by default)`));
      else cmd.addOption(new Option(`--no-${flag.slice(2)}`).hideHelp());
    } else if (s.kind.name === 'list') {
      cmd.addOption(new Option(`${flag} <value>`, `${valued}; repeatable, comma-separated`).argParser(repeat));
    } else {
      cmd.addOption(new Option(`${flag} <${s.kind.name.includes('|') ? 'value' : s.kind.name}>`, valued));
    }
  }
}

/**
 * The start-up notes on stderr: the admin token once (its file later), how to log in with it
 * (through stdin, never on the command line: shell history, ps), and how the web app, which
 * signs in with passwords, gets a user. The token itself only to a person at a terminal:
 * under systemd or Docker stderr is a log (the journal, docker logs) that would keep it.
 */
function printLoginNotes(server: Pick<RunningServer, 'url' | 'adminToken' | 'tokenFile' | 'generatedToken' | 'tls'>): void {
  const pin = server.tls?.selfSigned ? ` --fingerprint ${server.tls.fingerprint}` : '';
  const webApp = `Web app:      ${server.url}/ signs in users with a password; make one with: ferry user add NAME --admin --password`;
  if (server.adminToken === 'set') {
    // Given (FERRY_ADMIN_TOKEN, adminToken): how it logs in, never the token.
    process.stderr.write(`\nLog in with:  ferry login ${server.url} --token -${pin}   (the admin token you set, FERRY_ADMIN_TOKEN or adminToken, on stdin)\n${webApp}\n\n`);
    return;
  }
  if (!server.tokenFile) {
    // Made at the first start, and its file went since: the token still works, from where it was kept.
    process.stderr.write(
      `\nThe admin token made at the first start is no longer in the data directory (initial-admin-token was removed, or this is a restore, which never holds it): ` +
        `use the copy you kept, or start with FERRY_ADMIN_TOKEN set to a new one (openssl rand -hex 32).\n` +
        `Log in with:  ferry login ${server.url} --token -${pin}   (that token on stdin)\n${webApp}\n\n`,
    );
    return;
  }
  const login = `Log in with:  ferry login ${server.url} --token - < ${server.tokenFile}${pin}\n${webApp}`;
  const notice = !server.generatedToken
    ? `\nThe admin token made at the first start is in ${server.tokenFile} (remove the file once it is kept elsewhere).\n`
    : process.stderr.isTTY
      ? `\nFerry admin token (shown once, also saved with mode 0600 in ${server.tokenFile}):\n\n  ${server.generatedToken}\n\n`
      : `\nFerry made an admin token and saved it with mode 0600 in ${server.tokenFile} (not printed: stderr is not a terminal, and a log would keep it).\n`;
  process.stderr.write(`${notice}${login}\n\n`);
}

/** Settings from flags, FERRY_* variables and the config file (re-read on SIGHUP). */
async function loadSettings(opts: ServeOptions): Promise<{ resolved: ResolvedSettings; config: ServerConfig }> {
  const file = serverConfigFile(opts);
  const fileSettings = file ? await readServeConfigFile(file) : undefined;
  const flags: Record<string, string | string[] | boolean | undefined> = {};
  for (const s of SETTINGS) flags[s.key] = opts[s.key];
  const { resolved, problems } = resolveSettings({ file: fileSettings, env: process.env, flags });
  for (const { name, meant } of misspeltVariables(process.env)) process.stderr.write(`ferry: warning: ${name} is not a setting (did you mean ${meant}?): ignored\n`);
  throwProblems(problems, file);
  const config = applySettings(defaultConfig(), resolved);
  config.addrOrigins = { addr: settingOrigin('addr', resolved, fileSettings), sftpAddr: settingOrigin('sftpAddr', resolved, fileSettings) };
  if (config.store && config.store.length > 0) config.remotes = await readRemotes(remotesPath());
  return { resolved, config };
}

/** Reads the config file, warning (at every start and SIGHUP) when it shows its secrets to every local user. */
async function readServeConfigFile(file: string): Promise<FileSettings> {
  // The YAML and TOML parsers are loaded only when there is a file to read.
  const { readConfigFile, configSecretsWarning } = await import('../../server/config-file.js');
  const settings = await readConfigFile(file);
  const exposed = await configSecretsWarning(settings);
  if (exposed) process.stderr.write(`ferry: warning: ${exposed}\n`);
  return settings;
}

/**
 * The server's settings file: `--config`, else `FERRY_SERVE_CONFIG`. Not `FERRY_CONFIG`: that
 * names the client's config.json (login, saved servers), and a shell that sets it for the
 * client must not hand that file to `ferry serve` as settings, nor the server's YAML to the client.
 */
function serverConfigFile(opts: ServeOptions): string | undefined {
  return opts.config ?? (process.env.FERRY_SERVE_CONFIG || undefined);
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export function registerServe(program: Command): void {
  const serve = program
    .command('serve')
    .description('run the Ferry server (defaults: 127.0.0.1:7373, SQLite + local disk in ./ferry-data)')
    .option('--config <file>', 'read settings from this YAML, TOML or JSON file (FERRY_SERVE_CONFIG); flags and FERRY_* variables override it');
  addSettingFlags(serve);
  serve
    .addHelpText(
      'after',
      `
Every setting is also a key of the config file and a FERRY_* environment variable
(precedence: flag > variable > file > default); \`ferry config docs\` lists them and
\`ferry config check FILE\` validates a file. Secrets (adminToken, sessionKey,
metricsToken) have no flag: use the file or FERRY_ADMIN_TOKEN, FERRY_SESSION_KEY,
FERRY_METRICS_TOKEN. SIGHUP re-reads the file and the variables: TLS certificates,
limits, IP lists, the log level, hooks and retention change at once; the rest is
reported as needing a restart.

The admin token is FERRY_ADMIN_TOKEN when set (at least 32 characters, not guessable by its
shape: a weak one is refused); otherwise one is generated at the first start, once the
server listens, printed once with a login line (the token on stdin: ferry login URL
--token - < FILE), and written (mode 0600) to DATA/initial-admin-token.
When the server listens it prints {"event":"ready","url":...} on stdout; the log follows
(JSON lines, or short lines for a person when stdout is a terminal: --log-format).

Examples:
  ferry serve
  ferry serve --config /etc/ferry/ferry.yaml
  ferry serve --addr 0.0.0.0:7373 --data /srv/ferry --tls-self-signed
  ferry serve --addr 0.0.0.0:443 --tls-cert fullchain.pem --tls-key key.pem --public-url https://files.example.com
  ferry serve --store s3:my-bucket/ferry            (chunks in S3, AWS_* credentials)
  ferry serve --store /archive=nas:ferry --store /=local
  FERRY_SESSION_KEY=... PGPASSWORD=... ferry serve --db postgres://ferry@db.internal/ferry --store s3:bucket/ferry --addr 0.0.0.0:7373
                                                    (one of several nodes behind a load balancer)
  ferry serve --sftp-addr 0.0.0.0:2022          (SFTP for OpenSSH sftp/scp, rclone, sshfs, WinSCP)
  ferry serve --addr 0.0.0.0:7373 --max-connections-per-ip 32 --body-min-rate 4K   (stricter with slow clients)
  ferry serve --trust-proxy 127.0.0.1 --trust-proxy ::1   (behind Caddy or nginx on this machine)
  FERRY_ADMIN_TOKEN=$(openssl rand -hex 32) ferry serve --addr 127.0.0.1:0`,
    )
    .action(async (opts: ServeOptions) => {
      const starting = exitOnSignalsWhileStarting();
      const { resolved, config } = await loadSettings(opts);
      const heapGrowth = heapGrowingPercent(process.env.FERRY_HEAP_GROWING_PERCENT);
      if (config.sftpPasswordAuth && !config.sftp) throw new UsageError('--sftp-password-auth needs --sftp-addr');
      // The server stack (Fastify, Kysely, SQLite) is loaded only by this command.
      const [{ startServer }, allocator, { dropSpareStaging }, { dropSpareStreamBuffers }] = await Promise.all([
        import('../../server/app.js'),
        import('../../server/allocator.js'),
        import('../../backends/local/index.js'),
        import('../../server/ingest.js'),
      ]);
      const server = await startServer({ ...config, logDestination: config.logDestination ?? process.stdout });
      if (heapGrowth > 0) setFlagsFromString(`--heap-growing-percent=${heapGrowth}`);
      const memory = allocator.leanUnderPressure(() => server.ctx.bodies.stats().waits);
      allocator.reportMemorySettings(memory.state().malloc, server.app.log);
      // The ready line goes to stdout whatever the log level: scripts and tests wait for it.
      const ready: Record<string, unknown> = { event: 'ready', url: server.url, data: config.dataDir, db: config.db === undefined ? 'sqlite' : redactDbUrl(config.db), config: serverConfigFile(opts) ?? null, store: (config.store ?? []).map((s) => `${s.prefix}=${redactRemote(s.remote)}`), version: VERSION };
      if (server.tls) ready.tlsFingerprint = server.tls.fingerprint;
      if (server.sftp) {
        ready.sftp = `${server.sftp.host.includes(':') ? `[${server.sftp.host}]` : server.sftp.host}:${server.sftp.port}`;
        ready.sftpHostKeys = server.sftp.hostKeys.map((k) => ({ type: k.type, fingerprint: k.fingerprint }));
      }
      if (server.sftp) {
        // As sshd does: what a user compares with what their client shows on first contact
        // (before the ready line: whoever waits for that line finds these printed).
        const lines = server.sftp.hostKeys.map((k) => `  ${k.fingerprint} (${k.type})`).join('\n');
        process.stderr.write(`\nFerry serves SFTP on ${ready.sftp as string}. Host key fingerprints:\n${lines}\n\n`);
        server.app.log.info({ sftp: ready.sftp, hostKeys: ready.sftpHostKeys }, 'sftp listening');
      }
      // SIGHUP: re-read the file and the environment (flags stay as given), apply what can
      // change live, and say what needs a restart. A file with errors changes nothing. Taken
      // before the ready line: a SIGHUP sent as soon as it is read must not find the default
      // action (which ends the process).
      const reload = () => {
        loadSettings(opts)
          .then((next) => {
            const changed = changedKeys(resolved, next.resolved);
            let live = changed.filter((k) => SETTINGS_BY_KEY.get(k)!.live);
            const restart = changed.filter((k) => !SETTINGS_BY_KEY.get(k)!.live);
            const fingerprint = server.tls?.fingerprint;
            return server.reload(next.config, live).then((notApplied) => {
              live = live.filter((k) => !notApplied.includes(k));
              restart.push(...notApplied);
              for (const k of live) {
                if (next.resolved.values.has(k)) resolved.values.set(k, next.resolved.values.get(k));
                else resolved.values.delete(k);
              }
              const certificate = server.tls && server.tls.fingerprint !== fingerprint ? server.tls.fingerprint : undefined;
              server.app.log.info({ applied: live, needsRestart: restart, ...(certificate ? { certificate } : {}) }, 'configuration reloaded');
              const rest = restart.length > 0 ? `; changed but need a restart: ${restart.join(', ')}` : '';
              const renewed = certificate ? `; new TLS certificate ${certificate}` : '';
              process.stderr.write(`ferry: configuration reloaded; applied: ${live.join(', ') || 'nothing'}${rest}${renewed}\n`);
            });
          })
          .catch((err: unknown) => {
            server.app.log.error({ err }, 'configuration reload failed; nothing changed');
            process.stderr.write(`ferry: reload failed, nothing changed:\n${err instanceof Error ? err.message : String(err)}\n`);
          });
      };
      process.on('SIGHUP', reload);
      // The transport's lines too come before the ready line (a certificate's notes among them).
      announceTransport(server, config.host);
      process.stdout.write(JSON.stringify(ready) + '\n');
      const dropSpares = () => {
        dropSpareStaging();
        dropSpareStreamBuffers();
      };
      onceReady(server.app.log, settleAround(memory.trimDuring, server.ctx, dropSpares));
      printLoginNotes(server);
      await stopOnSignals(server, config.drainTimeoutMs, starting);
    });
}

/**
 * Until the ready line: SIGINT or SIGTERM exits at once (130, 143), as the default action
 * did, but says so on stderr: a start that ended silently (a slow database, a store being
 * checked) read as a crash. Nothing has been served, so there is nothing to drain. Once
 * ready, `handOver` gives the signals to {@link stopOnSignals}.
 *
 * One listener per signal for the command's whole life, whose work changes: not one listener
 * removed and another added. Node closes its watcher of a signal when the signal's last
 * listener goes, and a signal that watcher had caught but not yet delivered (one sent right
 * as the ready line was read, on a busy machine) was dropped with it: the server went on
 * serving, its SIGTERM lost, and whoever waited for it to exit waited for ever; between
 * the two, the default action would have ended the process without a drain.
 */
function exitOnSignalsWhileStarting(): { handOver(next: (signal: NodeJS.Signals) => void): void } {
  let handle = (signal: NodeJS.Signals): void => {
    process.stderr.write(`ferry: ${signal} while starting, before the server was ready: stopped, nothing was served\n`);
    process.exit(128 + osConstants.signals[signal]);
  };
  const onSignal = (signal: NodeJS.Signals) => handle(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { handOver: (next) => void (handle = next) };
}

/**
 * Resolves once the server is closed. The first SIGINT or SIGTERM drains: /readyz turns 503
 * and new upload sessions are refused, while the requests in flight (chunk PUTs, commits,
 * downloads, SFTP files) finish, `drainTimeout` at most; then it closes. A second one stops
 * now: every open connection is closed (their upload sessions stay, to resume). A third
 * exits at once (130 for SIGINT, 143 for SIGTERM), whatever the stop still waits for. Each
 * says so on stderr, for whoever pressed Ctrl-C and waits.
 */
function stopOnSignals(server: RunningServer, drainTimeoutMs: number, starting: ReturnType<typeof exitOnSignalsWhileStarting>): Promise<void> {
  return new Promise<void>((resolve) => {
    let signals = 0;
    const stop = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals === 1) {
        server.app.log.info({ signal }, 'draining, then shutting down');
        const within = drainTimeoutMs > 0 ? ` (${drainTimeoutMs / 1000} s at most)` : '';
        process.stderr.write(`ferry: ${signal}: draining: letting the transfers in flight finish${within}; press Ctrl-C again (or send another SIGTERM) to stop now\n`);
        server.drain();
        server.close().then(resolve, resolve);
      } else if (signals === 2) {
        server.app.log.info({ signal }, 'second signal: stopping now');
        process.stderr.write(`ferry: ${signal} again: stopping now; open transfers are cut (uploads resume from where they stopped); another signal exits at once\n`);
        server.close({ force: true }).then(resolve, resolve);
      } else {
        // The stop itself waits (a database or store that does not answer): nothing is
        // waited for now. What was committed is durable; what was not is as after a crash.
        process.stderr.write(`ferry: ${signal} a third time: exiting at once, without closing the stores\n`);
        process.exit(128 + osConstants.signals[signal]);
      }
    };
    starting.handOver(stop);
  });
}

/** On stderr: the certificate's fingerprint under TLS, a warning for plain HTTP beyond loopback. */
function announceTransport(server: RunningServer, host: string): void {
  if (server.tls) {
    const trust = server.tls.caFile
      ? `Clients trust it with --ca ${server.tls.caFile} or --fingerprint ${server.tls.fingerprint}`
      : `Clients can pin it with --fingerprint ${server.tls.fingerprint}`;
    const notice = server.tls.notice ? `Note: ${server.tls.notice}.\n` : '';
    process.stderr.write(`\nFerry serves HTTPS (HTTP/2 and HTTP/1.1).\nCertificate fingerprint: ${server.tls.fingerprint}\n${trust}\n${notice}\n`);
  } else if (!LOOPBACK.test(host)) {
    server.app.log.warn({ host }, 'serving plain HTTP on a non-loopback address: tokens and data travel unencrypted');
    process.stderr.write(`\nWARNING: plain HTTP on ${host}: passwords, tokens and files travel unencrypted.\nUse --tls-cert/--tls-key or --tls-self-signed.\n\n`);
  }
}

/**
 * Once the ready line is printed: V8's flags that bin/ferry.js left to set (TurboFan and
 * Sparkplug back on; it turns them off for the start, bin/serve-start.js says why; none when
 * the server was started some other way), then the heap settled for idling.
 */
function onceReady(log: { debug(o: object, msg: string): void }, around: (collect: () => Promise<void>) => Promise<void>): void {
  const flags: unknown = (globalThis as Record<symbol, unknown>)[Symbol.for('ferry.serve.v8FlagsAfterReady')];
  if (Array.isArray(flags)) for (const flag of flags) setFlagsFromString(String(flag));
  settleHeapAfterStart(log, around, () => settleHeapWhenIdle(log, around));
}

type KeepsBuffers = { dropKept(): void };

/**
 * What runs each settle collection: the allocator's `trimDuring` around the collection and
 * then SQLite's page cache handed back, so that glibc's trim after them returns that memory too.
 * First the buffers kept for the next chunk bodies (whole-body buffers of the body budgets,
 * the local backend's staging, the chunk store's delta bases and read buffers, the shared
 * buffers of streamed uploads: `dropSpares`) are let go, for the collection to free. Kept, a
 * server idle after a 96 MiB put and get held 101.7–106.3 MB instead of 87.9–92.9 MB, and
 * they stayed for the process's life (benchmarks/results/issue-15-speed.md, branch w6peak).
 */
export function settleAround(
  trimDuring: (collect: () => Promise<void>) => Promise<void>,
  ctx: { meta: { releaseMemory(): void }; bodies: KeepsBuffers; sendMemory: KeepsBuffers; ingestMemory: KeepsBuffers; chunks: KeepsBuffers },
  dropSpares: () => void,
): (collect: () => Promise<void>) => Promise<void> {
  return (collect) =>
    trimDuring(async () => {
      for (const kept of [ctx.bodies, ctx.sendMemory, ctx.ingestMemory, ctx.chunks]) kept.dropKept();
      dropSpares();
      await collect();
      ctx.meta.releaseMemory();
    });
}

/** `HOST:PORT` (`[v6]:PORT`, `:PORT` for loopback, a host alone for `defaultPort`). */
export { parseAddr } from '../../server/settings.js';

/**
 * Once the server listens and has printed its ready line: one full collection that sizes
 * V8's heap for an idle program, as V8's memory reducer does by itself some seconds into
 * idling (its young generation back to its initial 1 MB semi-spaces, the old generation
 * compacted and its free pages released). Starting grows the young generation to 8 MB
 * semi-spaces (0.1 MB of them in use once ready), and a server would otherwise hold the
 * memory of its start for its first ~10 s; this is V8's LowMemoryNotification, reached
 * through an in-process inspector session (no port; HeapProfiler.collectGarbage). It runs
 * after the heap growth above is set, so the old generation's next limit is computed with
 * it. A Node built without the inspector skips it (the reducer still comes, later).
 * `around` runs the collection (the allocator's `trimDuring`: glibc gives back what it frees);
 * `then` runs after it (the serve command starts {@link settleHeapWhenIdle} there).
 */
export function settleHeapAfterStart(log: { debug(o: object, msg: string): void }, around: (collect: () => Promise<void>) => Promise<void> = (collect) => collect(), then?: () => void): void {
  setTimeout(() => {
    collectForIdle(around, true).then(
      (o) => {
        log.debug(o, 'heap settled after start');
        then?.();
      },
      (err: unknown) => log.debug({ err }, 'heap not settled after start: no inspector'),
    );
  }, SETTLE_AFTER_READY_MS).unref();
}

/**
 * The same collection again (without dropping code) whenever traffic has grown V8's young
 * generation, or kept the event loop busy (a burst: {@link BURST_UTILIZATION} of a check's
 * `everyMs`), and the server has then idled for `everyMs`: V8's own memory reducer comes only
 * after a mark-compact, and light traffic (a hundred small requests) causes none, so a server
 * that had served some stayed ~20 MB above a fresh one for as long as it idled (84 against 63
 * MiB, benchmarks/results/issue-15-speed.md, branch idle2); `around` (the serve command's:
 * SQLite's page cache emptied, then glibc's free memory given back) runs it. Idle: the event loop busy less
 * than {@link IDLE_UTILIZATION} of the last `everyMs`; the collection holds the main thread
 * for tens of milliseconds (the start's: 38-48 ms at load 5), once per such idle spell, so a
 * request arriving then waits that long. Started once the heap is settled after
 * start (the young generation's size then is the one to come back to). Returns a function
 * that stops it.
 */
export function settleHeapWhenIdle(log: { debug(o: object, msg: string): void }, around: (collect: () => Promise<void>) => Promise<void> = (collect) => collect(), everyMs = IDLE_CHECK_MS): () => void {
  const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
  // Its size now (once settled after start): what a collection when idle brings it back to.
  let smallest = young();
  let last = performance.eventLoopUtilization();
  let collecting = false;
  // A burst of traffic since the last collection (a check that found the event loop busy).
  let burst = false;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    const size = young();
    smallest = Math.min(smallest, size);
    if (busy >= BURST_UTILIZATION) burst = true;
    if (collecting || busy > IDLE_UTILIZATION || (size <= smallest && !burst)) return;
    collecting = true;
    burst = false;
    collectForIdle(around, false)
      .then(
        (o) => log.debug({ ...o, youngBefore: size, youngAfter: young() }, 'heap settled when idle'),
        (err: unknown) => log.debug({ err }, 'heap not settled when idle: no inspector'),
      )
      .finally(() => {
        collecting = false;
        last = performance.eventLoopUtilization();
      });
  }, everyMs).unref();
  return () => clearInterval(timer);
}

/**
 * How often {@link settleHeapWhenIdle} looks, the share of that time the event loop may have
 * been busy for it to count as idle, and the share that makes it a burst of traffic (a
 * metrics scrape or a health check is not one).
 */
const IDLE_CHECK_MS = 1_000;
const IDLE_UTILIZATION = 0.005;
const BURST_UTILIZATION = 0.05;

/**
 * One full collection through an in-process inspector session (V8's LowMemoryNotification),
 * inside `around`; with `dropCode`, V8 drops the code of every function not running during it
 * ({@link FLUSH_START_CODE}). Rejects when Node has no inspector.
 */
async function collectForIdle(around: (collect: () => Promise<void>) => Promise<void>, dropCode: boolean): Promise<{ err?: unknown; rssBefore: number; rssAfter: number }> {
  const rssBefore = process.memoryUsage().rss;
  const { Session } = await import('node:inspector');
  let failed: unknown;
  await around(
    () =>
      new Promise<void>((resolve) => {
        const session = new Session();
        session.connect();
        if (dropCode) for (const flag of FLUSH_START_CODE) setFlagsFromString(flag);
        session.post('HeapProfiler.collectGarbage', (err) => {
          if (dropCode) for (const flag of KEEP_CODE) setFlagsFromString(flag);
          failed = err ?? undefined;
          // Not from within this callback: that left Node 20's event loop stuck (no request answered).
          setImmediate(() => {
            session.disconnect();
            resolve();
          });
        });
      }),
  );
  return { err: failed, rssBefore, rssAfter: process.memoryUsage().rss };
}

/**
 * During that collection only, V8 drops the bytecode and Sparkplug code of every function not
 * running, as it does by itself for a function unused over 5 mark-compacts (`--bytecode-old-age`;
 * an idle server has none, so its start's code stayed for good): the modules' top-level code,
 * the route registrations, the settings, the migrations check, which run once. A function
 * called again is compiled again from its source, which V8 keeps (the first requests after a
 * start compile their handlers: their code is in the RSS of a server that has served traffic).
 * Measured (benchmarks/results/issue-15-speed.md, branch idle2): V8's heap in use 12.6 -> 11.0
 * MB, the idle RSS 1.9 MB less. `--stress-flush-code` is V8's "flush regardless of age" (a
 * testing flag, hence set back at once: at every mark-compact it would cost a busy server
 * its compiled code); `--flush-baseline-code` extends it to functions Sparkplug compiled.
 * Changing V8's flags makes Node refuse its code cache for built-in modules loaded later,
 * which `--heap-growing-percent`, set before, already does.
 */
const FLUSH_START_CODE = ['--stress-flush-code', '--flush-baseline-code'] as const;
const KEEP_CODE = ['--no-stress-flush-code', '--no-flush-baseline-code'] as const;

/** Long enough for the ready line's reader to send its first requests before the collection (~20 ms of the main thread). */
const SETTLE_AFTER_READY_MS = 100;

/**
 * How far V8 lets the old generation grow past what a mark-compact left alive before the
 * next one (a factor of 3). V8's own factor, chosen from recent GC speed, left a server of
 * ~18 MB live heap a limit of ~42 MB; with transfers in flight the young generation grows
 * to its 16 MB maximum, and V8 then starts incremental marking whenever the space left
 * below the limit is not well above the young generation's size: a mark-compact every
 * ~60 ms for as long as data flows (15-30 per 256 MiB upload in an encrypted store most
 * of the time, in a plain one now and then; ~20 % of the server's CPU in an encrypted
 * download; `--trace-gc`,
 * `--trace-incremental-marking`). Set once the server listens (start-up keeps V8's
 * defaults); the flag is read at each mark-compact, so it applies from the first.
 * `FERRY_HEAP_GROWING_PERCENT` sets another percentage, 0 keeps V8's own factor.
 */
export function heapGrowingPercent(value: string | undefined): number {
  if (value === undefined || value === '') return 200;
  if (!/^\d{1,4}$/.test(value) || Number(value) > 1000) throw new UsageError(`FERRY_HEAP_GROWING_PERCENT must be a whole number from 0 (V8's own factor) to 1000, not ${JSON.stringify(value)}`);
  return Number(value);
}
