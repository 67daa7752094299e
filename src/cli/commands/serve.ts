/** `ferry serve`: run the server on embedded defaults (SQLite + local disk under --data). */
import { Option, type Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { parseDuration, parseSize } from '../../core/units.js';
import { VERSION } from '../../core/version.js';
import { DEFAULT_PORT, DEFAULT_SFTP_PORT, defaultConfig, parseStoreSpec } from '../../server/config.js';
import { DEFAULT_DEFENDER } from '../../server/defender.js';
import { CidrList } from '../../server/ip-filter.js';
import { DEFAULT_CONNECTION_LIMITS } from '../../server/slow-clients.js';
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
  tlsCert?: string;
  tlsKey?: string;
  tlsSelfSigned?: boolean;
  tlsHost: string[];
  publicUrl?: string;
  ipAllow: string[];
  ipDeny: string[];
  maxFileSize?: string;
  maxUploadSessions: string;
  rateLimitIp: string;
  rateLimitToken: string;
  rateLimitAuth: string;
  defender: boolean;
  defenderThreshold: string;
  defenderBanTime: string;
  defenderSafe: string[];
  ttlSweepInterval: string;
  store: string[];
  sftpAddr?: string;
  sftpPasswordAuth?: boolean;
  maxConnectionsPerIp: string;
  headersTimeout: string;
  bodyTimeout: string;
  bodyMinRate: string;
}

const list = (value: string, previous: string[]): string[] => [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];

function count(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${what} must be a whole number >= 0, not ${JSON.stringify(text)}`);
  return n;
}

/** `host:port`, `:port`, `[::1]:port` or `host` -> {host, port}. */
export function parseAddr(addr: string, defaultPort = DEFAULT_PORT, option = '--addr'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(addr.trim());
  if (!m) throw new UsageError(`${option} must look like HOST:PORT, not ${JSON.stringify(addr)}`);
  const host = m[1] ?? (m[2] || '127.0.0.1');
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`port out of range in ${option} ${addr}`);
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
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain) ...')
    .option('--tls-key <file>', '... and this PEM private key')
    .option('--tls-self-signed', 'serve HTTPS with a local CA and certificate made once in DATA/tls (LAN use); prints the fingerprint')
    .option('--tls-host <name>', 'extra DNS name or IP for the self-signed certificate (repeatable, comma-separated)', list, [])
    .option('--public-url <url>', 'base URL printed in share links (default: the Host the client used)')
    .option('--ip-allow <cidr>', 'accept requests only from these networks (repeatable, comma-separated)', list, [])
    .option('--ip-deny <cidr>', 'refuse requests from these networks (repeatable, comma-separated)', list, [])
    .option('--max-file-size <size>', 'largest file anyone may upload (users can have lower limits)')
    .option('--max-upload-sessions <n>', 'live upload sessions per user unless set per user', '100')
    .option('--rate-limit-ip <n>', 'requests per minute per client address (0 = off)', '60000')
    .option('--rate-limit-token <n>', 'requests per minute per token (0 = off)', '60000')
    .option('--rate-limit-auth <n>', 'password attempts per minute per address (0 = off)', '30')
    .option('--no-defender', 'never ban addresses after repeated authentication failures')
    .option('--defender-threshold <n>', 'failure score that bans an address (bad token id 2, bad secret 1)', String(DEFAULT_DEFENDER.threshold))
    .option('--defender-ban-time <duration>', 'first ban length; each request during a ban adds half of it', '30m')
    .option('--defender-safe <cidr>', 'networks never banned besides loopback, which always is (repeatable, comma-separated)', list, [])
    .option('--ttl-sweep-interval <duration>', 'how often files past their TTL are deleted (0 = never)', '1m')
    .option('--sftp-addr <host:port>', `also serve SFTP (and scp) on this address (FERRY_SFTP_ADDR; off by default; port ${DEFAULT_SFTP_PORT} if none given)`, process.env.FERRY_SFTP_ADDR || undefined)
    .option('--sftp-password-auth', 'let users log in over SFTP with their password too (default: SSH keys only, see ferry user key add)')
    .option('--max-connections-per-ip <n>', 'open connections per client address; more are closed at once (0 = no limit)', String(DEFAULT_CONNECTION_LIMITS.maxPerAddress))
    .option('--headers-timeout <duration>', 'a request head must arrive within this (0 = no limit)', '30s')
    .option('--body-timeout <duration>', 'a request body must reach --body-min-rate over every window this long (0 = no limit)', '60s')
    .option('--body-min-rate <size>', 'bytes per second a request body must reach over each --body-timeout window', '1K')
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
The admin token is FERRY_ADMIN_TOKEN when set (at least 32 characters, not guessable by its
shape: a weak one is refused); otherwise one is generated at the first start, once the
server listens, printed once with a login line (the token on stdin: ferry login URL
--token - < FILE), and written (mode 0600) to DATA/initial-admin-token.
When the server listens it prints {"event":"ready","url":...} on stdout (JSON logs follow).
Web-session tokens are signed with FERRY_SESSION_KEY (base64, 32+ bytes; give every node of
a cluster the same) or a key made once in DATA/session-key.

Examples:
  ferry serve
  ferry serve --addr 0.0.0.0:7373 --data /srv/ferry --tls-self-signed
  ferry serve --addr 0.0.0.0:443 --tls-cert fullchain.pem --tls-key key.pem --public-url https://files.example.com
  ferry serve --store s3:my-bucket/ferry            (chunks in S3, AWS_* credentials)
  ferry serve --store /archive=nas:ferry --store /=local
  ferry serve --sftp-addr 0.0.0.0:2022          (SFTP for OpenSSH sftp/scp, rclone, sshfs, WinSCP)
  ferry serve --addr 0.0.0.0:7373 --max-connections-per-ip 32 --body-min-rate 4K   (stricter with slow clients)
  FERRY_ADMIN_TOKEN=$(openssl rand -hex 32) ferry serve --addr 127.0.0.1:0`,
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
        tlsCert: opts.tlsCert,
        tlsKey: opts.tlsKey,
        tlsSelfSigned: opts.tlsSelfSigned === true,
        tlsHostnames: opts.tlsHost,
        publicUrl: opts.publicUrl,
        ipAllow: new CidrList(opts.ipAllow).entries,
        ipDeny: new CidrList(opts.ipDeny).entries,
        maxFileSize: opts.maxFileSize === undefined ? null : parseSize(opts.maxFileSize),
        maxUploadSessions: count(opts.maxUploadSessions, '--max-upload-sessions'),
        rateLimit: {
          windowMs: 60_000,
          perIp: count(opts.rateLimitIp, '--rate-limit-ip'),
          perToken: count(opts.rateLimitToken, '--rate-limit-token'),
          authPerIp: count(opts.rateLimitAuth, '--rate-limit-auth'),
        },
        defender: {
          ...DEFAULT_DEFENDER,
          enabled: opts.defender,
          threshold: count(opts.defenderThreshold, '--defender-threshold'),
          banMs: parseDuration(opts.defenderBanTime),
          // Loopback is always safe (see defender.ts); --defender-safe adds networks.
          safeList: [...DEFAULT_DEFENDER.safeList, ...new CidrList(opts.defenderSafe).entries],
        },
        ttlSweepIntervalMs: parseDuration(opts.ttlSweepInterval),
        store: opts.store.map(parseStoreSpec),
        connections: {
          maxPerAddress: count(opts.maxConnectionsPerIp, '--max-connections-per-ip'),
          headersTimeoutMs: parseDuration(opts.headersTimeout),
          bodyTimeoutMs: parseDuration(opts.bodyTimeout),
          bodyMinRate: parseSize(opts.bodyMinRate),
        },
        remotes: opts.store.length > 0 ? await readRemotes(remotesPath()) : undefined,
        ...(opts.sftpAddr ? { sftp: { ...parseAddr(opts.sftpAddr, DEFAULT_SFTP_PORT, '--sftp-addr'), passwordAuth: opts.sftpPasswordAuth === true } } : {}),
      });
      if (opts.sftpPasswordAuth && !opts.sftpAddr) throw new UsageError('--sftp-password-auth needs --sftp-addr');
      // The server stack (Fastify, Kysely, SQLite) is loaded only by this command.
      const { startServer } = await import('../../server/app.js');
      const server = await startServer(config);
      // The ready line goes to stdout whatever the log level: scripts and tests wait for it.
      const ready: Record<string, unknown> = { event: 'ready', url: server.url, data: config.dataDir, store: (config.store ?? []).map((s) => `${s.prefix}=${redactRemote(s.remote)}`), version: VERSION };
      if (server.tls) ready.tlsFingerprint = server.tls.fingerprint;
      if (server.sftp) {
        ready.sftp = `${server.sftp.host.includes(':') ? `[${server.sftp.host}]` : server.sftp.host}:${server.sftp.port}`;
        ready.sftpHostKeys = server.sftp.hostKeys.map((k) => ({ type: k.type, fingerprint: k.fingerprint }));
      }
      process.stdout.write(JSON.stringify(ready) + '\n');
      if (server.sftp) {
        // As sshd prints them: what clients show on first contact, to compare with.
        const lines = server.sftp.hostKeys.map((k) => `  ${k.fingerprint} (${k.type})`).join('\n');
        process.stderr.write(`\nFerry serves SFTP on ${ready.sftp as string}. Host key fingerprints:\n${lines}\n\n`);
        server.app.log.info({ sftp: ready.sftp, hostKeys: ready.sftpHostKeys }, 'sftp listening');
      }
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
      if (server.tokenFile) {
        // The token goes through stdin, not the command line (shell history, ps).
        const pin = server.tls?.selfSigned ? ` --fingerprint ${server.tls.fingerprint}` : '';
        const login = `Log in with:  ferry login ${server.url} --token - < ${server.tokenFile}${pin}`;
        process.stderr.write(
          server.generatedToken
            ? `\nFerry admin token (shown once, also saved with mode 0600 in ${server.tokenFile}):\n\n  ${server.generatedToken}\n\n${login}\n\n`
            : `\nThe admin token made at the first start is in ${server.tokenFile} (remove the file once it is kept elsewhere).\n${login}\n\n`,
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
