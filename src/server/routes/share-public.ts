/**
 * Share links as visitors use them, without an account (docs/protocol.md, "Share links"):
 *
 *   GET|HEAD /s/:key             a file link: the file; a folder link: its listing (JSON, or
 *                                HTML with `Accept: text/html`); an upload link: its page
 *   GET|HEAD /s/:key/*path       a file or sub-folder inside a folder link
 *   GET      ...?format=json     what the link shows, as JSON (the web app's share pages)
 *   GET      ...?download=1      a file as an attachment; `?inline=1` for a preview;
 *            ...?zip=1           a folder as one zip, streamed
 *   POST     /s/:key/unlock      the page's password form: a cookie for the link's pages and
 *                                downloads, and an upload token for drop boxes
 *   PUT      /s/:key/:name       an upload link: the body becomes the file `name` in its folder
 *                                (`curl -T file https://host/s/KEY/`)
 *
 * A browser opening a link (`Accept: text/html`) gets the web app, which shows the link as a
 * page (file with preview and download button, folder with per-file and zip download,
 * password form, drop box) from the JSON answers; curl and scripts get the bytes as before.
 * Unknown keys answer 404; revoked, expired or used-up links 410 (a browser gets the app's
 * page with that status). A password travels as HTTP Basic credentials (any user name, so
 * `curl -u :PASSWORD` works) or as the unlock cookie; wrong passwords are rate-limited,
 * audited and scored by the defender (../share-gate.ts).
 *
 * A link acts as a narrow token of its owner: the owner's grants, limited to 'list,read' or
 * 'write' and to the link's path, so it stops working when the owner loses the right, is
 * disabled or deleted, and uploads count against the owner's quota.
 */
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FerryError, GoneError, NotFoundError, ValidationError } from '../../core/errors.js';
import { joinPath, pathSegments } from '../../core/path.js';
import type { Entry } from '../../core/protocol.js';
import type { RoutePlugin, ServerContext } from '../context.js';
import { escapeHtml, plainPageHeaders, plainPageStart } from '../html.js';
import { authorize, can, toUserPath } from '../authz.js';
import { abortOnHangUp, ingestStream, refuseEncodedBody } from '../ingest.js';
import { contentDisposition, contentTypeFor, previewKind } from '../mime.js';
import { toVisitorError, visitorFileName, type OpenShare } from '../share-gate.js';
import { bodyObject } from '../validate.js';
import { memberName, sendZip, zipEntries, zipLength } from '../zip.js';
import { ShareTransfers } from '../share-transfers.js';
import { OnceWithin } from '../download-audit.js';
import { capBody, checkLinkBytes, linkBytesLeft } from '../link-bytes.js';
import { sendFile } from './downloads.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Errors of this route are shown to browsers as the app's page, with the error's status. */
    htmlErrors?: boolean;
  }
}

type Query = Record<string, string | undefined>;

/** Whether the request is a browser opening the link as a page (not a download, not the app's JSON). */
function isPageRequest(request: FastifyRequest): boolean {
  const q = request.query as Query;
  if (q.format !== undefined || q.download !== undefined || q.zip !== undefined || q.inline !== undefined) return false;
  return /text\/html/.test(request.headers.accept ?? '');
}

function wantsJson(request: FastifyRequest): boolean {
  return (request.query as Query).format === 'json' || /application\/json/.test(request.headers.accept ?? '');
}

function linkFacts(s: OpenShare): { name: string; maxUses: number | null; uses: number; expiresAt: number | null; hasPassword: boolean; maxBytes?: number; bytesLeft?: number } {
  const left = linkBytesLeft(s.row);
  return {
    name: s.row.name,
    maxUses: s.row.max_uses === null ? null : Number(s.row.max_uses),
    uses: Number(s.row.uses),
    ...(left === null ? {} : { maxBytes: Number(s.row.max_bytes), bytesLeft: left }),
    expiresAt: s.row.expires_at === null ? null : Number(s.row.expires_at),
    hasPassword: s.row.password_hash !== null,
  };
}

/** The path inside the link a request names (`/` for the link itself). */
function rel(request: FastifyRequest): string {
  const raw = (request.params as Record<string, string | undefined>)['*'] ?? '';
  return '/' + pathSegments('/' + raw).join('/');
}

function linkBase(s: OpenShare, sub: string): string {
  return `/s/${s.key}${sub === '/' ? '' : sub.split('/').map(encodeURIComponent).join('/')}`;
}

/** Share links (`/s/KEY`): public, and answering people with the app's pages where curl gets bytes or JSON. */
export const sharePublicRoutes: RoutePlugin = async (app, { ctx }) => {
  const links = new ShareLinks(ctx);
  // Bodies here are files from curl or a browser, whatever their content type says (JSON
  // too: the unlock form's small body is parsed by its route). This plugin's own parsers:
  // the API's routes keep theirs.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  const opts = { config: { public: true, htmlErrors: true, front: 'share' as const } };
  app.get('/s/:key', opts, (request, reply) => links.view(request, reply, false));
  app.head('/s/:key', opts, (request, reply) => links.view(request, reply, true));
  app.get('/s/:key/*', opts, (request, reply) => links.view(request, reply, false));
  app.head('/s/:key/*', opts, (request, reply) => links.view(request, reply, true));
  app.post('/s/:key/unlock', { config: { public: true, front: 'share' as const } }, (request, reply) => links.unlock(request, reply));
  app.put('/s/:key/*', opts, (request, reply) => links.upload(request, reply));
};

/**
 * The link is sound but what it shares was deleted or moved away (or another kind of entry
 * took its path): gone, as a revoked link is, naming no path. A visitor was told `/: not in
 * this share` (404, which the app shows as "No such link") and could not tell what happened.
 */
function targetGone(s: OpenShare): FerryError {
  const what = s.row.target_type === 'file' ? 'the file' : s.row.target_type === 'dir' ? 'the folder' : 'what';
  return new GoneError(`${what} this link shares is no longer there (deleted or moved)`);
}

/**
 * What the share-link routes know between requests: the downloads under way (so a resumed
 * download does not use the link again, ../share-transfers.ts). Links themselves are found,
 * checked and unlocked by the context's share gate (../share-gate.ts).
 */
class ShareLinks {
  private readonly transfers: ShareTransfers;
  /** Downloads of links without a download limit recorded lately (see sendSharedFile). */
  private readonly uses: OnceWithin;

  constructor(private readonly ctx: ServerContext) {
    this.transfers = new ShareTransfers(ctx.now);
    this.uses = new OnceWithin(ctx.now);
  }

  /** GET and HEAD of a link or a path inside it: the app's page, JSON, a listing, a zip or the file. */
  async view(request: FastifyRequest, reply: FastifyReply, head: boolean) {
    const { ctx } = this;
    const gate = ctx.shareGate;
    // A used-up link serves only Range requests that continue a counted download.
    const s = await gate.resolve(request, (request.params as { key: string }).key, { usedUp: !head && request.headers.range !== undefined });
    if (!head && isPageRequest(request)) {
      if (s.spent) throw new GoneError('this link has been used up');
      shareHeaders(reply);
      return ctx.webApp.sendPage(reply);
    }
    const q = request.query as Query;
    // The app's own JSON requests get no Basic challenge: the page shows its form instead.
    await gate.checkPassword(request, reply, s, q.format !== 'json');
    const sub = rel(request);
    if (s.row.kind === 'upload') {
      if (s.spent) throw new GoneError('this link has been used up');
      if (sub !== '/') throw new NotFoundError('an upload link has nothing to download');
      shareHeaders(reply);
      return { kind: 'upload', ...linkFacts(s) };
    }
    // A file's link has no members, whatever its path holds now (a folder made there later).
    if (sub !== '/' && s.row.target_type === 'file') throw new NotFoundError(`${sub}: not in this share`);
    const target = sub === '/' ? s.row.path : joinPath(s.row.path, sub);
    const server = authorize(s.as, 'read', target);
    const entry = await ctx.meta.stat(server).catch((err: unknown) => {
      if (err instanceof NotFoundError) throw sub === '/' ? targetGone(s) : new NotFoundError(`${sub}: not in this share`);
      throw err;
    });
    // A link serves what it was made for: a file's link does not open a folder made at its path
    // later (with whatever went into it), nor a folder's a file.
    if (sub === '/' && s.row.target_type !== null && s.row.target_type !== entry.type) throw targetGone(s);
    if (entry.type === 'dir') {
      if (s.spent) throw new GoneError('this link has been used up');
      if (q.zip !== undefined && !head) return this.zipFolder(request, reply, s, server, entry.name || s.row.name);
      return this.listing(request, reply, s, server, sub, head, entry.name || s.row.name);
    }
    const shown = sub === '/' ? '/' + entry.name : sub;
    if (q.format === 'json') {
      if (s.spent) throw new GoneError('this link has been used up');
      shareHeaders(reply);
      return { kind: 'file', ...linkFacts(s), path: shown, fileName: entry.name, size: entry.size, mtime: entry.mtime, preview: previewKind(entry.name), contentType: contentTypeFor(entry.name) };
    }
    return this.sendSharedFile(request, reply, s, server, entry, shown, head);
  }

  /** A file of the link; a download uses the link once however it is cut (../share-transfers.ts). */
  private sendSharedFile(request: FastifyRequest, reply: FastifyReply, s: OpenShare, server: string, entry: Entry, shown: string, head: boolean) {
    const { ctx, transfers } = this;
    const q = request.query as Query;
    const audit = () => ctx.audit.record(request, { event: 'share.use', ok: true, userId: s.owner.id, userName: s.owner.name, tokenId: `share:${s.row.id}`, target: s.row.id, path: server, details: { path: server } });
    const inline = q.inline !== undefined;
    return sendFile(ctx, request, reply, server, shown, {
      head,
      auditAs: { userId: s.owner.id, userName: s.owner.name, tokenId: `share:${s.row.id}` },
      cacheControl: s.row.password_hash !== null ? 'private, no-store' : undefined,
      disposition: contentDisposition(entry.name, inline ? 'inline' : 'attachment'),
      contentType: inline ? contentTypeFor(entry.name) : undefined,
      beforeBody: async ({ start, end, size, partial, etag }) => {
        const key = ShareTransfers.key(s.row.id, server, etag, request.ip);
        const length = size === 0 ? 0 : end - start + 1;
        // A continuation of a counted download was recorded when that download began.
        const going = partial ? transfers.continue(key, length) : undefined;
        if (going) return going;
        if (!(await ctx.shares.consumeUse(s.row.id, ctx.now()))) throw new GoneError('this link has been used up');
        // Every use of a link with a download limit is recorded (at most that many); a link
        // without one records a visitor's downloads of a file once per window: anyone could
        // otherwise add an entry to the audit log per request, hundreds a second.
        // (By the file's hash: its ETag differs by content coding, gzip or not.)
        if (s.row.max_uses !== null || this.uses.first(ShareTransfers.key(s.row.id, server, entry.hash ?? etag, request.ip))) await audit();
        const counted = transfers.start(key, size, length);
        return {
          settle: (sent: number, failed: boolean) => {
            counted.settle(sent);
            if (!failed) return;
            // Nothing served (a damaged first chunk: a 500 before the headers): not a download.
            transfers.drop(key);
            void ctx.shares.refundUse(s.row.id).catch((err: unknown) => request.log.error({ err }, 'share use refund failed'));
          },
        };
      },
    });
  }

  private async listing(request: FastifyRequest, reply: FastifyReply, s: OpenShare, server: string, sub: string, head: boolean, name: string) {
    const { ctx } = this;
    authorize(s.as, 'list', toUserPath(s.as, server));
    const { entries } = await ctx.meta.list(server, { limit: ctx.limits.maxListLimit });
    const visible = entries.filter((e) => can(s.as, 'read', toUserPath(s.as, e.path)));
    const base = linkBase(s, sub);
    shareHeaders(reply);
    if (wantsJson(request)) {
      return {
        kind: 'folder',
        ...linkFacts(s),
        path: sub,
        zip: `${base}?zip=1`,
        entries: visible.map((e: Entry) => ({ name: e.name, type: e.type, size: e.size, mtime: e.mtime, url: `${base}/${encodeURIComponent(e.name)}${e.type === 'dir' ? '/' : ''}`, preview: e.type === 'file' ? previewKind(e.name) : 'none' })),
      };
    }
    // A plain HTML listing for HEAD and for clients that ask for neither JSON nor a page. It
    // has a name (`curl -OJ` saved it under the link's key) and says how to get the files.
    plainPageHeaders(reply);
    reply.header('content-disposition', contentDisposition(`${name}.html`, 'inline'));
    if (head) return reply.send();
    const rows = visible
      .map((e) => {
        const href = `${base}/${encodeURIComponent(e.name)}${e.type === 'dir' ? '/' : ''}`;
        return `<tr><td><a href="${escapeHtml(href)}">${escapeHtml(e.name)}${e.type === 'dir' ? '/' : ''}</a></td><td>${e.type === 'dir' ? '' : e.size}</td></tr>`;
      })
      .join('');
    const zip = `<p>A folder: <a href="${escapeHtml(base)}?zip=1">all of it as one zip</a> (curl -OJ 'LINK?zip=1'), or each file below.</p>`;
    return reply.send(`${plainPageStart(escapeHtml(s.row.name))}<body><h1>${escapeHtml(s.row.name)}</h1>${zip}<table>${rows}</table></body></html>`);
  }

  private async zipFolder(request: FastifyRequest, reply: FastifyReply, s: OpenShare, server: string, name: string) {
    const { ctx } = this;
    authorize(s.as, 'list', toUserPath(s.as, server));
    const listing = zipEntries(ctx, s.as, [{ server, name: memberName(server, name) }]);
    // Counted before a use is spent: a folder too large to zip costs none.
    const length = await zipLength(listing);
    if (!(await ctx.shares.consumeUse(s.row.id, ctx.now()))) throw new GoneError('this link has been used up');
    // As for a file (sendSharedFile): a link without a download limit records a visitor's zip once per window.
    if (s.row.max_uses !== null || this.uses.first(ShareTransfers.key(s.row.id, server, 'zip', request.ip))) {
      await ctx.audit.record(request, { event: 'share.use', ok: true, userId: s.owner.id, userName: s.owner.name, tokenId: `share:${s.row.id}`, target: s.row.id, details: { path: server, zip: true } });
    }
    return sendZip(ctx, request, reply, listing, `${memberName(server, name)}.zip`, length);
  }

  /** POST /s/:key/unlock: the page's password form. */
  async unlock(request: FastifyRequest, reply: FastifyReply) {
    const gate = this.ctx.shareGate;
    const s = await gate.resolve(request, (request.params as { key: string }).key);
    const body = await jsonBody(request.body as Readable | undefined);
    shareHeaders(reply);
    reply.header('cache-control', 'no-store');
    return gate.unlock(request, reply, s, body.password);
  }

  /** PUT /s/:key/:name: a file into an upload link's folder. */
  async upload(request: FastifyRequest, reply: FastifyReply) {
    const { ctx } = this;
    const s = await ctx.shareGate.resolve(request, (request.params as { key: string }).key, { upload: true });
    try {
      return await this.uploadInto(request, reply, s);
    } catch (err) {
      await ctx.shareGate.uploadRefused(request, s.row.id, err);
      throw toVisitorError(s.as, err);
    }
  }

  private async uploadInto(request: FastifyRequest, reply: FastifyReply, s: OpenShare) {
    const { ctx } = this;
    await ctx.shareGate.checkPassword(request, reply, s, true);
    if (s.row.kind !== 'upload') throw new ValidationError('this link does not accept uploads');
    // Before a use of the link is counted.
    refuseEncodedBody(request);
    const name = visitorFileName('/' + ((request.params as Record<string, string | undefined>)['*'] ?? ''), 'an upload link takes a file name, not a path: PUT /s/KEY/NAME');
    const target = authorize(s.as, 'write', joinPath(s.row.path, name));
    const declared = request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length']);
    if (declared !== undefined && !Number.isSafeInteger(declared)) throw new ValidationError('bad Content-Length');
    if (declared !== undefined) checkLinkBytes(s.row, declared);
    await ctx.quota.checkCreate(s.as, [{ path: target, size: declared }]);
    if (!(await ctx.shares.consumeUse(s.row.id, ctx.now()))) throw new GoneError('this link has been used up');
    try {
      const entry = await ingestStream(ctx, { auth: s.as, path: target, body: linkBytesLeft(s.row) === null ? (request.body as Readable) : capBody(request.body as Readable, s.row), declaredSize: declared, noOverwrite: true, signal: abortOnHangUp(request.raw), request });
      await ctx.audit.record(request, { event: 'share.use', ok: true, userId: s.owner.id, userName: s.owner.name, tokenId: `share:${s.row.id}`, target: s.row.id, path: entry.path, details: { path: target, upload: true, size: entry.size } });
      return reply.status(201).send({ name, size: entry.size, hash: entry.hash });
    } catch (err) {
      await ctx.shares.refundUse(s.row.id);
      throw err;
    }
  }
}

/** A small JSON object body read from its stream (at most 64 KiB); `{}` when empty. */
async function jsonBody(body: Readable | undefined): Promise<Record<string, unknown>> {
  if (!body) return {};
  let text = '';
  for await (const piece of body) {
    text += String(piece);
    if (text.length > 64 * 1024) throw new ValidationError('the body is too large');
  }
  if (text.trim() === '') return {};
  try {
    return bodyObject(JSON.parse(text));
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw new ValidationError('the body is not valid JSON');
  }
}

/** Headers of share-link answers: the URL holds the key, so no Referer; never framed. */
function shareHeaders(reply: FastifyReply): void {
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-frame-options', 'DENY');
  reply.header('cache-control', 'no-store');
}
