/**
 * PROPFIND (RFC 4918 9.1): properties of a resource (Depth 0) or of a collection and its
 * members (Depth 1), as a 207 multistatus streamed one page of members at a time, so a
 * collection of any size is answered in bounded memory.
 *
 * Depth: infinity is refused with 403 and a `propfind-finite-depth` precondition (RFC 4918
 * 9.1 allows it; Apache and nginx do the same): a whole tree in one answer is a denial of
 * service waiting to happen, and no client needs it (each lists one level at a time). A
 * request without a Depth header means infinity (RFC 4918 10.2) and is refused the same way.
 *
 * Live properties: resourcetype, getcontentlength, getlastmodified, getetag (the file's
 * tree hash, as GET's ETag), getcontenttype (application/octet-stream, as GET serves),
 * supportedlock, lockdiscovery; quota-used-bytes and quota-available-bytes (RFC 4331) when
 * asked by name. Dead properties are whatever PROPPATCH stored.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { DepthInfinityError, NotFoundError, ValidationError } from '../../core/errors.js';
import type { Entry } from '../../core/protocol.js';
import type { DeadProp, LockRow } from '../../store/dav-store.js';
import { authorize, toUserPath, type AuthContext } from '../authz.js';
import { authOf } from '../context.js';
import { readXmlBody } from './body.js';
import { Dav, depthOf } from './context.js';
import { hrefOf } from './paths.js';
import { DAV_NS, XML_HEADER, elements, escapeText, propertyElement, type XmlElement } from './xml.js';

export interface PropName {
  ns: string;
  local: string;
}

type PropRequest = { kind: 'allprop'; include: PropName[] } | { kind: 'propname' } | { kind: 'prop'; names: PropName[] };

/** Live properties allprop returns (quota ones only when named, RFC 4331 section 3). */
const ALLPROP_LIVE = ['resourcetype', 'getcontentlength', 'getlastmodified', 'getetag', 'getcontenttype', 'supportedlock', 'lockdiscovery'];
const QUOTA_LIVE = ['quota-used-bytes', 'quota-available-bytes'];
/** DAV: properties the server computes; a PROPPATCH may not set them (getlastmodified excepted, see proppatch.ts). */
export const LIVE_PROPS = new Set([...ALLPROP_LIVE, ...QUOTA_LIVE, 'creationdate']);

/** Members listed per page of a Depth: 1 answer. */
const PAGE = 1000;

/**
 * Distinct properties a PROPFIND may name (in `prop` or `include`): every live one and as many
 * dead ones as a resource can hold (256, proppatch.ts) fit. Each name is answered for every
 * member of a Depth 1 listing, so without a cap a 1 MiB body naming 175,000 properties made
 * a 3 MB answer per member: 1,000 members kept the server's only thread busy for minutes
 * and grew it past 3 GB.
 */
export const MAX_PROPFIND_NAMES = 512;

/** The distinct names of `el`'s child elements, at most {@link MAX_PROPFIND_NAMES}. */
function namesOf(el: XmlElement): PropName[] {
  const seen = new Map<string, PropName>();
  for (const e of elements(el)) {
    seen.set(`${e.ns} ${e.local}`, { ns: e.ns, local: e.local });
    if (seen.size > MAX_PROPFIND_NAMES) throw new ValidationError(`a PROPFIND may name at most ${MAX_PROPFIND_NAMES} properties`, { details: { max: MAX_PROPFIND_NAMES } });
  }
  return [...seen.values()];
}

function parsePropfind(root: XmlElement | undefined): PropRequest {
  if (!root) return { kind: 'allprop', include: [] };
  if (root.ns !== DAV_NS || root.local !== 'propfind') throw new ValidationError('a PROPFIND body must be a DAV:propfind element');
  const kids = elements(root).filter((e) => e.ns === DAV_NS);
  const prop = kids.find((e) => e.local === 'prop');
  if (kids.some((e) => e.local === 'propname')) return { kind: 'propname' };
  if (prop && !kids.some((e) => e.local === 'allprop')) return { kind: 'prop', names: namesOf(prop) };
  const include = kids.find((e) => e.local === 'include');
  // Unknown elements are ignored (RFC 4918 17: extensibility); no known one means allprop.
  return { kind: 'allprop', include: include ? namesOf(include) : [] };
}

export function statusLine(code: number): string {
  const text: Record<number, string> = { 200: 'OK', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 424: 'Failed Dependency', 507: 'Insufficient Storage' };
  return `<D:status>HTTP/1.1 ${code} ${text[code] ?? ''}</D:status>`;
}

/** One lock as `<D:activelock>` (LOCK answers and lockdiscovery). */
export function activeLock(lock: LockRow, auth: AuthContext, now: number): string {
  const seconds = Math.max(0, Math.ceil((Number(lock.expires_at) - now) / 1000));
  return (
    '<D:activelock>' +
    '<D:locktype><D:write/></D:locktype>' +
    `<D:lockscope><D:${lock.scope}/></D:lockscope>` +
    `<D:depth>${lock.infinite ? 'infinity' : '0'}</D:depth>` +
    (lock.owner !== null ? `<D:owner>${lock.owner}</D:owner>` : '') +
    `<D:timeout>Second-${seconds}</D:timeout>` +
    `<D:locktoken><D:href>${escapeText(lock.token)}</D:href></D:locktoken>` +
    `<D:lockroot><D:href>${escapeText(lockRootHref(lock, auth))}</D:href></D:lockroot>` +
    '</D:activelock>'
  );
}

function lockRootHref(lock: LockRow, auth: AuthContext): string {
  try {
    return hrefOf(toUserPath(auth, lock.path), false);
  } catch {
    return lock.path; // a lock outside the caller's home (an admin's view of it): its server path
  }
}

const SUPPORTED_LOCK =
  '<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>' +
  '<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>';

/** What the live properties of one answer need besides the entry. */
interface LiveContext {
  auth: AuthContext;
  now: number;
  /** Locks of the resources answered (filtered per entry). */
  locks: LockRow[];
  quota?: { used: number; available?: number };
}

/** A live DAV: property's element, or undefined where the resource has none. */
function liveProp(name: string, e: Entry, lc: LiveContext): string | undefined {
  const file = e.type === 'file';
  switch (name) {
    case 'resourcetype':
      return file ? '<D:resourcetype/>' : '<D:resourcetype><D:collection/></D:resourcetype>';
    case 'getcontentlength':
      return file ? `<D:getcontentlength>${e.size}</D:getcontentlength>` : undefined;
    case 'getlastmodified':
      return `<D:getlastmodified>${new Date(e.mtime).toUTCString()}</D:getlastmodified>`;
    case 'getetag': {
      const etag = Dav.etag(e, lc.auth);
      return etag === undefined ? undefined : `<D:getetag>${escapeText(etag)}</D:getetag>`;
    }
    case 'getcontenttype':
      return file ? '<D:getcontenttype>application/octet-stream</D:getcontenttype>' : undefined;
    case 'supportedlock':
      return `<D:supportedlock>${SUPPORTED_LOCK}</D:supportedlock>`;
    case 'lockdiscovery': {
      const mine = lc.locks.filter((l) => l.path === e.path || (l.infinite === 1 && (l.path === '/' || e.path.startsWith(l.path + '/'))));
      return `<D:lockdiscovery>${mine.map((l) => activeLock(l, lc.auth, lc.now)).join('')}</D:lockdiscovery>`;
    }
    case 'quota-used-bytes':
      return lc.quota ? `<D:quota-used-bytes>${lc.quota.used}</D:quota-used-bytes>` : undefined;
    case 'quota-available-bytes':
      return lc.quota?.available !== undefined ? `<D:quota-available-bytes>${lc.quota.available}</D:quota-available-bytes>` : undefined;
    default:
      return undefined;
  }
}

const emptyElement = (p: PropName): string => (p.ns === DAV_NS ? `<D:${p.local}/>` : propertyElement(p.ns, p.local));

/** A dead property with its value (DAV: ones with the document's D: prefix). */
function deadXml(d: DeadProp): string {
  if (d.ns !== DAV_NS) return propertyElement(d.ns, d.name, d.value);
  return d.value === '' ? `<D:${d.name}/>` : `<D:${d.name}>${d.value}</D:${d.name}>`;
}

/** The `<D:response>` of one resource (at `href`, by default its own under /dav/). */
function response(req: PropRequest, e: Entry, dead: DeadProp[], lc: LiveContext, at?: string): string {
  const href = `<D:href>${escapeText(at ?? hrefOf(toUserPath(lc.auth, e.path), e.type === 'dir'))}</D:href>`;
  const found: string[] = [];
  const missing: string[] = [];
  if (req.kind === 'propname') {
    for (const name of [...ALLPROP_LIVE, ...QUOTA_LIVE]) if (liveProp(name, e, lc) !== undefined) found.push(`<D:${name}/>`);
    for (const d of dead) found.push(emptyElement({ ns: d.ns, local: d.name }));
  } else if (req.kind === 'allprop') {
    const names = new Set([...ALLPROP_LIVE, ...req.include.filter((p) => p.ns === DAV_NS).map((p) => p.local)]);
    for (const name of names) {
      const v = liveProp(name, e, lc);
      if (v !== undefined) found.push(v);
    }
    for (const d of dead) if (!(d.ns === DAV_NS && names.has(d.name))) found.push(deadXml(d));
  } else {
    for (const p of req.names) {
      const d = dead.find((x) => x.ns === p.ns && x.name === p.local);
      const v = p.ns === DAV_NS && LIVE_PROPS.has(p.local) ? liveProp(p.local, e, lc) : d ? deadXml(d) : undefined;
      if (v !== undefined) found.push(v);
      else missing.push(emptyElement(p));
    }
  }
  let out = `<D:response>${href}`;
  if (found.length > 0 || missing.length === 0) out += `<D:propstat><D:prop>${found.join('')}</D:prop>${statusLine(200)}</D:propstat>`;
  if (missing.length > 0) out += `<D:propstat><D:prop>${missing.join('')}</D:prop>${statusLine(404)}</D:propstat>`;
  return out + '</D:response>';
}

function wantsLive(req: PropRequest, names: string[]): boolean {
  if (req.kind === 'propname') return false;
  if (req.kind === 'allprop') return names.some((n) => ALLPROP_LIVE.includes(n) || req.include.some((p) => p.ns === DAV_NS && p.local === n));
  return req.names.some((p) => p.ns === DAV_NS && names.includes(p.local));
}

function finiteDepth(request: FastifyRequest): '0' | '1' {
  const depth = depthOf(request, 'infinity');
  if (depth === 'infinity') throw new DepthInfinityError('PROPFIND with Depth: infinity (or no Depth header) is not served: list one level at a time with Depth: 1', { details: { precondition: 'propfind-finite-depth' } });
  return depth;
}

/**
 * PROPFIND of the server's root `/`, for clients given the server's address rather than the
 * share's (cadaver `http://host/`, davfs2, Windows' "Map network drive"; they PROPFIND what
 * they were given before anything else, and a 404 ends them with "not WebDAV-enabled?"):
 * a collection with one member, `/dav/`, the caller's home with its properties. Nothing else
 * is served at the root (the web app's GET aside): a client goes on into /dav/.
 */
export async function propfindServerRoot(dav: Dav, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const auth = authOf(request);
  const depth = finiteDepth(request);
  const req = parsePropfind(await readXmlBody(request));
  const home = await dav.entry(authorize(auth, 'list', '/'));
  if (!home) throw new NotFoundError('your home folder does not exist', { details: { path: '/' } });
  const lc: LiveContext = { auth, now: dav.ctx.now(), locks: [] };
  const root = `${XML_HEADER}<D:multistatus xmlns:D="DAV:">${response(req, home, [], lc, '/')}`;
  const share = depth === '1' ? response(req, home, (await dav.store.props([home.path])).get(home.path) ?? [], lc) : '';
  return reply.status(207).type('application/xml; charset=utf-8').send(`${root}${share}</D:multistatus>`);
}

export async function propfind(dav: Dav, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { auth, path } = dav.target(request);
  const depth = finiteDepth(request);
  const server = authorize(auth, 'list', path);
  const req = parsePropfind(await readXmlBody(request));
  const root = await dav.entry(server);
  if (!root) throw new NotFoundError(`${path}: no such file or directory`, { details: { path } });
  const now = dav.ctx.now();
  const listing = depth === '1' && root.type === 'dir';
  const lc: LiveContext = { auth, now, locks: wantsLive(req, ['lockdiscovery']) ? await dav.locks(server, listing) : [] };
  if (req.kind === 'propname' || (req.kind === 'prop' && req.names.some((p) => p.ns === DAV_NS && QUOTA_LIVE.includes(p.local)))) {
    const used = (await dav.ctx.meta.usage(auth.home)).bytes;
    const quota = auth.limits.quotaBytes;
    lc.quota = quota === null ? { used } : { used, available: Math.max(0, quota - used) };
  }
  const needDead = req.kind !== 'prop' || req.names.some((p) => !(p.ns === DAV_NS && LIVE_PROPS.has(p.local)));
  const deadOf = async (entries: Entry[]) => (needDead ? dav.store.props(entries.map((e) => e.path)) : new Map<string, DeadProp[]>());

  async function* body(): AsyncGenerator<string> {
    yield `${XML_HEADER}<D:multistatus xmlns:D="DAV:">`;
    yield response(req, root!, (await deadOf([root!])).get(root!.path) ?? [], lc);
    if (listing) {
      let cursor: string | undefined;
      do {
        const page = await dav.ctx.meta.list(server, { limit: PAGE, cursor });
        // One member at a time: the stream asks for the next once the client has taken the
        // last; dead properties are read a few MB at a time (DavStore.propsInBatches).
        if (!needDead) for (const e of page.entries) yield response(req, e, [], lc);
        else {
          const byPath = new Map(page.entries.map((e) => [e.path, e]));
          for await (const { paths, props } of dav.store.propsInBatches([...byPath.keys()])) {
            for (const p of paths) yield response(req, byPath.get(p)!, props.get(p) ?? [], lc);
          }
        }
        cursor = page.next;
      } while (cursor !== undefined);
    }
    yield '</D:multistatus>';
  }
  reply.status(207).type('application/xml; charset=utf-8');
  return reply.send(Readable.from(body(), { objectMode: false }));
}
