import { describe, expect, it } from 'vitest';
import { newUploadId } from './upload-sessions.js';

describe('newUploadId', () => {
  it('is 22 base64url characters and never starts with "-" (a CLI would read it as an option)', () => {
    // 1 id in 64 would start with "-" by chance: 4,000 ids all but surely meet such ids.
    const ids = Array.from({ length: 4000 }, () => newUploadId());
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
