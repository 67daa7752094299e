/**
 * `Expect: 100-continue` (RFC 9110 §10.1.1): a client that sends it waits for `100 Continue`
 * before the body, so that a request the server refuses costs no upload. Node answers
 * `100 Continue` itself as soon as the request head is parsed, when nobody listens for
 * 'checkContinue': before authentication, authorization, quotas or the handler's checks
 * ran. curl (bodies over 1 MiB), .NET's HttpClient and Windows' WebDAV client then sent
 * the body of a PUT that was about to get 401, 409 or 413, and the server closed the
 * connection under it.
 *
 * Here the `100 Continue` goes out when something first reads the body (as Go's net/http
 * does), that is when a handler has passed every check and starts to take the upload. A
 * request answered without reading its body gets only its final status; Node then does
 * not keep that connection alive (the client may still send the body).
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse } from 'node:http2';

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** Requests whose client waits for a `100 Continue` not sent yet: no body can arrive, through no fault of the client's. */
const awaiting = new WeakSet<Request>();

/** Whether the client of `request` is still waiting for the server's `100 Continue` (./slow-clients.ts does not count that time against it). */
export function awaitsContinue(request: Request): boolean {
  return awaiting.has(request);
}

/** Defer every `100 Continue` of `server` (HTTP/1.1, and HTTP/2 with TLS) to the first read of the body. */
export function continueOnFirstRead(server: HttpServer | Http2SecureServer): void {
  server.on('checkContinue', (request: Request, response: Response) => {
    const read = request._read;
    awaiting.add(request);
    request._read = function (this: Request, size: number) {
      request._read = read;
      awaiting.delete(request);
      if (!response.headersSent && !response.writableEnded) response.writeContinue();
      return read.call(this, size);
    };
    server.emit('request', request, response);
  });
}
