/**
 * The server's own HTML, for what a person's browser gets where curl gets JSON and the web
 * app is not the answer (a share folder's plain listing, WebDAV's collection pages).
 * A leaf of server/: the app and the route modules import it.
 */

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The start of each such page: in English (`lang`, which a screen reader reads it in), UTF-8,
 * its title (escaped by the caller) and inline style.
 */
export function plainPageStart(title: string, style = 'body{font:15px/1.5 system-ui,sans-serif;margin:2rem}'): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title><style>${style}</style></head>`;
}

/**
 * The policy of these pages: nothing loads (inline style only), no form posts, and no other
 * site may frame them (clickjacking), as for the web app (`APP_CSP`).
 */
export const PLAIN_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The headers of every such page (and the status-less type): the same framing refusal as the app's pages. */
export function plainPageHeaders(reply: { header(name: string, value: string): unknown; type(contentType: string): unknown }): void {
  reply.header('content-security-policy', PLAIN_PAGE_CSP);
  reply.header('x-frame-options', 'DENY');
  reply.header('x-content-type-options', 'nosniff');
  reply.type('text/html; charset=utf-8');
}
