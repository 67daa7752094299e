/** Request bodies of the WebDAV methods that carry XML (PROPFIND, PROPPATCH, LOCK). */
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { PayloadTooLargeError } from '../../core/errors.js';
import { parseXml, type XmlElement } from './xml.js';

/** Largest XML body read: a PROPPATCH of many properties fits, a flood does not. */
export const MAX_XML_BODY = 1024 * 1024;
/**
 * Most markup (`<`: elements, end tags, comments) in an XML body. Parsing costs by the
 * element, on the server's only thread: 1 MiB of `<a/>` took 335 ms to parse and a PROPPATCH
 * of it 3.4 s in all, where 1 MiB of text in one value takes 23 ms. A PROPFIND names at most
 * 512 properties and a PROPPATCH sets or removes at most 512: 10,000 leaves room for values
 * holding XML of their own, and bounds a body's parse to about 15 ms.
 */
export const MAX_XML_MARKUP = 10_000;

/** The body as text, at most `limit` bytes (413 beyond, without reading the rest); '' when there is none. */
export async function readBodyText(request: FastifyRequest, limit = MAX_XML_BODY): Promise<string> {
  const body = request.body as Readable | undefined;
  if (!body || typeof (body as Readable).on !== 'function') return '';
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (declared > limit) throw new PayloadTooLargeError(`an XML body may have at most ${limit} bytes`, { details: { max: limit } });
  const parts: Buffer[] = [];
  let size = 0;
  for await (const piece of body) {
    size += (piece as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new PayloadTooLargeError(`an XML body may have at most ${limit} bytes`, { details: { max: limit } });
    }
    parts.push(piece as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

/**
 * The XML body's root element, or undefined for an empty body. The content type is not
 * checked (clients send text/xml, application/xml or, from curl -d, a form type): the body
 * is XML or a 400.
 */
export async function readXmlBody(request: FastifyRequest): Promise<XmlElement | undefined> {
  const text = await readBodyText(request);
  if (text.trim() === '') return undefined;
  let markup = 0;
  for (let i = text.indexOf('<'); i !== -1; i = text.indexOf('<', i + 1)) {
    if (++markup > MAX_XML_MARKUP) {
      throw new PayloadTooLargeError(`an XML body may have at most ${MAX_XML_MARKUP} elements (tags)`, { details: { maxElements: MAX_XML_MARKUP } });
    }
  }
  return parseXml(text);
}
