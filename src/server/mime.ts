/**
 * Names and types of files in HTTP answers. Every file body also carries
 * `X-Content-Type-Options: nosniff` and a `sandbox` CSP (routes/downloads.ts), and the types
 * (../core/media-types.ts) never name one a browser would run.
 */
export { contentTypeFor, previewKind, type PreviewKind } from '../core/media-types.js';

/** `Content-Disposition` for a download (`attachment`) or a preview (`inline`), with the UTF-8 name. */
export function contentDisposition(name: string, kind: 'attachment' | 'inline' = 'attachment'): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
