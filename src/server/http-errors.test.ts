import { describe, expect, it } from 'vitest';
import { FerryError } from '../core/errors.js';
import { publicError } from './http-errors.js';

describe('publicError: what a client reads of a server failure', () => {
  it('a storage service failing (S3 5xx, unreachable, timed out) is said as such, its words kept for the log', () => {
    for (const code of ['FERRY_ERR_SERVER', 'FERRY_ERR_NETWORK', 'FERRY_ERR_TIMEOUT'] as const) {
      const out = publicError(new FerryError(code, 's3:bucket/chunks/ab/abcd: InternalError: at 10.0.0.7'), 502, 'req-1');
      expect(out, code).toEqual({ code, message: "a storage service behind the server failed or did not answer (request req-1; the details are in the server's log)", requestId: 'req-1' });
    }
  });

  it('any other failure of the server stays "internal error"; a 503 keeps its words', () => {
    expect(publicError(new FerryError('FERRY_ERR_IO', 'EXDEV: /srv/x'), 500, 'r').message).toBe("internal error (request r; the details are in the server's log)");
    expect(publicError(new FerryError('FERRY_ERR_UNAVAILABLE', 'the metadata database does not answer; try again shortly'), 503, 'r').message).toBe('the metadata database does not answer; try again shortly');
  });
});
