import { describe, expect, it } from 'vitest';
import { directoryGlobs, globToRegExp, globToRegExpSource } from './filter-glob.js';
import { Filter, parseRuleLine, type FilterOptions } from './filter.js';

const T0 = Date.UTC(2026, 0, 1);

// [glob, path, matches] — cases follow rclone's filtering documentation and glob tests.
const GLOB_CASES: Array<[string, string, boolean]> = [
  ['*.jpg', 'a.jpg', true],
  ['*.jpg', 'dir/a.jpg', true],
  ['*.jpg', 'dir/sub/a.jpg', true],
  ['*.jpg', 'a.jpgx', false],
  ['*.jpg', 'a.png', false],
  ['*', 'dir/a', true],
  ['/*.jpg', 'a.jpg', true],
  ['/*.jpg', 'dir/a.jpg', false],
  ['file.jpg', 'file.jpg', true],
  ['file.jpg', 'dir/file.jpg', true],
  ['file.jpg', 'afile.jpg', false],
  ['file.jpg', 'file.jpg/x', false],
  ['b/c.txt', 'a/b/c.txt', true],
  ['b/c.txt', 'ab/c.txt', false],
  ['/b/c.txt', 'a/b/c.txt', false],
  ['/b/c.txt', 'b/c.txt', true],
  ['dir/*', 'dir/a', true],
  ['dir/*', 'dir/sub/a', false],
  ['dir/**', 'dir/sub/a', true],
  ['dir/**', 'x/dir/sub/a', true],
  ['/dir/**', 'x/dir/sub/a', false],
  ['**', 'any/thing/at/all', true],
  ['/**', 'a', true],
  ['**.txt', 'a/b/c.txt', true],
  ['a*z', 'a/z', false],
  ['a**z', 'a/b/z', true],
  ['?.txt', 'a.txt', true],
  ['?.txt', 'ab.txt', false],
  ['a?c', 'a/c', false],
  ['[abc].txt', 'b.txt', true],
  ['[abc].txt', 'd.txt', false],
  ['[a-c]x', 'bx', true],
  ['[^a-c]x', 'bx', false],
  ['[^a-c]x', 'dx', true],
  ['[!a-c]x', 'dx', true],
  ['[!a-c]x', 'ax', false],
  ['*.{jpg,png}', 'p/a.png', true],
  ['*.{jpg,png}', 'a.jpg', true],
  ['*.{jpg,png}', 'a.gif', false],
  ['{a,b}/x', 'b/x', true],
  ['a,b', 'a,b', true],
  ['a.b', 'axb', false],
  ['a+b(c)|d^$', 'a+b(c)|d^$', true],
  ['\\*.txt', '*.txt', true],
  ['\\*.txt', 'a.txt', false],
  ['a\\?', 'a?', true],
  ['a\\?', 'ab', false],
  ['naïve ☃.txt', 'd/naïve ☃.txt', true],
  ['/a b/"q"\'s?', "a b/\"q\"'s!", true],
];

describe('rclone globs', () => {
  it.each(GLOB_CASES)('%s ~ %s -> %s', (glob, path, want) => {
    expect(globToRegExp(glob).test(path)).toBe(want);
  });

  it('translates like rclone', () => {
    expect(globToRegExpSource('*.jpg')).toBe('(?:^|/)[^/]*\\.jpg$');
    expect(globToRegExpSource('/dir/**')).toBe('^dir/.*$');
    expect(globToRegExpSource('{a,b}?')).toBe('(?:^|/)(?:a|b)[^/]$');
  });

  it.each(['***', 'a]', '[abc', '{a,b', 'a}', '{a,{b}}', 'x\\'])('refuses %s', (glob) => {
    expect(() => globToRegExp(glob)).toThrow(/bad filter pattern/);
  });

  it('ignores case when asked', () => {
    expect(globToRegExp('*.JPG', true).test('a.jpg')).toBe(true);
    expect(globToRegExp('*.JPG').test('a.jpg')).toBe(false);
  });
});

describe('Filter', () => {
  it('includes everything by default', () => {
    const f = new Filter();
    expect(f.active).toBe(false);
    expect(f.includes('a/b', { size: 1 })).toBe(true);
  });

  it('--include adds an implicit exclude of everything else', () => {
    const f = new Filter({ include: ['*.gz'] });
    expect(f.includesPath('logs/a.gz')).toBe(true);
    expect(f.includesPath('logs/a.txt')).toBe(false);
  });

  it('--exclude excludes only what matches', () => {
    const f = new Filter({ exclude: ['*.tmp', 'cache/'] });
    expect(f.includesPath('a.tmp')).toBe(false);
    expect(f.includesPath('x/cache/deep/file')).toBe(false);
    expect(f.includesPath('x/cachefile')).toBe(true);
    expect(f.includesPath('a.txt')).toBe(true);
  });

  it('includes come before excludes, as rclone orders them', () => {
    const f = new Filter({ include: ['keep.tmp'], exclude: ['*.tmp'] });
    expect(f.includesPath('keep.tmp')).toBe(true);
    expect(f.includesPath('other.tmp')).toBe(false);
    expect(f.includesPath('other.txt')).toBe(false); // implicit - **
  });

  it('first matching rule wins in --filter-from files; comments, blanks and ! are understood', () => {
    const text = ['# photos only', '', '; also a comment', '- secret/**', '+ *.jpg', '+ /docs/*.md', '- *'].join('\n');
    const f = new Filter({ filterFromText: [text] });
    expect(f.includesPath('a/b.jpg')).toBe(true);
    expect(f.includesPath('secret/b.jpg')).toBe(false);
    expect(f.includesPath('docs/x.md')).toBe(true);
    expect(f.includesPath('sub/docs/x.md')).toBe(false);
    expect(f.includesPath('x.txt')).toBe(false);
    const cleared = new Filter({ filterFromText: ['- *.jpg\n!\n- *.png'] });
    expect(cleared.includesPath('a.jpg')).toBe(true);
    expect(cleared.includesPath('a.png')).toBe(false);
  });

  it('+ dir/ opens a directory and decides nothing about its files', () => {
    const f = new Filter({ filter: ['+ keep/', '- **'] });
    expect(f.includesDirectory('keep')).toBe(true);
    expect(f.includesPath('keep/a')).toBe(false);
  });

  it("a file below a directory rclone's walk does not enter is not included (a/** does not reach x/a/f)", () => {
    const f = new Filter({ include: ['a/**'] });
    expect(f.includesPath('a/f')).toBe(true);
    expect(f.includesPath('a/b/f')).toBe(true);
    expect(f.includesDirectory('x')).toBe(false);
    expect(f.includesDirectory('x/a')).toBe(false);
    expect(f.includesPath('x/a/f')).toBe(false);
    expect(new Filter({ include: ['**/a/**'] }).includesPath('x/a/f')).toBe(true);
    expect(new Filter({ include: ['*.txt'] }).includesPath('x/y/f.txt')).toBe(true);
  });

  it.each([
    ['a/b/*.txt', ['a/b/', 'a/']],
    ['a/**', ['a/**/', 'a/']],
    ['/a/**/b', ['/a/**/', '/a/', '/']],
    ['*.txt', ['/**']],
    ['{a,x}/**', ['{a,x}/**/', '{a,x}/']],
    ['a{/b,}/*', ['/**']],
    ['a//b', ['a/']],
  ])('directory globs of %s: %j', (glob, want) => {
    expect(directoryGlobs(glob)).toEqual(want);
  });

  it('refuses malformed rule lines', () => {
    expect(() => new Filter({ filterFromText: ['* nope'] })).toThrow(/\+ pattern/);
    expect(() => new Filter({ filter: [''] })).toThrow();
    expect(parseRuleLine('+  two spaces')).toEqual({ include: true, pattern: ' two spaces' });
  });

  it('size limits: --min-size drops smaller files, --max-size larger ones (bounds included)', () => {
    const f = new Filter({ minSize: 10, maxSize: 20 });
    expect(f.includes('a', { size: 9 })).toBe(false);
    expect(f.includes('a', { size: 10 })).toBe(true);
    expect(f.includes('a', { size: 20 })).toBe(true);
    expect(f.includes('a', { size: 21 })).toBe(false);
  });

  it('age limits: --max-age keeps recent files, --min-age old ones', () => {
    const now = 1_000_000_000;
    const recent = new Filter({ maxAge: 1000, now });
    expect(recent.includes('a', { size: 1, mtime: now - 500 })).toBe(true);
    expect(recent.includes('a', { size: 1, mtime: now - 1500 })).toBe(false);
    const old = new Filter({ minAge: 1000, now });
    expect(old.includes('a', { size: 1, mtime: now - 500 })).toBe(false);
    expect(old.includes('a', { size: 1, mtime: now - 1500 })).toBe(true);
  });
});

describe('Filter options from a program', () => {
  it('refuses a size, an age or a time that is not a number of 0 or more, naming the option and the value', () => {
    const bad: Array<[FilterOptions, RegExp]> = [
      [{ minSize: 'abc' as never }, /^Filter: minSize is a number of bytes \(0 or more\), not "abc"$/],
      [{ maxSize: -1 }, /maxSize .* not -1$/],
      [{ maxSize: Number.NaN }, /maxSize .* not null$/],
      [{ minAge: '1d' as never }, /^Filter: minAge is a number of milliseconds \(0 or more\), not "1d"$/],
      [{ maxAge: Infinity }, /maxAge/],
      [{ now: 'now' as never }, /^Filter: now is a time in milliseconds/],
      [{ ignoreCase: 'yes' as never }, /^Filter: ignoreCase is true or false, not "yes"$/],
    ];
    for (const [options, message] of bad) {
      let caught: unknown;
      try {
        new Filter(options);
      } catch (err) {
        caught = err;
      }
      expect({ options, code: (caught as { code?: string })?.code }).toEqual({ options, code: 'FERRY_ERR_USAGE' });
      expect((caught as Error).message).toMatch(message);
    }
  });

  it('refuses a pattern list given as one string (it was taken letter by letter) and an unknown option', () => {
    expect(() => new Filter({ exclude: '*.tmp' as never })).toThrow(/^Filter: exclude is an array of strings, not "\*\.tmp"$/);
    expect(() => new Filter({ include: [1] as never })).toThrow(/include is an array of strings/);
    expect(() => new Filter({ excludes: ['*.tmp'] } as never)).toThrow(/^Filter: unknown option "excludes" \(known: include, exclude,/);
  });

  it("names a bad rule's source as the caller does: `filter rule N` from a program, the CLI's flags from the CLI", () => {
    expect(() => new Filter({ filter: ['+ a', 'keep b'] })).toThrow(/^filter rule 2: a rule is "\+ pattern" or "- pattern" \(or "!" to clear\), not "keep b"$/);
    expect(() => new Filter({ filter: ['+ a', ''] })).toThrow(/^filter rule 2: empty rule$/);
    expect(() => new Filter({ filterFromText: ['+ a', '# x\n* nope'] })).toThrow(/^filterFromText\[1\] line 2: a rule is/);
    const cli = { filter: '--filter', filterFromText: '--filter-from' };
    expect(() => new Filter({ filter: ['keep b'], ruleSources: cli })).toThrow(/^--filter: a rule is "\+ pattern" or "- pattern" \(or "!" to clear\), not "keep b"$/);
    expect(() => new Filter({ filter: [''], ruleSources: cli })).toThrow(/^--filter: empty rule$/);
    expect(() => new Filter({ filterFromText: ['* nope'], ruleSources: cli })).toThrow(/^--filter-from: a rule is/);
    expect(() => new Filter({ ruleSources: { filter: 1 } as never })).toThrow(/^Filter: ruleSources is/);
  });

  it('takes good options, undefined ones and none', () => {
    const f = new Filter({ include: undefined, exclude: ['*.tmp'], minSize: 0, maxSize: 10, minAge: undefined, maxAge: 1000, ignoreCase: true, now: T0 });
    expect(f.includes('a.txt', { size: 5, mtime: T0 })).toBe(true);
    expect(f.includes('A.TMP', { size: 5, mtime: T0 })).toBe(false);
    expect(f.includes('big', { size: 11, mtime: T0 })).toBe(false);
    expect(new Filter().active).toBe(false);
  });
});
