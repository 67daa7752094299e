/**
 * WebDAV requests for tests: raw node:http (the path is sent exactly as given, `..` and
 * `#` included; any method), and a reading of 207 multistatus answers that does not use
 * the server's own XML code.
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import { XMLParser } from 'fast-xml-parser';

export interface DavResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export interface DavInit {
  /** The Authorization header as is (see {@link basic}). */
  auth?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Connect from this loopback address (127.0.0.2, ...). */
  localAddress?: string;
}

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export function dav(baseUrl: string, method: string, path: string, init: DavInit = {}): Promise<DavResponse> {
  const u = new URL(baseUrl);
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (init.auth) headers.authorization = init.auth;
  if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers, agent: false, ...(init.localAddress ? { localAddress: init.localAddress } : {}) }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const body = Buffer.concat(parts);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

export interface PropstatEntry {
  href: string;
  /** Property local name -> { status, text (its text content), xml (raw object) }. */
  props: Record<string, { status: number; text: string; value: unknown }>;
}

const reader = new XMLParser({ removeNSPrefix: true, ignoreAttributes: false, isArray: (name) => ['response', 'propstat'].includes(name), parseTagValue: false, trimValues: true });

function textOf(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'object') return String(v);
  return Object.entries(v as Record<string, unknown>)
    .filter(([k]) => !k.startsWith('@_'))
    .map(([k, x]) => (k === '#text' ? String(x) : textOf(x)))
    .join('');
}

/** The responses of a 207 multistatus: href and each property with its status. */
export function multistatus(xml: string): PropstatEntry[] {
  const doc = reader.parse(xml) as { multistatus?: { response?: Record<string, unknown>[] } };
  return (doc.multistatus?.response ?? []).map((r) => {
    const props: PropstatEntry['props'] = {};
    for (const ps of (r.propstat ?? []) as Record<string, unknown>[]) {
      const status = Number(/HTTP\/1\.1 (\d+)/.exec(String(ps.status))?.[1]);
      for (const [name, value] of Object.entries((ps.prop ?? {}) as Record<string, unknown>)) {
        if (name.startsWith('@_')) continue;
        props[name] = { status, text: textOf(value), value };
      }
    }
    return { href: decodeURIComponent(String(r.href)), props };
  });
}

export const PROPFIND_ALL = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>';

export function propfindNamed(...names: [ns: string, local: string][]): string {
  return `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>${names.map(([ns, l]) => `<${l} xmlns="${ns}"/>`).join('')}</D:prop></D:propfind>`;
}

export function lockBody(scope: 'exclusive' | 'shared', owner = 'test'): string {
  return `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:${scope}/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>${owner}</D:owner></D:lockinfo>`;
}
