/**
 * Graceful close for the HTTPS server (HTTP/2 with HTTP/1.1 fallback). Node's
 * Http2SecureServer has no `closeIdleConnections`, so Fastify cannot drop idle keep-alive
 * connections on close and `server.close()` would wait for clients to hang up. This tracks
 * connections: on close, HTTP/2 sessions get a GOAWAY (running streams finish), idle
 * HTTP/1.1 sockets are closed at once, busy ones as soon as their response is done, and
 * whatever is still open after `graceMs` (a client that stopped reading) is destroyed.
 */
import type { Http2SecureServer, Http2Session } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export class ConnectionTracker {
  private readonly busy = new Map<Socket, number>();
  private readonly sessions = new Set<Http2Session>();
  private closing = false;

  constructor(
    server: Http2SecureServer,
    private readonly graceMs = 5000,
  ) {
    server.on('secureConnection', (socket: Socket) => {
      if (this.closing) {
        socket.destroy();
        return;
      }
      this.busy.set(socket, 0);
      socket.once('close', () => this.busy.delete(socket));
    });
    server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      if (this.closing) session.close();
    });
    // HTTP/1.1 requests (ALPN fell back) arrive as plain request/response pairs.
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (req.httpVersionMajor !== 1) return;
      const socket = req.socket;
      this.busy.set(socket, (this.busy.get(socket) ?? 0) + 1);
      res.once('close', () => {
        const left = (this.busy.get(socket) ?? 1) - 1;
        this.busy.set(socket, left);
        if (this.closing && left === 0) socket.destroy();
      });
    });
  }

  /** Call when the server starts closing. */
  closeAll(): void {
    this.closing = true;
    for (const session of this.sessions) session.close();
    for (const [socket, n] of this.busy) {
      const isH2 = (socket as Socket & { alpnProtocol?: string | false }).alpnProtocol === 'h2';
      if (!isH2 && n === 0) socket.destroy();
    }
    setTimeout(() => {
      for (const session of this.sessions) session.destroy();
      for (const socket of this.busy.keys()) socket.destroy();
    }, this.graceMs).unref();
  }
}

/**
 * Every connection a server accepted and has not closed, for the drain deadline
 * (`drainTimeout`): `destroyAll()` ends them all at once, whatever they are doing, and says
 * how many there were. A TCP socket under TLS too: destroying it ends the TLS connection.
 */
export function trackSockets(server: { on(event: 'connection', listener: (socket: Socket) => void): unknown }): { destroyAll(): number } {
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return {
    destroyAll() {
      const n = open.size;
      for (const socket of open) socket.destroy();
      return n;
    },
  };
}
