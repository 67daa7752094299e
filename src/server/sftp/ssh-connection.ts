/**
 * One SSH connection to the SFTP front: its authentication (a registered public key, or the
 * user's password where allowed), then its session channels, each of which may run the
 * `sftp` subsystem (./sftp-session.ts over ./ferry-fs.ts); shells and commands get a message
 * saying what to use instead.
 *
 * Failures feed the defender and the audit log: a wrong password each time; public keys
 * that opened nothing once for the whole connection when it closes (clients offer every key
 * they hold, so counting each would ban anyone with a few keys in their agent). A
 * connection gets MAX_AUTH_ATTEMPTS attempts and LOGIN_GRACE_MS to authenticate.
 */
import type { Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { AuthContext as Ssh2AuthContext, Connection, ServerChannel, Session } from 'ssh2';
import type { UserRow } from '../../store/auth-store.js';
import type { ServerContext } from '../context.js';
import { defenderEventOf, userIpPolicy } from '../auth.js';
import type { DefenderEvent } from '../defender.js';
import { fingerprintOf } from './authorized-keys.js';
import { FerryFs } from './ferry-fs.js';
import { SftpSession } from './sftp-session.js';
import type { SftpFrontOptions } from './ssh-server.js';
import type { SpoolDir } from './spool.js';
import { SshLogin, type SshCredential } from './ssh-login.js';

/** Authentication requests (keys tried, passwords) one connection may make. */
const MAX_AUTH_ATTEMPTS = 10;
/** Time a connection has to authenticate. */
export const LOGIN_GRACE_MS = 60_000;
/**
 * How long a draining connection whose last file just closed is left to its client: `sftp -b`
 * and scp end the connection themselves once their transfer is done.
 */
const DRAIN_IDLE_GRACE_MS = 2000;
/** Session channels per connection (OpenSSH's MaxSessions). */
const MAX_SESSIONS = 10;

const USE_INSTEAD = 'Ferry serves files over SFTP only: use sftp, scp (OpenSSH 9 and later speaks SFTP: do not pass -O), rclone, sshfs, WinSCP or FileZilla.';

export interface ConnectionEnv {
  client: Connection;
  /** The client's address, normalized. */
  ip: string;
  /** Authentication methods offered. */
  methods: ssh2.AuthenticationType[];
  spool: SpoolDir;
  /** SFTP sessions running (the front's close waits for them). */
  running: Set<Promise<void>>;
}

export class SshConnection {
  private attempts = 0;
  private login: SshLogin | undefined;
  private sessions = 0;
  /** The file systems of this connection's SFTP sessions (what the drain asks whether an upload is open). */
  private readonly fses = new Set<FerryFs>();
  private draining = false;
  /** Fingerprints of keys offered that opened nothing, and for which user name. */
  private readonly keysTried = new Set<string>();
  private keyUser: { name: string; exists: boolean } | undefined;
  private readonly client: Connection;
  private readonly ip: string;
  /** When the login succeeded (performance.now()). */
  private since = 0;

  constructor(
    private readonly ctx: ServerContext,
    private readonly o: SftpFrontOptions,
    private readonly env: ConnectionEnv,
  ) {
    this.client = env.client;
    this.ip = env.ip;
    const grace = setTimeout(() => this.client.end(), LOGIN_GRACE_MS);
    grace.unref();
    // ssh2 reports protocol errors and resets here; an 'error' nobody listens to would end the process.
    this.client.on('error', (err: Error) => o.log.debug({ err, ip: this.ip }, 'sftp: connection error'));
    this.client.on('close', () => {
      clearTimeout(grace);
      this.closed();
      // The SFTP counterpart of the access log's line: who, from where, for how long (the
      // files it moved are in the audit log).
      if (this.login) o.log.info({ ip: this.ip, user: this.login.known.userName, ms: Math.round(performance.now() - this.since) }, 'sftp: connection closed');
    });
    this.client.on('authentication', (auth: Ssh2AuthContext) => {
      void this.authenticate(auth).catch((err: unknown) => {
        o.log.error({ err, ip: this.ip }, 'sftp: authentication failed unexpectedly');
        auth.reject(env.methods);
      });
    });
    this.client.on('ready', () => {
      clearTimeout(grace);
      this.since = performance.now();
      o.log.info({ ip: this.ip, user: this.login?.known.userName }, 'sftp: logged in');
    });
    this.client.on('session', (accept, reject) => {
      if (!this.login || ++this.sessions > MAX_SESSIONS) return reject?.();
      this.session(accept());
    });
  }

  /**
   * The server is shutting down: the connection ends as soon as no file is open on it (at
   * once when none is), so that an upload or a download in flight finishes (until the drain
   * deadline cuts it: ssh-server.ts). New uploads are refused meanwhile (FerryFs); new
   * downloads are not, as over HTTP.
   */
  drain(): void {
    this.draining = true;
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.draining && ![...this.fses].some((fs) => fs.transferring)) this.client.end();
  }

  /**
   * During a drain, once the last open file closed: the connection ends after
   * {@link DRAIN_IDLE_GRACE_MS} unless a file is open again or the client left first (the
   * drain's deadline ends it whatever happens).
   */
  private endIfIdleSoon(): void {
    if (!this.draining) return;
    const timer = setTimeout(() => this.endIfIdle(), DRAIN_IDLE_GRACE_MS);
    timer.unref();
    this.client.once('close', () => clearTimeout(timer));
  }

  /** Public keys that opened nothing: one failure for the whole connection. */
  private closed(): void {
    if (this.login || this.keysTried.size === 0 || !this.keyUser) return;
    void this.failure(this.keyUser.name, this.keyUser.exists ? 'valid' : 'invalid', {
      method: 'publickey',
      reason: 'no registered key of the user was offered',
      keys: [...this.keysTried].slice(0, 10),
    });
  }

  private async authenticate(auth: Ssh2AuthContext): Promise<void> {
    if (++this.attempts > MAX_AUTH_ATTEMPTS || this.ctx.defender.checkBanned(this.ip)) {
      auth.reject();
      this.client.end();
      return;
    }
    if (auth.method === 'publickey') return this.publicKey(auth as ssh2.PublicKeyAuthContext);
    if (auth.method === 'password' && this.env.methods.includes('password')) return this.password(auth as ssh2.PasswordAuthContext);
    auth.reject(this.env.methods);
  }

  private async publicKey(auth: ssh2.PublicKeyAuthContext): Promise<void> {
    const { ctx, ip } = this;
    const blob = auth.key.data;
    const fingerprint = fingerprintOf(blob);
    const row = auth.username.length <= 64 ? await ctx.users.userByName(auth.username) : undefined;
    const key = row && !row.disabled ? await ctx.sshKeys.findKey(row.id, blob.toString('base64'), ctx.now()) : undefined;
    if (!row || !key) {
      this.keysTried.add(fingerprint);
      this.keyUser = { name: auth.username.slice(0, 64), exists: row !== undefined };
      return auth.reject(this.env.methods);
    }
    // Without a signature the client only asks whether the key would do. (Signed attempts
    // are not held to the password-attempt rate: a key cannot be guessed, and scripts that
    // run scp in a loop log in many times a minute; MAX_AUTH_ATTEMPTS and the per-address
    // connection rate bound the signatures one address can make us check.)
    if (!auth.signature || !auth.blob) return auth.accept();
    const parsed = ssh2.utils.parseKey(`${key.type} ${key.public_key}`);
    const pk = Array.isArray(parsed) ? parsed[0] : parsed;
    if (pk instanceof Error || !pk.verify(auth.blob, auth.signature, auth.hashAlgo)) {
      await this.failure(row.name, 'valid', { method: 'publickey', key: fingerprint, reason: 'bad signature' });
      return auth.reject(this.env.methods);
    }
    if (!userIpPolicy(row).permits(ip)) {
      await ctx.audit.record(null, { event: 'auth.failure', ok: false, front: 'sftp', ip, userId: row.id, userName: row.name, details: { method: 'publickey', key: fingerprint, reason: `the account may not be used from ${ip}` } });
      return auth.reject(this.env.methods);
    }
    await this.succeed(row, { method: 'publickey', keyId: key.id, publicKey: key.public_key, fingerprint }, auth);
    await ctx.sshKeys.touch(key.id, ctx.now());
  }

  private async password(auth: ssh2.PasswordAuthContext): Promise<void> {
    const { ctx, ip } = this;
    try {
      await ctx.limiters.authPerIp({ ip });
    } catch {
      return auth.reject(this.env.methods);
    }
    let row: UserRow;
    try {
      row = await ctx.auth.checkPassword(auth.username, auth.password, ip);
    } catch (err) {
      const name = auth.username.slice(0, 64);
      const reason = err instanceof Error ? err.message : String(err);
      const event = defenderEventOf(err);
      if (event) await this.failure(name, event, { method: 'password', reason });
      else await ctx.audit.record(null, { event: 'auth.failure', ok: false, front: 'sftp', ip, userName: name, details: { method: 'password', reason } });
      return auth.reject(this.env.methods);
    }
    await this.succeed(row, { method: 'password', passwordHash: row.password_hash! }, auth);
  }

  private async succeed(row: UserRow, credential: SshCredential, auth: ssh2.AuthContext): Promise<void> {
    this.login = await SshLogin.start(this.ctx, row, credential, this.ip);
    const a = this.login.known;
    await this.ctx.audit.record(null, {
      event: 'auth.login',
      ok: true,
      front: 'sftp',
      ip: this.ip,
      userId: a.userId,
      userName: a.userName,
      tokenId: a.tokenId,
      details: { method: credential.method, ...(credential.method === 'publickey' ? { key: credential.fingerprint } : {}) },
    });
    auth.accept();
  }

  /** Audits an authentication failure and scores it for the defender (which may ban the address). */
  private async failure(userName: string, event: DefenderEvent, details: Record<string, unknown>): Promise<void> {
    const { ctx, ip } = this;
    await ctx.audit.record(null, { event: 'auth.failure', ok: false, front: 'sftp', ip, userName, details });
    const ban = await ctx.scoreFailure(ip, event);
    if (ban) await ctx.audit.record(null, { event: 'defender.ban', ok: true, front: 'sftp', ip, target: ban.ip, userName, details: { until: ban.until } });
  }

  /** A session channel: the `sftp` subsystem, or a polite refusal of anything else. */
  private session(session: Session): void {
    session.on('subsystem', (accept, reject, info) => {
      if (info.name !== 'sftp') return reject();
      const channel = accept() as unknown as ServerChannel;
      const socket = (this.client as unknown as { _sock?: Socket })._sock;
      // Ends a file's wait for memory when the client goes (the session waits with it, unread).
      const closed = new AbortController();
      if (socket?.destroyed) closed.abort();
      else socket?.once('close', () => closed.abort());
      const fs = new FerryFs({
        ctx: this.ctx,
        login: this.login!,
        spool: this.env.spool,
        log: this.o.log,
        dataDir: this.o.dataDir,
        onLoginEnded: () => this.client.end(),
        closed: closed.signal,
        // Not at once: a client whose transfer just ended (`sftp -b`, scp) ends the connection
        // itself a moment later, and one ended under it reports a failure (exit 255).
        fileClosed: () => this.endIfIdleSoon(),
      });
      this.fses.add(fs);
      const run = new SftpSession(channel, fs, (code) => channel.exit(code), socket).run().catch((err: unknown) => this.o.log.error({ err, ip: this.ip }, 'sftp: session failed'));
      this.env.running.add(run);
      void run.finally(() => {
        this.env.running.delete(run);
        this.fses.delete(fs);
      });
    });
    const refuse = (channel: ServerChannel | undefined, what: string) => {
      if (!channel) return;
      channel.stderr.write(`${what}\r\n${USE_INSTEAD}\r\n`);
      channel.exit(1);
      channel.end();
    };
    session.on('exec', (accept, _reject, info) => refuse(accept(), `This server runs no commands (asked for: ${info.command.slice(0, 80)}).`));
    session.on('shell', (accept) => refuse(accept(), 'This server has no shell.'));
    session.on('pty', (accept) => accept?.());
    session.on('env', (accept) => accept?.());
  }
}
