/**
 * XML for WebDAV: a namespace-aware reading of request bodies, and the writing of answers.
 *
 * Reading is done by fast-xml-parser (well-formedness check, then a tree in document
 * order) with every entity feature off; this module resolves namespaces itself (WebDAV
 * names are `{namespace}local`, whatever prefixes a client picks) and decodes the five
 * predefined entities and character references. Anything else is refused before parsing:
 * a DOCTYPE (so no entity can be declared: no "billion laughs", no external entities, no
 * file or network access), unknown entities, characters XML 1.0 forbids, nesting deeper
 * than {@link MAX_DEPTH}. Bodies are size-limited by the caller before they get here.
 *
 * Writing never builds a document tree: answers are strings, escaped here, so a 207 for a
 * directory of 100,000 entries streams out one `<D:response>` at a time.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ValidationError } from '../../core/errors.js';

export const DAV_NS = 'DAV:';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
/** Element nesting allowed in a request body (lockinfo, propertyupdate: a few levels, plus property values). */
export const MAX_DEPTH = 64;

export interface XmlAttr {
  ns: string;
  local: string;
  value: string;
}

export interface XmlElement {
  /** Namespace URI; '' for none. */
  ns: string;
  local: string;
  attrs: XmlAttr[];
  children: XmlNode[];
}

export type XmlNode = XmlElement | string;

export function isElement(node: XmlNode): node is XmlElement {
  return typeof node !== 'string';
}

/** The element children of `el`, optionally only those named `{ns}local`. */
export function elements(el: XmlElement, ns?: string, local?: string): XmlElement[] {
  return el.children.filter((c): c is XmlElement => isElement(c) && (ns === undefined || (c.ns === ns && c.local === local)));
}

export function firstElement(el: XmlElement, ns: string, local: string): XmlElement | undefined {
  return elements(el, ns, local)[0];
}

/** The text content of `el` (all descendant text, in order). */
export function textOf(el: XmlElement): string {
  return el.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  trimValues: false,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  removeNSPrefix: false,
  allowBooleanAttributes: false,
  cdataPropName: '#cdata',
  maxNestedTags: MAX_DEPTH + 1,
});

function bad(message: string): never {
  throw new ValidationError(`the XML body is not acceptable: ${message}`);
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };

/** XML 1.0 Char: tab, LF, CR, and everything from U+0020 except surrogates (as code points), U+FFFE and U+FFFF. */
function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/** Decodes `&lt;`-style and `&#…;` references; anything else with `&` is refused. */
function decode(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&]{0,12});?/g, (all, name: string) => {
    if (!all.endsWith(';')) bad('a stray & (write &amp;)');
    if (Object.hasOwn(PREDEFINED, name)) return PREDEFINED[name];
    const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(name);
    if (!m) bad(`the entity &${name}; is not defined (DTDs are not accepted)`);
    const cp = m[1] !== undefined ? parseInt(m[1], 16) : Number(m[2]);
    if (!isXmlChar(cp)) bad(`&${name}; is not a character XML allows`);
    return String.fromCodePoint(cp);
  });
}

type FxpNode = Record<string, unknown>;

/** Splits `p:local`; the prefix is '' when absent. */
function qname(name: string): [string, string] {
  const i = name.indexOf(':');
  return i === -1 ? ['', name] : [name.slice(0, i), name.slice(i + 1)];
}

function resolveElement(node: FxpNode, scope: ReadonlyMap<string, string>, depth: number): XmlElement {
  if (depth > MAX_DEPTH) bad(`elements nested deeper than ${MAX_DEPTH}`);
  const tag = Object.keys(node).find((k) => k !== ':@')!;
  const rawAttrs = (node[':@'] ?? {}) as Record<string, string>;
  let inner: Map<string, string> | undefined;
  const declare = (prefix: string, uri: string) => {
    inner ??= new Map(scope);
    inner.set(prefix, uri);
  };
  for (const [name, value] of Object.entries(rawAttrs)) {
    if (name === 'xmlns') declare('', decode(value));
    else if (name.startsWith('xmlns:')) {
      const prefix = name.slice(6);
      const uri = decode(value);
      // Namespaces in XML 1.0: a prefix cannot be bound to the empty name (litmus propfind_invalid2).
      if (uri === '') bad(`the prefix ${prefix} is bound to an empty namespace`);
      if (prefix === 'xmlns' || (prefix === 'xml') !== (uri === XML_NS)) bad(`the prefix ${prefix} cannot be bound to ${uri}`);
      declare(prefix, uri);
    }
  }
  const here = inner ?? scope;
  const [prefix, local] = qname(tag);
  const ns = prefix === '' ? (here.get('') ?? '') : here.get(prefix);
  if (ns === undefined) bad(`the prefix ${prefix} of <${tag}> is not declared`);
  const attrs: XmlAttr[] = [];
  for (const [name, value] of Object.entries(rawAttrs)) {
    if (name === 'xmlns' || name.startsWith('xmlns:')) continue;
    const [p, l] = qname(name);
    // Unprefixed attributes are in no namespace (the default namespace does not apply to them).
    const ans = p === '' ? '' : here.get(p);
    if (ans === undefined) bad(`the prefix ${p} of the attribute ${name} is not declared`);
    attrs.push({ ns: ans, local: l, value: decode(value) });
  }
  const children: XmlNode[] = [];
  for (const child of (node[tag] ?? []) as FxpNode[]) {
    if ('#text' in child) children.push(decode(String(child['#text'])));
    else if ('#cdata' in child) children.push(((child['#cdata'] as FxpNode[]) ?? []).map((t) => String(t['#text'] ?? '')).join(''));
    else children.push(resolveElement(child, here, depth + 1));
  }
  return { ns, local, attrs, children };
}

/**
 * Parses a request body into its root element, namespaces resolved. FERRY_ERR_VALIDATION
 * (400) for anything not well-formed, a DOCTYPE, an undeclared prefix, an unknown entity.
 */
export function parseXml(text: string): XmlElement {
  // Before any parser sees it: a DTD is where entities (and their bombs) are declared.
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) bad('a DOCTYPE or entity declaration (not accepted)');
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) bad(`${valid.err.msg} (line ${valid.err.line})`);
  let tree: FxpNode[];
  try {
    tree = parser.parse(text) as FxpNode[];
  } catch (err) {
    bad(err instanceof Error ? err.message : String(err));
  }
  const roots = tree.filter((n) => !('#text' in n) || String(n['#text']).trim() !== '');
  if (roots.length !== 1 || '#text' in roots[0] || '#cdata' in roots[0]) bad('there must be exactly one root element');
  return resolveElement(roots[0], new Map([['xml', XML_NS]]), 1);
}

// ---------------------------------------------------------------- writing

export function escapeText(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

export function escapeAttr(s: string): string {
  return s.replace(/[&<>"\r\n\t]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Writes a node so that it stands on its own wherever it is placed: each element declares
 * its namespace as the default one where it differs from its parent's (`inherited`; null:
 * unknown, declare), namespaced attributes get a prefix declared on their element.
 */
export function serializeNode(node: XmlNode, inherited: string | null = null): string {
  if (typeof node === 'string') return escapeText(node);
  let head = `<${node.local}`;
  if (node.ns !== inherited) head += ` xmlns="${escapeAttr(node.ns)}"`;
  let n = 0;
  for (const a of node.attrs) {
    if (a.ns === '') head += ` ${a.local}="${escapeAttr(a.value)}"`;
    else if (a.ns === XML_NS) head += ` xml:${a.local}="${escapeAttr(a.value)}"`;
    else {
      const p = `a${n++}`;
      head += ` xmlns:${p}="${escapeAttr(a.ns)}" ${p}:${a.local}="${escapeAttr(a.value)}"`;
    }
  }
  if (node.children.length === 0) return `${head}/>`;
  return `${head}>${node.children.map((c) => serializeNode(c, node.ns)).join('')}</${node.local}>`;
}

/** The content of an element (its children), standing on its own: what a dead property's value is stored as. */
export function serializeContent(el: XmlElement): string {
  return el.children.map((c) => serializeNode(c, null)).join('');
}

/** `<local xmlns="ns">content</local>`: a property element in any namespace (the empty one too) inside a DAV: document. */
export function propertyElement(ns: string, local: string, content?: string): string {
  const open = `<${local} xmlns="${escapeAttr(ns)}"`;
  return content === undefined || content === '' ? `${open}/>` : `${open}>${content}</${local}>`;
}

export const XML_HEADER = '<?xml version="1.0" encoding="utf-8"?>\n';
