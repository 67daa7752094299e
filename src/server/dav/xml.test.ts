import { describe, expect, it } from 'vitest';
import { isFerryError } from '../../core/errors.js';
import { DAV_NS, MAX_DEPTH, elements, parseXml, propertyElement, serializeContent, textOf } from './xml.js';

const refused = (text: string): boolean => {
  try {
    parseXml(text);
    return false;
  } catch (err) {
    return isFerryError(err, 'FERRY_ERR_VALIDATION');
  }
};

describe('WebDAV XML', () => {
  it('resolves namespaces whatever the prefixes, default and undeclared (xmlns="")', () => {
    const root = parseXml('<?xml version="1.0"?><a:propfind xmlns:a="DAV:" xmlns="urn:x"><a:prop><foo/><bar xmlns=""/><b:baz xmlns:b="urn:y"/></a:prop></a:propfind>');
    expect([root.ns, root.local]).toEqual([DAV_NS, 'propfind']);
    const props = elements(elements(root, DAV_NS, 'prop')[0]);
    expect(props.map((p) => [p.ns, p.local])).toEqual([
      ['urn:x', 'foo'],
      ['', 'bar'],
      ['urn:y', 'baz'],
    ]);
  });

  it('decodes the predefined entities and character references (beyond U+FFFF), keeps CDATA as is', () => {
    const root = parseXml('<x>&lt;a&gt; &amp; &quot;&apos; &#65536;&#x41;<![CDATA[&lt;raw]]></x>');
    expect(textOf(root)).toBe('<a> & "\' \u{10000}A&lt;raw');
  });

  it('refuses DTDs, entity bombs, external entities, unknown entities and forbidden characters', () => {
    const laughs = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><propfind xmlns="DAV:">&b;</propfind>';
    expect(refused(laughs)).toBe(true);
    expect(refused('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')).toBe(true);
    expect(refused('<x>&nbsp;</x>')).toBe(true);
    expect(refused('<x>&#1;</x>')).toBe(true);
    expect(refused('<x>a & b</x>')).toBe(true);
  });

  it('refuses what is not well-formed, an undeclared prefix, a prefix bound to the empty name, deep nesting', () => {
    expect(refused('<foo>')).toBe(true);
    expect(refused('<a></b>')).toBe(true);
    expect(refused('<p:a/>')).toBe(true);
    expect(refused('<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>')).toBe(true);
    expect(refused('<a/><b/>')).toBe(true);
    expect(refused('<a>'.repeat(MAX_DEPTH + 1) + '</a>'.repeat(MAX_DEPTH + 1))).toBe(true);
    expect(refused('<a>'.repeat(50_000) + '</a>'.repeat(50_000))).toBe(true);
    expect(refused('<a>'.repeat(MAX_DEPTH) + '</a>'.repeat(MAX_DEPTH))).toBe(false);
  });

  it('stores property values so that they stand on their own wherever they are written back', () => {
    const root = parseXml('<t:v xmlns:t="urn:t" xmlns:q="urn:q"><foo xmlns="http://bar"><q:x q:attr="1 &amp; 2" plain="y">t&lt;</q:x></foo> text</t:v>');
    const value = serializeContent(root);
    expect(value).toBe('<foo xmlns="http://bar"><x xmlns="urn:q" xmlns:a0="urn:q" a0:attr="1 &#38; 2" plain="y">t&lt;</x></foo> text');
    // Written back inside a DAV: document with another default namespace, it reads the same.
    const again = parseXml(`<D:prop xmlns:D="DAV:" xmlns="urn:other">${propertyElement('urn:t', 'v', value)}</D:prop>`);
    const v = elements(again)[0];
    expect([v.ns, v.local]).toEqual(['urn:t', 'v']);
    const foo = elements(v)[0];
    expect([foo.ns, elements(foo)[0].ns, elements(foo)[0].attrs]).toEqual(['http://bar', 'urn:q', [{ ns: 'urn:q', local: 'attr', value: '1 & 2' }, { ns: '', local: 'plain', value: 'y' }]]);
    expect(propertyElement('', 'nonamespace', 'x')).toBe('<nonamespace xmlns="">x</nonamespace>');
  });
});
