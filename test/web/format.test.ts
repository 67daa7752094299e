/** The web app's sizes, rates and times for people (web/src/format.ts). */
import { describe, expect, it } from 'vitest';
import { ferryErrorOf, ProtocolError } from '../../src/core/errors.js';
import { PACE_AFTER_MS, errorText, formatCount, formatEta, formatRate, formatSize, overallPace } from '../../web/src/format.js';

describe('web format', () => {
  it('counts: one is singular, digits grouped by thousands', () => {
    expect(formatCount(0, 'file')).toBe('0 files');
    expect(formatCount(1, 'file')).toBe('1 file');
    expect(formatCount(10_000, 'file')).toBe('10,000 files');
    expect(formatCount(2, 'entry', 'entries')).toBe('2 entries');
  });

  it('sizes and rates below 1 KiB are whole bytes, larger ones one decimal under 10', () => {
    expect(formatRate(70.3674745893181)).toBe('70 B/s');
    expect(formatSize(0)).toBe('0 B');
    expect(formatSize(1023.6)).toBe('1.0 KiB');
    expect(formatSize(1024 * 1024 - 6)).toBe('1.0 MiB'); // 1023.99 KiB: a drop box's "1024 KiB left of 1.0 MiB" before
    expect(formatSize(1023 * 1024)).toBe('1023 KiB');
    expect(formatSize(1536)).toBe('1.5 KiB');
    expect(formatSize(57 * 2 ** 20)).toBe('57 MiB');
    expect(formatSize(Number.NaN)).toBe('—');
  });

  it('times left', () => {
    expect(formatEta(852_660)).toBe('236 h 51 min left');
    expect(formatEta(61)).toBe('1 min 1 s left');
    expect(formatEta(undefined)).toBe('');
  });

  it('no rate or time left in the first seconds of an upload, or before a byte is done; then the average since the start', () => {
    // Many small files started at once: 6 bytes in 200 ms would read "236 h" for 1.9 MiB.
    expect(overallPace(2_000_000, 6, 200)).toBeUndefined();
    expect(overallPace(2_000_000, 0, 60_000)).toBeUndefined();
    expect(overallPace(2_000_000, 1000, PACE_AFTER_MS - 1)).toBeUndefined();
    expect(overallPace(4_000_000, 1_000_000, 10_000)).toEqual({ rate: 100_000, etaSeconds: 40 });
    expect(overallPace(-5, 1000, PACE_AFTER_MS)).toEqual({ rate: 200, etaSeconds: 0 });
  });

  it("errors: the server's words as sentences (a capital, a period), never a code or a request field's name; the app's own words and names as they are", () => {
    expect(errorText(ferryErrorOf('FERRY_ERR_GONE', 'this link was revoked'))).toBe('This link was revoked.');
    expect(errorText(ferryErrorOf('FERRY_ERR_ALREADY_EXISTS', 'user ivy exists'))).toBe('User ivy exists.');
    expect(errorText(ferryErrorOf('FERRY_ERR_ALREADY_EXISTS', '/docs/a.txt: already exists'))).toBe('/docs/a.txt already exists.');
    expect(errorText(ferryErrorOf('FERRY_ERR_NOT_FOUND', '/docs: no such directory'))).toBe('/docs is not there (moved or deleted meanwhile?): reload to see the folder as it is now.');
    expect(errorText(ferryErrorOf('FERRY_ERR_NOT_FOUND'))).toBe('It is not there any more (moved or deleted meanwhile?): reload to see the folder as it is now.');
    expect(errorText(ferryErrorOf('FERRY_ERR_FORBIDDEN'))).toBe('You do not have permission to do that.');
    expect(errorText(ferryErrorOf('FERRY_ERR_FORBIDDEN', "no 'delete' permission on /ro/x", { details: { path: '/ro/x', permission: 'delete' } }))).toBe(
      'You cannot delete or move things out of /ro/x: you do not have permission there.',
    );
    // A request field the server's schema refused: the page sent it, the person cannot fix it.
    expect(errorText(ferryErrorOf('FERRY_ERR_VALIDATION', 'body/grants/0/permissions must be array'))).toBe('The server did not accept the request: reload the page and try again.');
    // A proxy's bare answer, and a code inside a message.
    expect(errorText(new ProtocolError('POST /api/v1/move: HTTP 418 (unexpected answer)'))).toBe('The server answered HTTP 418 (it, or a proxy in front of it, failed): try again in a moment.');
    expect(errorText(ferryErrorOf('FERRY_ERR_SERVER', 'POST /api/v1/move: HTTP 502'))).toBe('The server answered HTTP 502 (it, or a proxy in front of it, failed): try again in a moment.');
    expect(errorText(ferryErrorOf('FERRY_ERR_VALIDATION', 'FERRY_ERR_PATH_INVALID: the path is not valid'))).toBe('The path is not valid.');
    // Names keep their case; the app's own sentences are shown as written.
    expect(errorText(ferryErrorOf('FERRY_ERR_ALREADY_EXISTS', 'photo.jpg is there already'))).toBe('photo.jpg is there already.');
    expect(errorText(new Error('report.pdf has 100 copies in this folder already: copy it into another folder.'))).toBe('report.pdf has 100 copies in this folder already: copy it into another folder.');
  });
});
