import { describe, expect, it } from 'vitest';
import { HANDLERS } from './handlers.js';
import { DAV_METHODS } from './index.js';

describe('WebDAV routes', () => {
  it('registers at start-up exactly the methods the lazily loaded handlers serve', () => {
    expect([...DAV_METHODS].sort()).toEqual(Object.keys(HANDLERS).sort());
  });
});
