/**
 * The SFTP front (`ferry serve --sftp-addr`): an SSH server (ssh2's Server: the transport,
 * key exchange, host keys, channels) whose only service is the `sftp` subsystem
 * (./sftp-session.ts over ./ferry-fs.ts).
 *
 * A connection passes, in this order, what an HTTP request passes: the global address
 * lists, the defender (a banned address is told so in one line and dropped before any key
 * exchange, which would cost us CPU), the per-address rate limit (one hit per connection).
 * Then SSH authentication: a public key registered for the user (`ferry user key add`), or
 * the user's password when `--sftp-password-auth` allows it; the user's own address lists
 * apply. Password attempts are rate-limited per address (rateLimit.authPerIp) and each
 * failure scores for the defender; public-key failures score once per connection, as
 * SFTPGo does, because clients try every key they hold before the right one. A connection
 * gets MAX_AUTH_ATTEMPTS attempts and LOGIN_GRACE_MS to authenticate.
 *
 * Shells, commands (legacy `scp -O`, rsync) and forwarding are refused with a message that
 * says what to use instead.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import ssh2 from 'ssh2';
// ssh2's own crypto module: whether its native binding loaded decides the ciphers offered.
import ssh2Crypto from 'ssh2/lib/protocol/crypto.js';
import type { AuthContext as Ssh2AuthContext, Connection, ServerChannel } from 'ssh2';
import { VERSION } from '../../core/version.js';
import type { UserRow } from '../../store/auth-store.js';
import type { ServerContext } from '../app.js';
import { defenderEventOf, userIpPolicy } from '../auth.js';
import type { DefenderEvent } from '../defender.js';
import { IpPolicy, normalizeIp } from '../ip-filter.js';
import { fingerprintOf } from './authorized-keys.js';
import { FerryFs } from './ferry-fs.js';
import { loadHostKeys, type HostKey } from './host-keys.js';
import { SftpSession } from './sftp-session.js';
import { SpoolDir } from './spool.js';
import { SshLogin, type SshCredential } from './ssh-login.js';

export interface SftpFrontOptions {
  host: string;
  port: number;
  /** Accept passwords over SSH (users who have one); public keys only otherwise. */
  passwordAuth: boolean;
  dataDir: string;
  log: FastifyBaseLogger;
}

export interface SftpFront {
  host: string;
  /** The port bound (0 picks a free one). */
  port: number;
  hostKeys: HostKey[];
  close(): Promise<void>;
}

/** Authentication requests (keys tried, passwords) one connection may make. */
const MAX_AUTH_ATTEMPTS = 10;
/** Time a connection has to authenticate. */
const LOGIN_GRACE_MS = 60_000;
/** Open connections at once (beyond: closed at once). */
const MAX_CONNECTIONS = 1000;
/** Session channels per connection (OpenSSH's MaxSessions). */
const MAX_SESSIONS = 10;

/**
 * Ciphers offered. The client picks the first of its own list that the server offers, so
 * the list decides by what it leaves out. With ssh2's native crypto binding (built by npm
 * install from source; package.json allows ssh2's install script) ChaCha20-Poly1305 and
 * AES-GCM each cost one native call per packet, and everything is offered. Without it,
 * ssh2 computes Poly1305 in JavaScript and makes a new OpenSSL cipher object for every
 * AES-GCM packet; ChaCha20-Poly1305, which OpenSSH's client would pick first, is then
 * left out (measured here, 1 GiB received: 4.3 s of server CPU with it, 3.4 s with AES-GCM,
 * 2.4 s with the binding), and so is AES-CTR, which the client prefers to AES-GCM and which
 * costs a second pass (HMAC). Every maintained client speaks AES-GCM (OpenSSH since 6.2,
 * PuTTY/WinSCP since 0.76/5.19, FileZilla, rclone, Go's x/crypto).
 */
export function offeredCiphers(native: boolean): ssh2.CipherAlgorithm[] {
  return native
    ? ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr']
    : ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com'];
}

/** Whether ssh2's optional native crypto binding was built (npm install compiles it; it may fail quietly). */
export function sshCryptoIsNative(): boolean {
  return (ssh2Crypto as { bindingAvailable?: boolean }).bindingAvailable === true;
}

const USE_INSTEAD = 'Ferry serves files over SFTP only: use sftp, scp (OpenSSH 9 and later speaks SFTP: do not pass -O), rclone, sshfs, WinSCP or FileZilla.';

export async function startSftpFront(ctx: ServerContext, o: SftpFrontOptions): Promise<SftpFront> {
  const hostKeys = await loadHostKeys(o.dataDir);
  if (!sshCryptoIsNative()) o.log.warn('sftp: ssh2 runs without its native crypto binding (npm rebuild ssh2 builds it): only AES-GCM is offered, and transfers cost more CPU');
  const spool = new SpoolDir(join(o.dataDir, 'tmp', 'sftp'));
  await spool.prepare();
  const globalIps = new IpPolicy(ctx.config.ipAllow, ctx.config.ipDeny);
  const methods: ssh2.AuthenticationType[] = o.passwordAuth ? ['publickey', 'password'] : ['publickey'];
  const connections = new Set<Connection>();
  // SFTP sessions running: close() waits for them (an upload cut off is kept as a partial first).
  const running = new Set<Promise<void>>();

  const ssh = new ssh2.Server(
    {
      hostKeys: hostKeys.map((k) => k.privateKey),
      ident: `Ferry_${VERSION}`,
      algorithms: { cipher: offeredCiphers(sshCryptoIsNative()) },
    },
    (client, info) => {
      connections.add(client);
      client.once('close', () => connections.delete(client));
      serveConnection(ctx, o, { client, ip: normalizeIp(info.ip ?? ''), methods, spool, running });
    },
  );
  ssh.on('error', (err: Error) => o.log.warn({ err }, 'sftp: server error'));

  // Our own listener, handing sockets to ssh2 once they passed the gate: a refused address
  // costs one line, not a key exchange.
  const sockets = new Set<Socket>();
  const gate: NetServer = createServer({ pauseOnConnect: true }, (socket: Socket) => {
    socket.on('error', () => undefined);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const ip = normalizeIp(socket.remoteAddress ?? '');
    void admit(ctx, globalIps, ip).then((refusal) => {
      if (refusal === undefined && connections.size < MAX_CONNECTIONS) {
        // SFTP is requests and answers: without this, Nagle's algorithm holds a small answer
        // back until the client's delayed ACK (tens of ms per request for clients that wait).
        socket.setNoDelay(true);
        ssh.injectSocket(socket);
        socket.resume();
        return;
      }
      o.log.info({ ip, reason: refusal ?? 'too many connections' }, 'sftp: connection refused');
      // Lines before the version string are allowed (RFC 4253 4.2); clients show them with -v.
      socket.end(`Ferry: ${refusal ?? 'too many connections, try again later'}\r\n`, () => socket.destroy());
    });
  });
  gate.maxConnections = MAX_CONNECTIONS * 2;
  await new Promise<void>((resolve, reject) => {
    gate.once('error', reject);
    gate.listen(o.port, o.host, () => {
      gate.off('error', reject);
      resolve();
    });
  });
  gate.on('error', (err) => o.log.error({ err }, 'sftp: listener error'));
  const bound = gate.address();
  const port = typeof bound === 'object' && bound ? bound.port : o.port;
  return {
    host: o.host,
    port,
    hostKeys,
    async close() {
      const closed = new Promise<void>((resolve) => gate.close(() => resolve()));
      for (const c of connections) c.end();
      await Promise.allSettled([...running]);
      // Clients that do not answer the disconnect are not waited for.
      const stragglers = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, 2000);
      await closed;
      clearTimeout(stragglers);
    },
  };
}

/** Why a new connection from `ip` is refused, or undefined when it may go on. */
async function admit(ctx: ServerContext, globalIps: IpPolicy, ip: string): Promise<string | undefined> {
  if (!globalIps.permits(ip)) return `this server does not accept connections from ${ip}`;
  const ban = ctx.defender.checkBanned(ip);
  if (ban) return `${ip} is banned until ${new Date(ban.until).toISOString()} after repeated authentication failures`;
  try {
    await ctx.limiters.perIp({ ip });
  } catch (err) {
    return err instanceof Error ? err.message : 'too many connections';
  }
  return undefined;
}

interface Conn {
  client: Connection;
  ip: string;
  methods: ssh2.AuthenticationType[];
  spool: SpoolDir;
  running: Set<Promise<void>>;
}

/** One SSH connection: authentication, then its session channels. */
function serveConnection(ctx: ServerContext, o: SftpFrontOptions, c: Conn): void {
  const { client, ip } = c;
  let attempts = 0;
  let login: SshLogin | undefined;
  let user: UserRow | undefined;
  let sessions = 0;
  const keysTried = new Set<string>();
  let keyUser: { name: string; exists: boolean } | undefined;
  const grace = setTimeout(() => client.end(), LOGIN_GRACE_MS);
  grace.unref();

  // ssh2 reports protocol errors and resets here; an 'error' nobody listens to would end the process.
  client.on('error', (err: Error) => o.log.debug({ err, ip }, 'sftp: connection error'));
  client.on('close', () => {
    clearTimeout(grace);
    if (login || keysTried.size === 0 || !keyUser) return;
    // Public keys that opened nothing: one failure for the whole connection.
    void reportFailure(ctx, ip, keyUser.name, keyUser.exists ? 'valid' : 'invalid', { method: 'publickey', reason: 'no registered key of the user was offered', keys: [...keysTried].slice(0, 10) });
  });

  client.on('authentication', (auth: Ssh2AuthContext) => {
    void authenticate(auth).catch((err: unknown) => {
      o.log.error({ err, ip }, 'sftp: authentication failed unexpectedly');
      auth.reject(c.methods);
    });
  });

  const authenticate = async (auth: Ssh2AuthContext): Promise<void> => {
    if (++attempts > MAX_AUTH_ATTEMPTS || ctx.defender.checkBanned(ip)) {
      auth.reject();
      client.end();
      return;
    }
    if (auth.method === 'publickey') return publicKey(auth as ssh2.PublicKeyAuthContext);
    if (auth.method === 'password' && c.methods.includes('password')) return password(auth as ssh2.PasswordAuthContext);
    auth.reject(c.methods);
  };

  const publicKey = async (auth: ssh2.PublicKeyAuthContext): Promise<void> => {
    const blob = auth.key.data;
    const fingerprint = fingerprintOf(blob);
    const row = auth.username.length <= 64 ? await ctx.users.userByName(auth.username) : undefined;
    const key = row && !row.disabled ? await ctx.sshKeys.findKey(row.id, blob.toString('base64')) : undefined;
    if (!row || !key) {
      keysTried.add(fingerprint);
      keyUser = { name: auth.username.slice(0, 64), exists: row !== undefined };
      return auth.reject(c.methods);
    }
    // Without a signature the client only asks whether the key would do. (Signed attempts
    // are not held to the password-attempt rate: a key cannot be guessed, and scripts that
    // run scp in a loop log in many times a minute; MAX_AUTH_ATTEMPTS and the per-address
    // connection rate bound the signatures one address can make us check.)
    if (!auth.signature || !auth.blob) return auth.accept();
    const parsed = ssh2.utils.parseKey(`${key.type} ${key.public_key}`);
    const pk = Array.isArray(parsed) ? parsed[0] : parsed;
    if (pk instanceof Error || !pk.verify(auth.blob, auth.signature, auth.hashAlgo)) {
      await reportFailure(ctx, ip, row.name, 'valid', { method: 'publickey', key: fingerprint, reason: 'bad signature' });
      return auth.reject(c.methods);
    }
    if (!userIpPolicy(row).permits(ip)) {
      await ctx.audit.record(null, { event: 'auth.failure', ok: false, front: 'sftp', ip, userId: row.id, userName: row.name, details: { method: 'publickey', key: fingerprint, reason: `the account may not be used from ${ip}` } });
      return auth.reject(c.methods);
    }
    await succeed(row, { method: 'publickey', keyId: key.id, publicKey: key.public_key, fingerprint }, auth);
    await ctx.sshKeys.touch(key.id, ctx.now());
  };

  const password = async (auth: ssh2.PasswordAuthContext): Promise<void> => {
    try {
      await ctx.limiters.authPerIp({ ip });
    } catch {
      return auth.reject(c.methods);
    }
    let row: UserRow;
    try {
      row = await ctx.auth.checkPassword(auth.username, auth.password, ip);
    } catch (err) {
      const event = defenderEventOf(err);
      if (event) await reportFailure(ctx, ip, auth.username.slice(0, 64), event, { method: 'password', reason: err instanceof Error ? err.message : String(err) });
      else await ctx.audit.record(null, { event: 'auth.failure', ok: false, front: 'sftp', ip, userName: auth.username.slice(0, 64), details: { method: 'password', reason: err instanceof Error ? err.message : String(err) } });
      return auth.reject(c.methods);
    }
    await succeed(row, { method: 'password', passwordHash: row.password_hash! }, auth);
  };

  const succeed = async (row: UserRow, credential: SshCredential, auth: ssh2.AuthContext): Promise<void> => {
    login = await SshLogin.start(ctx, row, credential, ip);
    user = row;
    const a = login.known;
    await ctx.audit.record(null, {
      event: 'auth.login',
      ok: true,
      front: 'sftp',
      ip,
      userId: a.userId,
      userName: a.userName,
      tokenId: a.tokenId,
      details: { method: credential.method, ...(credential.method === 'publickey' ? { key: credential.fingerprint } : {}) },
    });
    auth.accept();
  };

  client.on('ready', () => {
    clearTimeout(grace);
    o.log.info({ ip, user: user?.name }, 'sftp: logged in');
  });

  client.on('session', (accept) => {
    if (!login || ++sessions > MAX_SESSIONS) return;
    const session = accept();
    session.on('subsystem', (acceptSub, reject, info) => {
      if (info.name !== 'sftp') return reject();
      const channel = acceptSub() as unknown as ServerChannel;
      const fs = new FerryFs({ ctx, login: login!, spool: c.spool, log: o.log, dataDir: o.dataDir, onLoginEnded: () => client.end() });
      const socket = (client as unknown as { _sock?: Socket })._sock;
      const run = new SftpSession(channel, fs, (code) => channel.exit(code), socket).run().catch((err: unknown) => o.log.error({ err, ip }, 'sftp: session failed'));
      c.running.add(run);
      void run.finally(() => c.running.delete(run));
    });
    const refuse = (channel: ServerChannel | undefined, what: string) => {
      if (!channel) return;
      channel.stderr.write(`${what}\r\n${USE_INSTEAD}\r\n`);
      channel.exit(1);
      channel.end();
    };
    session.on('exec', (acceptExec, _reject, info) => refuse(acceptExec(), `This server runs no commands (asked for: ${info.command.slice(0, 80)}).`));
    session.on('shell', (acceptShell) => refuse(acceptShell(), 'This server has no shell.'));
    session.on('pty', (acceptPty) => acceptPty?.());
    session.on('env', (acceptEnv) => acceptEnv?.());
  });
}

/** Audits an authentication failure and scores it for the defender (which may ban the address). */
async function reportFailure(ctx: ServerContext, ip: string, userName: string, event: DefenderEvent, details: Record<string, unknown>): Promise<void> {
  await ctx.audit.record(null, { event: 'auth.failure', ok: false, front: 'sftp', ip, userName, details });
  const ban = ctx.defender.record(ip, event);
  if (ban) await ctx.audit.record(null, { event: 'defender.ban', ok: true, front: 'sftp', ip, target: ban.ip, userName, details: { until: ban.until } });
}
