/**
 * Share links as visitors use them, without an account (docs/protocol.md, "Share links"):
 *
 *   GET|HEAD /s/:key             a file link: the file; a folder link: its listing (HTML, or
 *                                JSON with `Accept: application/json`); an upload link: a page
 *   GET|HEAD /s/:key/*path       a file or sub-folder inside a folder link
 *   PUT      /s/:key/:name       an upload link: the body becomes the file `name` in its folder
 *                                (`curl -T file https://host/s/KEY/`)
 *
 * Unknown keys answer 404; revoked, expired or used-up links 410. A password travels as HTTP
 * Basic credentials (any user name), so `curl -u :PASSWORD` and a browser's own prompt both
 * work; wrong passwords are rate-limited, audited and scored by the defender.
 *
 * A link acts as a narrow token of its owner: the owner's grants, limited to 'list,read' or
 * 'write' and to the link's path, so it stops working when the owner loses the right, is
 * disabled or deleted, and uploads count against the owner's quota.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AlreadyExistsError, AuthRequiredError, AuthInvalidError, GoneError, NotFoundError, PathInvalidError, ValidationError } from '../../core/errors.js';
import { joinPath, pathSegments } from '../../core/path.js';
import type { Entry } from '../../core/protocol.js';
import type { UserRow } from '../../store/auth-store.js';
import type { ShareRow } from '../../store/share-store.js';
import type { ServerContext } from '../app.js';
import { defenderMark } from '../auth.js';
import { authorize, can, toUserPath, type AuthContext } from '../authz.js';
import { verifyPassword } from '../passwords.js';
import { abortOnHangUp, ingestStream } from '../ingest.js';
import { ShareTransfers } from '../share-transfers.js';
import { sendFile } from './downloads.js';
import { shareKeyHash } from './shares.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Errors of this route are shown as a small HTML page to browsers. */
    htmlErrors?: boolean;
  }
}

const KEY_SHAPE = /^[A-Za-z0-9_-]{43}$/;
/** Verified share passwords are remembered (as SHA-256) this long, sparing a scrypt per file. */
const PASSWORD_CACHE_MS = 10 * 60_000;

interface OpenShare {
  row: ShareRow;
  owner: UserRow;
  /** The owner's identity narrowed to the link. */
  as: AuthContext;
  key: string;
  /** No download left (only when `open` was asked to let such a link through). */
  spent: boolean;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** Headers for our HTML pages: nothing from elsewhere, no framing, no Referer (the URL holds the key). */
function htmlHeaders(reply: FastifyReply, nonce?: string): void {
  reply.header('content-security-policy', `default-src 'none'; style-src 'unsafe-inline'; ${nonce ? `script-src 'nonce-${nonce}'; connect-src 'self'; ` : ''}base-uri 'none'; form-action 'none'; frame-ancestors 'none'`);
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('cache-control', 'no-store');
  reply.type('text/html; charset=utf-8');
}

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%}td{padding:.2rem .6rem;border-bottom:1px solid #ddd}td.n{text-align:right;white-space:nowrap}</style></head><body>${body}</body></html>`;
}

function wantsJson(request: FastifyRequest): boolean {
  return (request.query as Record<string, string | undefined>).format === 'json' || /application\/json/.test(request.headers.accept ?? '');
}

export function registerSharePublicRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const verified = new Map<string, { digest: Buffer; until: number }>();
  const transfers = new ShareTransfers(ctx.now);

  /**
   * Finds the link, checks it is alive and the visitor's password; 404 / 410 / 401 otherwise.
   * With `usedUp`, a link with no download left is let through (flagged): a Range request
   * continuing a download already counted is still served (see ../share-transfers.ts).
   */
  const open = async (request: FastifyRequest, reply: FastifyReply, usedUp = false): Promise<OpenShare> => {
    const key = (request.params as { key: string }).key;
    const row = KEY_SHAPE.test(key) ? await ctx.shares.byKeyHash(shareKeyHash(key)) : undefined;
    if (!row) {
      // An unknown key is a probe: the defender counts it as an invalid credential.
      const err = defenderMark(new NotFoundError('no such share link'), 'invalid');
      await ctx.reportAuthFailure(request, err, { event: 'share.unknown' });
      throw err;
    }
    const now = ctx.now();
    if (row.revoked_at !== null) throw new GoneError('this link was revoked');
    if (row.expires_at !== null && Number(row.expires_at) <= now) throw new GoneError('this link has expired');
    const spent = row.max_uses !== null && Number(row.uses) >= Number(row.max_uses);
    if (spent && !usedUp) throw new GoneError('this link has been used up');
    const owner = await ctx.users.userById(row.user_id);
    if (!owner || owner.disabled) throw new GoneError('this link is no longer available');
    if (row.password_hash !== null) await checkSharePassword(request, reply, row);
    const as = await ctx.auth.contextFor(owner, { kind: 'token', tokenId: `share:${row.id}`, scopes: row.kind === 'download' ? 'list,read' : 'write', pathPrefix: row.path });
    return { row, owner, as, key, spent };
  };

  const checkSharePassword = async (request: FastifyRequest, reply: FastifyReply, row: ShareRow): Promise<void> => {
    const challenge = (): void => void reply.header('www-authenticate', 'Basic realm="Ferry share link (any user name)", charset="UTF-8"');
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(request.headers.authorization ?? '');
    if (!m) {
      challenge();
      throw new AuthRequiredError('this link needs a password: send it as HTTP Basic credentials (curl -u :PASSWORD)');
    }
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const password = decoded.slice(decoded.indexOf(':') + 1);
    const digest = createHash('sha256').update(`${row.id}\0${password}`).digest();
    const cached = verified.get(row.id);
    if (cached && cached.until > ctx.now() && timingSafeEqual(cached.digest, digest)) return;
    await ctx.limiters.authPerIp(request);
    if (!(await verifyPassword(password, row.password_hash, ctx.auth.scryptCost))) {
      const err = defenderMark(new AuthInvalidError('wrong password for this link'), 'valid');
      await ctx.reportAuthFailure(request, err, { event: 'share.password-failure' });
      challenge();
      throw err;
    }
    verified.set(row.id, { digest, until: ctx.now() + PASSWORD_CACHE_MS });
  };

  const rel = (request: FastifyRequest): string => {
    const raw = (request.params as Record<string, string | undefined>)['*'] ?? '';
    return '/' + pathSegments('/' + raw).join('/');
  };

  const download = async (request: FastifyRequest, reply: FastifyReply, head: boolean) => {
    // A used-up link serves only Range requests that continue a counted download.
    const s = await open(request, reply, !head && request.headers.range !== undefined);
    const sub = rel(request);
    if (s.row.kind === 'upload') {
      if (s.spent) throw new GoneError('this link has been used up');
      if (sub !== '/') throw new NotFoundError('an upload link has nothing to download');
      return uploadPage(reply, s, head);
    }
    const target = sub === '/' ? s.row.path : joinPath(s.row.path, sub);
    const server = authorize(s.as, 'read', target);
    const entry = await ctx.meta.stat(server).catch((err: unknown) => {
      if (err instanceof NotFoundError) throw new NotFoundError(`${sub}: not in this share`);
      throw err;
    });
    if (entry.type === 'dir') {
      if (s.spent) throw new GoneError('this link has been used up');
      return listing(request, reply, s, server, sub, head);
    }
    const audit = () => ctx.audit.record(request, { event: 'share.use', ok: true, userId: s.owner.id, userName: s.owner.name, tokenId: `share:${s.row.id}`, target: s.row.id, details: { path: server } });
    return sendFile(ctx, request, reply, server, sub === '/' ? '/' + entry.name : sub, {
      head,
      disposition: contentDisposition(entry.name),
      // However a download is cut, it uses the link once: see ../share-transfers.ts.
      beforeBody: async ({ start, end, size, partial, etag }) => {
        const key = ShareTransfers.key(s.row.id, server, etag, request.ip);
        const length = size === 0 ? 0 : end - start + 1;
        const going = partial ? transfers.continue(key, length) : undefined;
        if (going) {
          await audit();
          return going;
        }
        if (!(await ctx.shares.consumeUse(s.row.id, ctx.now()))) throw new GoneError('this link has been used up');
        await audit();
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
  };

  const listing = async (request: FastifyRequest, reply: FastifyReply, s: OpenShare, server: string, sub: string, head: boolean) => {
    authorize(s.as, 'list', toUserPath(s.as, server));
    const { entries } = await ctx.meta.list(server, { limit: ctx.limits.maxListLimit });
    const visible = entries.filter((e) => can(s.as, 'read', toUserPath(s.as, e.path)));
    const base = `/s/${s.key}${sub === '/' ? '' : sub.split('/').map(encodeURIComponent).join('/')}`;
    if (wantsJson(request)) {
      return { name: s.row.name, path: sub, entries: visible.map((e: Entry) => ({ name: e.name, type: e.type, size: e.size, mtime: e.mtime, url: `${base}/${encodeURIComponent(e.name)}${e.type === 'dir' ? '/' : ''}` })) };
    }
    htmlHeaders(reply);
    if (head) return reply.send();
    const rows = visible
      .map((e) => {
        const href = `${base}/${encodeURIComponent(e.name)}${e.type === 'dir' ? '/' : ''}`;
        return `<tr><td><a href="${escapeHtml(href)}">${escapeHtml(e.name)}${e.type === 'dir' ? '/' : ''}</a></td><td class="n">${e.type === 'dir' ? '' : e.size.toLocaleString('en')}</td><td class="n">${new Date(e.mtime).toISOString().slice(0, 16).replace('T', ' ')}</td></tr>`;
      })
      .join('');
    const up = sub === '/' ? '' : `<p><a href="${escapeHtml(base.slice(0, base.lastIndexOf('/')) || `/s/${s.key}`)}/">..</a></p>`;
    return reply.send(page(s.row.name, `<h1>${escapeHtml(s.row.name)}${sub === '/' ? '' : escapeHtml(sub)}</h1>${up}<table>${rows}</table><p><small>${visible.length} entries · shared with Ferry</small></p>`));
  };

  const uploadPage = (reply: FastifyReply, s: OpenShare, head: boolean) => {
    const nonce = randomBytes(16).toString('base64');
    htmlHeaders(reply, nonce);
    if (head) return reply.send();
    const script = `document.getElementById('f').addEventListener('change',async e=>{const out=document.getElementById('o');for(const f of e.target.files){out.textContent='sending '+f.name+'…';const r=await fetch(location.pathname.replace(/\\/?$/,'/')+encodeURIComponent(f.name),{method:'PUT',body:f,headers:{'content-type':'application/octet-stream'}});out.textContent=r.ok?'received: '+f.name:'failed: '+(await r.json()).error.message}});`;
    return reply.send(page(s.row.name, `<h1>Send files: ${escapeHtml(s.row.name)}</h1><p><input type="file" id="f" multiple></p><p id="o"></p><p><small>or: <code>curl -T FILE ${escapeHtml('<this address>')}/</code></small></p><script nonce="${nonce}">${script}</script>`));
  };

  const upload = async (request: FastifyRequest, reply: FastifyReply) => {
    const s = await open(request, reply);
    if (s.row.kind !== 'upload') throw new ValidationError('this link does not accept uploads');
    const segments = pathSegments('/' + ((request.params as Record<string, string | undefined>)['*'] ?? ''));
    if (segments.length !== 1) throw new PathInvalidError('an upload link takes a file name, not a path: PUT /s/KEY/NAME');
    const name = segments[0];
    const target = authorize(s.as, 'write', joinPath(s.row.path, name));
    const declared = request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length']);
    if (declared !== undefined && !Number.isSafeInteger(declared)) throw new ValidationError('bad Content-Length');
    if (await ctx.meta.stat(target).then(() => true, () => false)) throw new AlreadyExistsError(`${name} already exists here: choose another name`);
    await ctx.quota.checkCreate(s.as, [{ path: target, size: declared }]);
    if (!(await ctx.shares.consumeUse(s.row.id, ctx.now()))) throw new GoneError('this link has been used up');
    try {
      const entry = await ingestStream(ctx, { auth: s.as, path: target, body: request.body as Readable, declaredSize: declared, noOverwrite: true, signal: abortOnHangUp(request.raw) });
      await ctx.audit.record(request, { event: 'share.use', ok: true, userId: s.owner.id, userName: s.owner.name, tokenId: `share:${s.row.id}`, target: s.row.id, details: { path: target, upload: true, size: entry.size } });
      return reply.status(201).send({ name, size: entry.size, hash: entry.hash });
    } catch (err) {
      await ctx.shares.refundUse(s.row.id);
      throw err;
    }
  };

  void app.register(async (scope) => {
    // Bodies here are files from curl or a browser, whatever their content type says.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    const opts = { config: { public: true, htmlErrors: true } };
    scope.get('/s/:key', opts, (rq, rp) => download(rq, rp, false));
    scope.head('/s/:key', opts, (rq, rp) => download(rq, rp, true));
    scope.get('/s/:key/*', opts, (rq, rp) => download(rq, rp, false));
    scope.head('/s/:key/*', opts, (rq, rp) => download(rq, rp, true));
    scope.put('/s/:key/*', opts, upload);
  });
}
