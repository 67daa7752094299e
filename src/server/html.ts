/**
 * The server's own HTML, for what a person's browser gets where curl gets JSON and the web
 * app is not the answer (a share folder's plain listing, WebDAV's collection pages).
 * A leaf of server/: the app and the route modules import it.
 */

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
