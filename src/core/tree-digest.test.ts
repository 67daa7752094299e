import { createHash, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compareCodePoints, EMPTY_TREE_DIGEST, TreeDigestBuilder, treeDigestOf, type DigestFile } from './tree-digest.js';

/** A string of random units from ranges where UTF-16 order and code-point order disagree. */
function randomName(): string {
  const ranges: Array<[number, number]> = [
    [0x61, 0x7a],
    [0x2f, 0x2f],
    [0xe9, 0xe9],
    [0xe000, 0xe010],
    [0xfb01, 0xfb02],
    [0xffe0, 0xffee],
    [0x1f600, 0x1f60f], // astral: a surrogate pair in UTF-16
    [0x10400, 0x10410],
  ];
  let s = '';
  for (let i = randomInt(1, 6); i > 0; i--) {
    const [lo, hi] = ranges[randomInt(0, ranges.length)];
    s += String.fromCodePoint(randomInt(lo, hi + 1));
  }
  return s;
}

describe('compareCodePoints', () => {
  it('orders strings as their UTF-8 bytes do (the order of a byte-order ORDER BY)', () => {
    for (let i = 0; i < 3000; i++) {
      const a = randomName();
      const b = randomName();
      const bytes = Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(Math.sign(compareCodePoints(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(bytes);
    }
  });

  it('puts a code point past U+FFFF after U+FB01, unlike UTF-16 order', () => {
    expect('😀' < 'ﬁ').toBe(true);
    expect(compareCodePoints('😀', 'ﬁ')).toBeGreaterThan(0);
    expect(compareCodePoints('a', 'a/b')).toBeLessThan(0);
    expect(compareCodePoints('a-b', 'a/b')).toBeLessThan(0);
    expect(compareCodePoints('x', 'x')).toBe(0);
  });
});

describe('tree digests', () => {
  const files = new Map([
    ['a.txt', { size: 3, mtime: 1_700_000_000_000 }],
    ['d/😀', { size: 0, mtime: 5 }],
    ['d/ﬁle', { size: 10, mtime: 6 }],
  ]);

  it('do not depend on the order a listing came in', () => {
    const reversed = new Map([...files].reverse());
    expect(treeDigestOf(reversed, ['d'])).toBe(treeDigestOf(files, ['d']));
    expect(treeDigestOf(files, ['d'])).toMatch(/^tree-digest-v1:[0-9a-f]{64}$/);
  });

  it('change with any size, time, path or directory, and not with a time within the same millisecond', () => {
    const base = treeDigestOf(files, ['d']);
    const variant = (change: (m: Map<string, { size: number; mtime: number }>) => void, dirs = ['d']) => {
      const m = new Map([...files].map(([k, v]) => [k, { ...v }]));
      change(m);
      return treeDigestOf(m, dirs);
    };
    const others = [
      variant((m) => (m.get('a.txt')!.size = 4)),
      variant((m) => (m.get('a.txt')!.mtime += 1)),
      variant((m) => m.delete('d/😀')),
      variant((m) => m.set('b', { size: 0, mtime: 0 })),
      variant(() => {}, ['d', 'e']),
      variant(() => {}, []),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
    expect(variant((m) => (m.get('a.txt')!.mtime += 0.3))).toBe(base);
  });

  it('cannot be imitated by a path holding a record boundary', () => {
    const one = treeDigestOf(new Map([['a"]\n["b', { size: 1, mtime: 1 }]]), []);
    const two = treeDigestOf(new Map([['a', { size: 1, mtime: 1 }], ['b', { size: 1, mtime: 1 }]]), []);
    expect(one).not.toBe(two);
    // A directory is not a file of size 0.
    expect(treeDigestOf(new Map(), ['x'])).not.toBe(treeDigestOf(new Map([['x', { size: 0, mtime: 0 }]]), []));
  });

  it('are built incrementally in code-point order, and refuse entries out of order', () => {
    const b = new TreeDigestBuilder();
    b.add('a.txt', files.get('a.txt'));
    b.add('d');
    b.add('d/ﬁle', files.get('d/ﬁle'));
    b.add('d/😀', files.get('d/😀'));
    expect(b.digest()).toBe(treeDigestOf(files, ['d']));
    expect([b.files, b.dirs]).toEqual([3, 1]);
    const wrong = new TreeDigestBuilder();
    wrong.add('d/😀', files.get('d/😀'));
    wrong.add('d/ﬁle', files.get('d/ﬁle'));
    expect(wrong.digest()).toBeUndefined();
    const twice = new TreeDigestBuilder();
    twice.add('d');
    twice.add('d');
    expect(twice.digest()).toBeUndefined();
  });

  it('are the SHA-256 of the records as the format defines them (JSON.stringify of each), for any name', () => {
    const nasty = ['plain', 'quote"d', 'back\\slash', 'tab\there', 'nul\u0000', 'new\nline', 'lone \uD800 high', 'lone \uDC00 low', 'pair 😀', 'ﬁ', '\u001f', 'é/ü'];
    const files = new Map<string, DigestFile>(nasty.map((n, i) => [n, { size: i * 1000, mtime: i % 3 === 0 ? undefined : 1_700_000_000_000 + i + 0.4 }]));
    const dirs = ['dir "x"', 'dir\\y'];
    const records = [...files.keys(), ...dirs]
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) || (a < b ? -1 : 1))
      .map((p) => {
        const f = files.get(p);
        return JSON.stringify(f ? [p, f.size, f.mtime === undefined ? null : Math.round(f.mtime)] : [p]) + '\n';
      });
    const reference = 'tree-digest-v1:' + createHash('sha256').update(records.join('')).digest('hex');
    expect(treeDigestOf(files, dirs)).toBe(reference);
  });

  it('of nothing is one known value, a file without a time another', () => {
    expect(new TreeDigestBuilder().digest()).toBe(EMPTY_TREE_DIGEST);
    expect(treeDigestOf(new Map([['x', { size: 1 }]]), [])).not.toBe(treeDigestOf(new Map([['x', { size: 1, mtime: 0 }]]), []));
  });
});
