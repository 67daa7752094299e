import { describe, expect, it } from 'vitest';
import { partPathOf } from './part-file.js';

describe('partPathOf', () => {
  it('is DEST.ferry-part while that fits in 255 bytes', () => {
    expect(partPathOf('/d/a.txt', '.ferry-part')).toBe('/d/a.txt.ferry-part');
    const longest = 'a'.repeat(244);
    expect(partPathOf(`/d/${longest}`, '.ferry-part')).toBe(`/d/${longest}.ferry-part`);
  });

  it('shortens a longer name, whole characters kept, the same at every run and different per name', () => {
    for (const name of ['a'.repeat(255), 'é'.repeat(127), '😀'.repeat(63), 'a'.repeat(245)]) {
      const part = partPathOf(`/d/${name}`, '.v12.ferry-part');
      expect(part.startsWith('/d/')).toBe(true);
      const base = part.slice(3);
      expect(Buffer.byteLength(base)).toBeLessThanOrEqual(255);
      expect(base).toMatch(/~[0-9a-f]{16}\.v12\.ferry-part$/);
      expect(base).not.toContain('\ufffd');
      expect(name.startsWith(base.slice(0, base.indexOf('~')))).toBe(true);
      expect(partPathOf(`/d/${name}`, '.v12.ferry-part')).toBe(part);
    }
    expect(partPathOf(`/d/${'a'.repeat(250)}b`, '.ferry-part')).not.toBe(partPathOf(`/d/${'a'.repeat(250)}c`, '.ferry-part'));
  });
});
