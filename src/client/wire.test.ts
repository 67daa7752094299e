import { describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { errorFromResponse } from './wire.js';

describe('errorFromResponse', () => {
  it("a server's error answer becomes the class of its code (instanceof NotFoundError for a 404's FERRY_ERR_NOT_FOUND)", () => {
    const err = errorFromResponse(404, {}, JSON.stringify({ error: { code: 'FERRY_ERR_NOT_FOUND', message: 'no such file: /a' } }), 'GET /a');
    expect(err).toBeInstanceOf(NotFoundError);
    expect([err.name, err.code, err.message]).toEqual(['NotFoundError', 'FERRY_ERR_NOT_FOUND', 'no such file: /a']);
    const invalid = errorFromResponse(400, {}, JSON.stringify({ error: { code: 'FERRY_ERR_VALIDATION', message: 'bad' } }), 'POST /x');
    expect(invalid).toBeInstanceOf(ValidationError);
  });
});
