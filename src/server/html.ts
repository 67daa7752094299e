/**
 * The server's own HTML: what a person's browser gets where curl gets JSON (share links,
 * their error pages). Escaping, the headers every page carries, the page frame. A leaf of
 * server/: the app and the route modules import it.
 */
import type { FastifyReply } from 'fastify';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Headers for our HTML pages: nothing from elsewhere, no framing, no Referer (the URL holds the key). */
export function htmlHeaders(reply: FastifyReply, nonce?: string): void {
  reply.header('content-security-policy', `default-src 'none'; style-src 'unsafe-inline'; ${nonce ? `script-src 'nonce-${nonce}'; connect-src 'self'; ` : ''}base-uri 'none'; form-action 'none'; frame-ancestors 'none'`);
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('cache-control', 'no-store');
  reply.type('text/html; charset=utf-8');
}

export function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%}td{padding:.2rem .6rem;border-bottom:1px solid #ddd}td.n{text-align:right;white-space:nowrap}</style></head><body>${body}</body></html>`;
}

/** The page of an error (`404`, its message), for a browser on a route that answers people. */
export function errorPage(status: number, text: string): string {
  return `<!doctype html><meta charset="utf-8"><title>${status}</title><body style="font:15px system-ui,sans-serif;margin:2rem"><h1>${status}</h1><p>${escapeHtml(text)}</p></body>`;
}
