/**
 * `X-Forwarded-For` as `--trust-proxy` reads it: addresses only. Fastify (proxy-addr) walks
 * the header from the right past the trusted proxies and takes the next entry as it stands,
 * address or not. Some proxies write the client's port too (Azure Application Gateway:
 * `203.0.113.5:51234`; `[2001:db8::1]:443`), and such an entry matched no IP list and was a new
 * key for the rate limits and the defender at each new source port: behind them a client was
 * never rate-limited or banned and an `--ip-deny`ed one was let in. An entry that is no
 * address at all (`unknown`, a typo in a proxy's configuration, a client at a trusted
 * address writing what it likes) became the client's "address" in the audit log.
 *
 * So before Fastify reads the header, each entry loses its port and brackets, and the walk
 * stops at an entry that is not an address: it and everything left of it are dropped, the
 * client then being the last hop that is one (the proxy that forwarded it, when that is the
 * rightmost entry).
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Http2SecureServer, Http2ServerRequest } from 'node:http2';
import { isIP } from 'node:net';
import { normalizeIp } from './ip-filter.js';

/** One entry's address (`203.0.113.5:80` -> `203.0.113.5`, `[2001:db8::1]:443` -> `2001:db8::1`), or undefined if it names none. */
export function forwardedAddress(entry: string): string | undefined {
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(entry.trim()) ?? /^([\d.]+):(\d{1,5})$/.exec(entry.trim());
  const a = m ? m[1] : entry.trim();
  if (m?.[2] !== undefined && Number(m[2]) > 65535) return undefined;
  return isIP(a) === 0 ? undefined : normalizeIp(a);
}

/** `X-Forwarded-For`'s value with addresses only, the entries left of the rightmost non-address dropped; undefined if none remain. */
export function canonicalForwardedFor(value: string): string | undefined {
  const kept: string[] = [];
  const entries = value.split(',');
  for (let i = entries.length - 1; i >= 0; i--) {
    const address = forwardedAddress(entries[i]);
    if (address === undefined) break;
    kept.unshift(address);
  }
  return kept.length > 0 ? kept.join(', ') : undefined;
}

/** Rewrite every request's `X-Forwarded-For` to {@link canonicalForwardedFor}'s form before the app (or anything else listening) sees it. */
export function canonicalizeForwardedFor(server: HttpServer | Http2SecureServer): void {
  server.prependListener('request', (request: IncomingMessage | Http2ServerRequest) => {
    const headers = request.headers;
    const value = headers['x-forwarded-for'];
    if (value === undefined) return;
    const canonical = canonicalForwardedFor(Array.isArray(value) ? value.join(',') : value);
    if (canonical === undefined) delete headers['x-forwarded-for'];
    else headers['x-forwarded-for'] = canonical;
  });
}
