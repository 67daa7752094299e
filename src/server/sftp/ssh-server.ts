/**
 * The SFTP front (`ferry serve --sftp-addr`): an SSH server (ssh2's Server: the transport,
 * key exchange, host keys, channels) whose only service is the `sftp` subsystem
 * (./sftp-session.ts over ./ferry-fs.ts).
 *
 * A connection passes, in this order, what an HTTP request passes: the global address
 * lists, the defender (a banned address is told so in one line and dropped before any key
 * exchange, which would cost us CPU), the per-address rate limit (one hit per connection),
 * and `maxConnectionsPerIp` open connections per address, as over HTTP. A connection has
 * LOGIN_GRACE_MS from when it is accepted to log in, or it is dropped.
 * Then SSH authentication and its sessions (./ssh-connection.ts): a public key registered
 * for the user (`ferry user key add`), or the user's password when `--sftp-password-auth`
 * allows it, the user's own address lists applying. Shells, commands (legacy `scp -O`,
 * rsync) and forwarding are refused with a message that says what to use instead.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import ssh2 from 'ssh2';
// ssh2's own crypto module: whether its native binding loaded decides the ciphers offered.
import ssh2Crypto from 'ssh2/lib/protocol/crypto.js';
import type { Connection } from 'ssh2';
import { VERSION } from '../../core/version.js';
import type { ServerContext } from '../context.js';
import { addressKey, IpPolicy, normalizeIp } from '../ip-filter.js';
import { loadHostKeys, type HostKey } from './host-keys.js';
import { SpoolDir } from './spool.js';
import { LOGIN_GRACE_MS, SshConnection } from './ssh-connection.js';

export interface SftpFrontOptions {
  host: string;
  port: number;
  /** Accept passwords over SSH (users who have one); public keys only otherwise. */
  passwordAuth: boolean;
  /** Time a connection has from when it is accepted to log in (default LOGIN_GRACE_MS). */
  loginGraceMs?: number;
  dataDir: string;
  log: FastifyBaseLogger;
}

export interface SftpFront {
  host: string;
  /** The port bound (0 picks a free one). */
  port: number;
  hostKeys: HostKey[];
  close(): Promise<void>;
  /** Ends every connection at once (the drain deadline passed while close() waited for sessions). */
  cut(): void;
}

/** Open connections at once (beyond: closed at once). */
const MAX_CONNECTIONS = 1000;

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


export async function startSftpFront(ctx: ServerContext, o: SftpFrontOptions): Promise<SftpFront> {
  const hostKeys = await loadHostKeys(o.dataDir);
  if (!sshCryptoIsNative()) o.log.warn('sftp: ssh2 runs without its native crypto binding (npm rebuild ssh2 builds it): only AES-GCM is offered, and transfers cost more CPU');
  const spool = new SpoolDir(join(o.dataDir, 'tmp', 'sftp'));
  await spool.prepare();
  const globalIps = liveIpPolicy(ctx);
  const methods: ssh2.AuthenticationType[] = o.passwordAuth ? ['publickey', 'password'] : ['publickey'];
  const connections = new Map<Connection, SshConnection>();
  // SFTP sessions running: close() waits for them (an upload cut off is kept as a partial first).
  const running = new Set<Promise<void>>();

  // Sockets admitted that have not logged in yet, by their remote end (ssh2 names a connection
  // by it): each is destroyed when its grace runs out. ssh2 sets no timer of its own before
  // the client's version line, and the connection's own grace (ssh-connection.ts) only
  // starts after it, so without this a socket that sent nothing was held for ever.
  const unauthenticated = new Map<string, { socket: Socket; grace: NodeJS.Timeout }>();
  const endOf = (ip: string | undefined, port: number | undefined) => `${ip}|${port}`;
  const perAddress = new Map<string, number>();

  const ssh = new ssh2.Server(
    {
      hostKeys: hostKeys.map((k) => k.privateKey),
      ident: `Ferry_${VERSION}`,
      algorithms: { cipher: offeredCiphers(sshCryptoIsNative()) },
    },
    (client, info) => {
      const pending = unauthenticated.get(endOf(info.ip, info.port));
      client.once('ready', () => {
        if (pending) clearTimeout(pending.grace);
      });
      connections.set(client, new SshConnection(ctx, o, { client, ip: normalizeIp(info.ip ?? ''), methods, spool, running }));
      client.once('close', () => connections.delete(client));
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
    // Open sockets per address, counted as the HTTP server counts them (slow-clients.ts): one
    // client holding every connection the front takes would lock every other user out.
    const address = addressKey(ip);
    const open = (perAddress.get(address) ?? 0) + 1;
    perAddress.set(address, open);
    const end = endOf(socket.remoteAddress, socket.remotePort);
    const grace = setTimeout(() => socket.destroy(), o.loginGraceMs ?? LOGIN_GRACE_MS);
    grace.unref();
    unauthenticated.set(end, { socket, grace });
    socket.once('close', () => {
      clearTimeout(grace);
      if (unauthenticated.get(end)?.socket === socket) unauthenticated.delete(end);
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left <= 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
    const maxPerAddress = ctx.config.connections.maxPerAddress;
    if (maxPerAddress > 0 && open > maxPerAddress) {
      o.log.warn({ ip, max: maxPerAddress }, 'sftp: connection refused: too many from this address');
      socket.end(`Ferry: too many connections from ${ip}, try again later\r\n`, () => socket.destroy());
      return;
    }
    void admit(ctx, globalIps(), ip).then((refusal) => {
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
      // No new connection (refused: a client goes to another node); each open one ends once
      // no upload is in flight on it, so that uploads finish (or the drain deadline cuts them).
      const closed = new Promise<void>((resolve) => gate.close(() => resolve()));
      for (const c of connections.values()) c.drain();
      await Promise.allSettled([...running]);
      // Clients that do not answer the disconnect are not waited for.
      const stragglers = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, 2000);
      await closed;
      clearTimeout(stragglers);
    },
    cut() {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/**
 * The server's global allow and deny lists as they are now: a reload (SIGHUP) replaces the
 * arrays in the shared config, and the policy is made again only when they changed.
 */
function liveIpPolicy(ctx: ServerContext): () => IpPolicy {
  let allow = ctx.config.ipAllow;
  let deny = ctx.config.ipDeny;
  let policy = new IpPolicy(allow, deny);
  return () => {
    if (ctx.config.ipAllow !== allow || ctx.config.ipDeny !== deny) {
      allow = ctx.config.ipAllow;
      deny = ctx.config.ipDeny;
      policy = new IpPolicy(allow, deny);
    }
    return policy;
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

