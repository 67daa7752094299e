/**
 * The few cookies Ferry sets, read and written by hand (no cookie plugin for three names):
 * the web session's refresh token and the unlocks of password-protected share links.
 * Every one is HttpOnly (scripts never see it), SameSite=Strict (never sent with a request
 * another site starts: the CSRF defence) and scoped to the narrowest path that needs it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The value of one cookie of a request, if present (the first, when it came more than once). */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  return readCookies(request, name)[0];
}

/**
 * Every value a request carries under one cookie name, in the order the browser sent them.
 * More than one means cookies of the same name with other `Domain`s or `Path`s: one planted
 * by a sibling subdomain (`Domain=` the parent) sits beside ours, and the browser names
 * neither's origin.
 */
export function readCookies(request: FastifyRequest, name: string): string[] {
  const header = request.headers.cookie;
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) values.push(part.slice(i + 1).trim());
  }
  return values;
}

/**
 * Whether a cookie may carry `Secure`: over TLS, behind a `--public-url` of https (a proxy
 * that ends TLS: the request reaches us as plain HTTP, but the browser is on https and
 * would send a cookie without `Secure` over plain HTTP to the same host too), and on
 * loopback addresses, which browsers treat as secure contexts over plain HTTP. Plain HTTP
 * anywhere else (the server warns about it at start) gets no `Secure`, or the browser would
 * drop the cookie and sessions would not survive a reload.
 */
export function secureCookies(request: FastifyRequest, publicUrl: string | undefined): boolean {
  if (request.protocol === 'https' || /^https:/i.test(publicUrl ?? '')) return true;
  const host = request.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '::1';
}

/** `publicUrl`: the server's `--public-url`, if set (an https one makes every cookie `Secure`). */
export function setCookie(request: FastifyRequest, reply: FastifyReply, name: string, value: string, options: { path: string; maxAgeSeconds: number; publicUrl: string | undefined }): void {
  const parts = [`${name}=${value}`, `Path=${options.path}`, `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`, 'HttpOnly', 'SameSite=Strict'];
  if (secureCookies(request, options.publicUrl)) parts.push('Secure');
  const prev = reply.getHeader('set-cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev.map(String) : [String(prev)];
  reply.header('set-cookie', [...list, parts.join('; ')]);
}

export function clearCookie(request: FastifyRequest, reply: FastifyReply, name: string, path: string, publicUrl: string | undefined): void {
  setCookie(request, reply, name, '', { path, maxAgeSeconds: 0, publicUrl });
}

/**
 * For requests that a cookie authenticates: refuses those another origin started. SameSite
 * already keeps the cookie off them; this also covers old browsers and same-site attackers
 * (another service on a sibling subdomain). The scheme counts too: over TLS or behind an
 * `https` `--public-url` the pages are https, so an `http://` page of the same host (one a
 * network attacker answers) is another origin. On plain HTTP without such a URL the server
 * cannot tell whether a proxy ended TLS in front of it, so either scheme passes there.
 */
export function sameOrigin(request: FastifyRequest, publicUrl: string | undefined): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return request.headers['sec-fetch-site'] === undefined || request.headers['sec-fetch-site'] === 'same-origin' || request.headers['sec-fetch-site'] === 'none';
  try {
    const url = new URL(origin);
    if (url.host !== request.host) return false;
    const httpsOnly = request.protocol === 'https' || /^https:/i.test(publicUrl ?? '');
    return url.protocol === 'https:' || (url.protocol === 'http:' && !httpsOnly);
  } catch {
    return false;
  }
}
