/**
 * How the client trusts a Ferry server's TLS certificate beyond the system's CAs:
 *
 * - `--ca FILE`: a PEM CA (a self-signed server's `DATA/tls/ca.crt`, a company CA); the
 *   usual checks apply (chain, expiry, host name);
 * - `--fingerprint SHA256:…`: pin the server certificate itself. The connection is accepted
 *   only if the certificate the server shows has exactly this SHA-256; chain and host name
 *   do not matter then (the pin is a stronger statement than both). Checked on every new
 *   connection, before a byte of the request is sent.
 *
 * A certificate that is not trusted ends in FERRY_ERR_TLS_UNTRUSTED with a message that
 * says what to do, never in a generic network error.
 */
import type { TLSSocket } from 'node:tls';
import type { buildConnector } from 'undici';
import { FerryError, TlsUntrustedError, UsageError } from '../core/errors.js';

export interface TlsTrust {
  /** PEM text of extra CA certificates. */
  ca?: string;
  /** Pinned server certificate, `SHA256:AB:CD:…` (any case; colons optional). */
  fingerprint?: string;
}

/** `sha256:abcd…` / `AB:CD:…` / `abcd…` -> `SHA256:AB:CD:…`; FERRY_ERR_USAGE if it is not 32 bytes of hex. */
export function normalizeFingerprint(text: string): string {
  const hex = text.trim().replace(/^sha-?256:/i, '').replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) throw new UsageError(`not a SHA-256 fingerprint: ${JSON.stringify(text)} (expected SHA256: and 32 hex bytes, as \`ferry serve\` prints it)`);
  return 'SHA256:' + hex.match(/../g)!.join(':');
}

/**
 * The `connect` option for an undici Pool/Agent implementing `trust`, or undefined when the
 * system's defaults apply.
 */
export function tlsConnector(trust: TlsTrust, build: typeof buildConnector): buildConnector.connector | undefined {
  if (!trust.ca && !trust.fingerprint) return undefined;
  if (!trust.fingerprint) return build({ ca: trust.ca });
  const pin = normalizeFingerprint(trust.fingerprint);
  // The pin replaces chain and name checks; a CA given as well is still required to match.
  // No TLS session resumption: a resumed session need not show the certificate again, and
  // the pin is checked on every connection.
  const base = build(trust.ca ? { ca: trust.ca, checkServerIdentity: () => undefined, maxCachedSessions: 0 } : { rejectUnauthorized: false, maxCachedSessions: 0 });
  return (options, callback) => {
    base(options, (err, socket) => {
      if (err || !socket) {
        callback(err ?? new Error('no socket'), null);
        return;
      }
      const tls = socket as TLSSocket;
      if (typeof tls.getPeerCertificate !== 'function') {
        socket.destroy();
        callback(new TlsUntrustedError(`a pinned fingerprint needs https://, not ${options.protocol}//`), null);
        return;
      }
      const presented = tls.getPeerCertificate().fingerprint256;
      const seen = presented ? 'SHA256:' + presented : 'no certificate';
      if (seen !== pin) {
        socket.destroy();
        callback(
          new TlsUntrustedError(`the server's certificate is ${seen}, not the pinned ${pin}: it changed, or this is not your server`, {
            details: { expected: pin, actual: seen },
          }),
          null,
        );
        return;
      }
      callback(null, socket);
    });
  };
}

/**
 * Dispatcher options for a Pool or Agent trusting per `trust`. `build` is undici's
 * buildConnector, passed in so that importing the SDK does not load undici (it loads with
 * the first request).
 */
export function tlsDispatcherOptions(trust: TlsTrust, build: typeof buildConnector): { connect?: buildConnector.connector } {
  const connect = tlsConnector(trust, build);
  return connect ? { connect } : {};
}

const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * If `err` (or its cause chain) is a certificate failure, the FERRY_ERR_TLS_UNTRUSTED that
 * explains it for `server`; otherwise undefined.
 */
export function untrustedCertificateError(err: unknown, server: string): FerryError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof FerryError && e.code === 'FERRY_ERR_TLS_UNTRUSTED') return e;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNTRUSTED.has(code)) {
      const why =
        code === 'CERT_HAS_EXPIRED'
          ? 'it has expired'
          : code === 'ERR_TLS_CERT_ALTNAME_INVALID'
            ? `it is not made out for this host name (${(e as Error).message})`
            : code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN'
              ? 'it is self-signed'
              : 'no trusted CA vouches for it';
      return new TlsUntrustedError(
        `the TLS certificate of ${server} is not trusted: ${why}. If this is your server, pass \`ca\` (a self-signed server's DATA/tls/ca.crt) or \`fingerprint: 'SHA256:…'\` (printed by \`ferry serve\`)`,
        { cause: err, details: { tlsError: code } },
      );
    }
  }
  return undefined;
}


/**
 * The SHA-256 fingerprint of the certificate an https server presents, read without trusting
 * it (for telling the user what to pin; nothing is sent over that connection).
 */
export async function peekFingerprint(server: string, timeoutMs = 5000): Promise<string> {
  const { connect } = await import('node:tls');
  const { isIP } = await import('node:net');
  const url = new URL(server);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(url.port || 443), servername: isIP(host) ? undefined : host, rejectUnauthorized: false }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve('SHA256:' + fp);
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timed out')));
    socket.once('error', reject);
  });
}
