import { describe, expect, it } from 'vitest';
import { isFerryError } from './errors.js';
import type { Entry } from './protocol.js';
import { checkWriteCondition, etagOfHash, parseEtagList } from './write-conditions.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const file = (hash: string): Entry => ({ path: '/f', name: 'f', type: 'file', size: 1, mtime: 0, hash });
const dir: Entry = { path: '/d', name: 'd', type: 'dir', size: 0, mtime: 0 };

/** The refusal `run` throws, or undefined when the condition holds. */
function refusal(run: () => void): { code: string; message: string; details?: Record<string, unknown> } | undefined {
  try {
    run();
    return undefined;
  } catch (err) {
    if (!isFerryError(err)) throw err;
    return { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) };
  }
}

describe('parseEtagList', () => {
  it('takes *, one quoted tag or a list (weak ones too); anything else is FERRY_ERR_VALIDATION', () => {
    expect(parseEtagList(' * ', 'If-Match')).toBe('*');
    expect(parseEtagList(`"${A}"`, 'If-Match')).toEqual([`"${A}"`]);
    expect(parseEtagList(`"${A}" , W/"${B}"`, 'If-None-Match')).toEqual([`"${A}"`, `W/"${B}"`]);
    for (const bad of [A, '', ',', '"open', `"${A}" x`, '**']) {
      expect(refusal(() => parseEtagList(bad, 'If-Match'))?.code, bad).toBe('FERRY_ERR_VALIDATION');
    }
  });
});

describe('checkWriteCondition', () => {
  it('If-Match: the file\'s ETag (or its content-coded form) holds; another, a weak one, a folder or nothing there does not', () => {
    expect(refusal(() => checkWriteCondition({ ifMatch: [etagOfHash(A)] }, '/f', file(A)))).toBeUndefined();
    expect(refusal(() => checkWriteCondition({ ifMatch: [`"${A}-zstd"`] }, '/f', file(A)))).toBeUndefined();
    expect(refusal(() => checkWriteCondition({ ifMatch: '*' }, '/f', dir))).toBeUndefined();
    expect(refusal(() => checkWriteCondition({ ifMatch: [etagOfHash(B)] }, '/f', file(A)))).toEqual({
      code: 'FERRY_ERR_PRECONDITION_FAILED',
      message: `/f changed since you read it: its ETag is now "${A}", not "${B}"`,
      details: { path: '/f', condition: 'If-Match', etag: `"${A}"` },
    });
    expect(refusal(() => checkWriteCondition({ ifMatch: [`W/"${A}"`] }, '/f', file(A)))?.code).toBe('FERRY_ERR_PRECONDITION_FAILED');
    expect(refusal(() => checkWriteCondition({ ifMatch: [etagOfHash(A)] }, '/d', dir))?.details).toEqual({ path: '/d', condition: 'If-Match', etag: null });
    expect(refusal(() => checkWriteCondition({ ifMatch: '*' }, '/f', undefined))?.message).toContain('no longer there');
  });

  it('If-None-Match: * only where nothing is; a tag list refuses the file that holds one of them (weakly compared)', () => {
    expect(refusal(() => checkWriteCondition({ ifNoneMatch: '*' }, '/f', undefined))).toBeUndefined();
    expect(refusal(() => checkWriteCondition({ ifNoneMatch: '*' }, '/d', dir))?.details).toEqual({ path: '/d', condition: 'If-None-Match', etag: null });
    expect(refusal(() => checkWriteCondition({ ifNoneMatch: [`W/"${A}"`] }, '/f', file(A)))?.details).toMatchObject({ condition: 'If-None-Match' });
    expect(refusal(() => checkWriteCondition({ ifNoneMatch: [etagOfHash(B)] }, '/f', file(A)))).toBeUndefined();
  });
});
