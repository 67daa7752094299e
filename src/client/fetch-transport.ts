/**
 * A {@link Transport} over `fetch`: how the client talks to a server from a browser (and
 * from any runtime with fetch). Bodies are bytes or Blobs; a browser sends a Blob slice of
 * a picked file straight from the file, without reading it into the page's memory.
 * Responses are read as they arrive, so a download is verified chunk by chunk.
 */
import { UnsupportedError } from '../core/errors.js';
import type { Transport, WireRequest, WireResponse, WireResponseBody } from './wire.js';

function bodyOf(res: Response): WireResponseBody {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const cancel = (): Promise<void> => (reader ? reader.cancel() : (res.body?.cancel() ?? Promise.resolve())).catch(() => undefined);
  return {
    async *[Symbol.asyncIterator]() {
      if (!res.body) return;
      reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    },
    text: () => res.text(),
    dump: cancel,
    destroy: () => void cancel(),
  };
}

export class FetchTransport implements Transport {
  constructor(private readonly fetchImpl: typeof fetch = (input, init) => fetch(input, init)) {}

  async send(request: WireRequest): Promise<WireResponse> {
    const { body } = request;
    if (body !== undefined && !(body instanceof Uint8Array) && !(body instanceof Blob)) {
      throw new UnsupportedError('the fetch transport sends bytes or Blobs, not streams');
    }
    // Content-Length is the browser's to set (a forbidden header for scripts).
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(request.headers)) if (k !== 'content-length') headers[k] = v;
    const res = await this.fetchImpl(request.url, {
      method: request.method,
      headers,
      body: body as Uint8Array<ArrayBuffer> | Blob | undefined,
      signal: request.signal,
      credentials: 'same-origin',
    });
    const out: Record<string, string> = {};
    res.headers.forEach((v, k) => (out[k] = v));
    // fetch decodes the content codings it asked for itself (a browser's Accept-Encoding,
    // which scripts cannot change, includes zstd in Chromium): the body read here is
    // already decoded, and these headers describe the bytes on the wire, not it. Only when
    // the caller asked for a coding itself is it left to decode.
    if (out['content-encoding'] !== undefined && request.headers['accept-encoding'] === undefined) {
      delete out['content-encoding'];
      delete out['content-length'];
    }
    return { statusCode: res.status, headers: out, body: bodyOf(res) };
  }

  async close(): Promise<void> {}

  async destroy(): Promise<void> {}
}
