/** `ferry serve`: run the server on embedded defaults (SQLite + local disk under --data). */
import { Option, type Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import { VERSION } from '../../core/version.js';
import { DEFAULT_PORT, defaultConfig, parseStoreSpec } from '../../server/config.js';
import { redactRemote } from '../../backends/registry.js';
import { readRemotes, remotesPath } from '../../backends/remotes.js';

interface ServeOptions {
  addr: string;
  data: string;
  uploadTtl: string;
  gcInterval: string;
  gcGrace: string;
  logLevel: string;
  fsync: boolean;
  store: string[];
}

/** `host:port`, `:port`, `[::1]:port` or `host` -> {host, port}. */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(addr.trim());
  if (!m) throw new UsageError(`--addr must look like HOST:PORT, not ${JSON.stringify(addr)}`);
  const host = m[1] ?? (m[2] || '127.0.0.1');
  const port = m[3] === undefined ? DEFAULT_PORT : Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`port out of range in --addr ${addr}`);
  return { host, port };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the Ferry server (defaults: 127.0.0.1:7373, SQLite + local disk in ./ferry-data)')
    .option('--addr <host:port>', 'address to listen on (FERRY_ADDR); use 0.0.0.0:7373 to accept other machines', process.env.FERRY_ADDR ?? `127.0.0.1:${DEFAULT_PORT}`)
    .option('--data <dir>', 'data directory: metadata database and chunk store (FERRY_DATA)', process.env.FERRY_DATA ?? './ferry-data')
    .option('--upload-ttl <duration>', 'remove upload sessions idle this long', '24h')
    .option('--gc-interval <duration>', 'how often to delete unreferenced chunks (0 = never)', '10m')
    .option('--gc-grace <duration>', 'keep unreferenced chunks at least this long', '1h')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', process.env.FERRY_LOG_LEVEL ?? 'info')
    .option('--no-fsync', 'do not fsync chunks before acknowledging them (faster, not crash-safe)')
    .addOption(
      new Option(
        '--store <[/prefix=]remote>',
        'where chunks are kept (repeatable; FERRY_STORE): s3:bucket/prefix, sftp://user@host/dir, NAME:path, local; /prefix=remote routes new chunks of uploads below /prefix',
      )
        .argParser((value: string, previous: string[]) => [...previous, value])
        .default(process.env.FERRY_STORE ? process.env.FERRY_STORE.split(/\s+/).filter(Boolean) : [], 'local disk under --data'),
    )
    .addHelpText(
      'after',
      `
The admin token is FERRY_ADMIN_TOKEN when set; otherwise one is generated at the first
start, printed once, and written (mode 0600) to DATA/initial-admin-token.
When the server listens it prints {"event":"ready","url":...} on stdout (JSON logs follow).

Examples:
  ferry serve
  ferry serve --addr 0.0.0.0:7373 --data /srv/ferry
  ferry serve --store s3:my-bucket/ferry            (chunks in S3, AWS_* credentials)
  ferry serve --store /archive=nas:ferry --store /=local
  FERRY_ADMIN_TOKEN=s3cret ferry serve --addr 127.0.0.1:0`,
    )
    .action(async (opts: ServeOptions) => {
      const { host, port } = parseAddr(opts.addr);
      const config = defaultConfig({
        host,
        port,
        dataDir: opts.data,
        uploadTtlMs: parseDuration(opts.uploadTtl),
        gcIntervalMs: parseDuration(opts.gcInterval),
        gcGraceMs: parseDuration(opts.gcGrace),
        logLevel: opts.logLevel,
        durable: opts.fsync,
        adminToken: process.env.FERRY_ADMIN_TOKEN || undefined,
        store: opts.store.map(parseStoreSpec),
        remotes: opts.store.length > 0 ? await readRemotes(remotesPath()) : undefined,
      });
      // The server stack (Fastify, Kysely, SQLite) is loaded only by this command.
      const { startServer } = await import('../../server/app.js');
      const server = await startServer(config);
      // The ready line goes to stdout whatever the log level: scripts and tests wait for it.
      const store = (config.store ?? []).map((s) => `${s.prefix}=${redactRemote(s.remote)}`);
      process.stdout.write(JSON.stringify({ event: 'ready', url: server.url, data: config.dataDir, store, version: VERSION }) + '\n');
      if (!LOOPBACK.test(host)) {
        server.app.log.warn({ host }, 'serving plain HTTP on a non-loopback address: tokens and data travel unencrypted');
      }
      if (server.generatedToken) {
        process.stderr.write(
          `\nFerry admin token (shown once, also saved with mode 0600 in ${server.tokenFile}):\n\n  ${server.generatedToken}\n\n` +
            `Log in with:  ferry login ${server.url} --token ${server.generatedToken}\n\n`,
        );
      }
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          server.app.log.info({ signal }, 'shutting down');
          server.close().then(resolve, resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
