/**
 * PROPPATCH (RFC 4918 9.2): sets and removes properties in document order, all or none.
 *
 * Dead properties (any name outside DAV:'s live ones) are stored as sent, their XML values
 * kept with their namespaces, in the metadata store beside the file (they follow it through
 * moves, copies and deletes). Live properties are protected (403, and then every other
 * property of the request fails with 424), except two ways of setting a file's
 * modification time that clients use to preserve it: DAV:getlastmodified and Windows'
 * Win32LastModifiedTime (the latter is also kept as a dead property, as Windows reads it
 * back). A date that cannot be read is 409 for that property.
 *
 * Dead properties are stored bytes: they count in the user's usage, so a PROPPATCH whose
 * properties would take the user past their bytes quota fails with 507 for every property
 * it sets (and 424 for the rest), nothing stored, and the multistatus's
 * responsedescription says why (`FERRY_ERR_QUOTA_EXCEEDED: quota exceeded: ...`); as it
 * says why one past the {@link MAX_PROPS} properties a resource may hold fails. The quota's
 * refusal is audited (and sent to webhooks) as `quota.exceeded`, as an upload's is.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError, ValidationError, isFerryError } from '../../core/errors.js';
import type { PropPatch } from '../../store/dav-store.js';
import { quotaRefusal } from '../audit.js';
import { authorize, toUserPath } from '../authz.js';
import { readXmlBody } from './body.js';
import type { Dav } from './context.js';
import { hrefOf } from './paths.js';
import { LIVE_PROPS, statusLine, type PropName } from './propfind.js';
import { DAV_NS, XML_HEADER, elements, escapeText, propertyElement, serializeContent, textOf, type XmlElement } from './xml.js';

const WIN32_NS = 'urn:schemas-microsoft-com:';
/** A stored value's largest size (UTF-8 bytes of its XML). */
export const MAX_PROP_VALUE = 64 * 1024;
/** Dead properties one resource may hold (their bytes count into the owner's quota besides). */
export const MAX_PROPS = 256;
/** Sets and removes in one PROPPATCH: every property a resource may hold, set and removed. */
const MAX_OPS = 2 * MAX_PROPS;
const MAX_NAME = 255;
const MAX_NS = 1024;

/** HTTP dates (RFC 1123) and ISO 8601 (what clients put in these properties); NaN if neither. */
function parseDate(text: string): number {
  const t = text.trim();
  if (t === '' || t.length > 64) return NaN;
  return Date.parse(t);
}

class PropLimitReached extends Error {}

export async function proppatch(dav: Dav, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { auth, path } = dav.target(request);
  const server = authorize(auth, 'write', path);
  const root = await readXmlBody(request);
  if (!root || root.ns !== DAV_NS || root.local !== 'propertyupdate') throw new ValidationError('a PROPPATCH body must be a DAV:propertyupdate element');
  const entry = await dav.entry(server);
  if (!entry) throw new NotFoundError(`${path}: no such file or directory`, { details: { path } });
  await dav.guard(request, auth, { path, entry });

  const ops: { op: 'set' | 'remove'; el: XmlElement }[] = [];
  for (const action of elements(root)) {
    if (action.ns !== DAV_NS || (action.local !== 'set' && action.local !== 'remove')) continue;
    for (const prop of elements(action, DAV_NS, 'prop')) for (const el of elements(prop)) ops.push({ op: action.local, el });
  }
  if (ops.length === 0) throw new ValidationError('a PROPPATCH must set or remove at least one property');
  // Each is a statement in the patch's transaction: no more than a resource can hold, set and removed.
  if (ops.length > MAX_OPS) throw new ValidationError(`a PROPPATCH may set or remove at most ${MAX_OPS} properties, not ${ops.length}`, { details: { max: MAX_OPS } });

  const status = new Map<string, { name: PropName; code: number }>();
  const patches: PropPatch[] = [];
  let mtime: number | undefined;
  for (const { op, el } of ops) {
    const name = { ns: el.ns, local: el.local };
    const key = `{${el.ns}}${el.local}`;
    let code = 200;
    if (el.ns === DAV_NS && (LIVE_PROPS.has(el.local) || el.local === 'getlastmodified')) {
      if (el.local === 'getlastmodified' && op === 'set' && path !== '/') {
        const t = parseDate(textOf(el));
        if (Number.isNaN(t)) code = 409;
        else mtime = t;
      } else code = 403;
    } else if (el.local.length > MAX_NAME || el.ns.length > MAX_NS) {
      code = 409;
    } else if (op === 'remove') {
      patches.push({ op: 'remove', ns: el.ns, name: el.local });
    } else {
      const value = serializeContent(el);
      if (Buffer.byteLength(value) > MAX_PROP_VALUE) code = 507;
      else {
        patches.push({ op: 'set', ns: el.ns, name: el.local, value });
        if (el.ns === WIN32_NS && el.local === 'Win32LastModifiedTime' && path !== '/') {
          const t = parseDate(textOf(el));
          if (!Number.isNaN(t)) mtime = t;
        }
      }
    }
    status.set(key, { name, code });
  }

  const failed = [...status.values()].some((s) => s.code !== 200);
  let refusal: string | undefined; // why the sets were refused with 507
  if (!failed) {
    // At most what the sets add to the store (ROW_FOOTPRINT: path, namespace, name, value, 64).
    const added = patches.reduce((n, p) => (p.op === 'set' ? n + Buffer.byteLength(server) + Buffer.byteLength(p.ns) + Buffer.byteLength(p.name) + Buffer.byteLength(p.value) + 64 : n), 0);
    const quota = dav.ctx.quota.propertyCheck(auth, added);
    try {
      await dav.store.patch(server, patches, {
        ...(mtime !== undefined ? { mtime } : {}),
        ...(quota ? { before: quota.before } : {}),
        check: async (trx, after) => {
          if (after.count > MAX_PROPS) throw new PropLimitReached();
          await quota?.check(trx, after.grew);
        },
      });
    } catch (err) {
      if (err instanceof PropLimitReached) refusal = `${path} may hold at most ${MAX_PROPS} dead properties`;
      else if (isFerryError(err, 'FERRY_ERR_QUOTA_EXCEEDED')) {
        refusal = `${err.code}: ${err.message}`;
        // A 207 is no error to the error handler, which audits the uploads' refusals.
        await dav.ctx.audit.record(request, quotaRefusal(request, err));
      } else throw err;
      for (const p of patches) if (p.op === 'set') status.get(`{${p.ns}}${p.name}`)!.code = 507;
    }
  }
  // All or nothing: when one property failed, the others are 424 Failed Dependency.
  const anyFailed = [...status.values()].some((s) => s.code !== 200);
  if (anyFailed) for (const s of status.values()) if (s.code === 200) s.code = 424;

  const byCode = new Map<number, string[]>();
  for (const { name, code } of status.values()) {
    const list = byCode.get(code) ?? [];
    list.push(name.ns === DAV_NS ? `<D:${name.local}/>` : propertyElement(name.ns, name.local));
    byCode.set(code, list);
  }
  const href = escapeText(hrefOf(toUserPath(auth, entry.path), entry.type === 'dir'));
  const propstats = [...byCode].map(([code, names]) => `<D:propstat><D:prop>${names.join('')}</D:prop>${statusLine(code)}</D:propstat>`).join('');
  const why = refusal ? `<D:responsedescription>${escapeText(refusal)}</D:responsedescription>` : '';
  return reply
    .status(207)
    .type('application/xml; charset=utf-8')
    .send(`${XML_HEADER}<D:multistatus xmlns:D="DAV:"><D:response><D:href>${href}</D:href>${propstats}${why}</D:response></D:multistatus>`);
}
