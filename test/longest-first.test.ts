/**
 * The order test files start in (test/longest-first.ts): the longest listed first within each
 * project, the projects in their group order, the rest as vitest had them; and the list itself
 * names files that exist, written from a run's output by scripts/test-durations.mjs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestSpecification } from 'vitest/node';
import { describe, expect, it } from 'vitest';
import { longestFirst, readDurations } from './longest-first.js';

const root = '/repo';
const spec = (path: string, project: string, groupOrder: number) => ({ moduleId: join(root, path), project: { name: project, config: { sequence: { groupOrder } } } }) as unknown as TestSpecification;
const paths = (files: TestSpecification[]) => files.map((f) => f.moduleId.slice(root.length + 1));

describe('longestFirst', () => {
  it('starts the listed files longest first, then the others in the order vitest gave, project by project', () => {
    const files = [
      spec('src/a.test.ts', 'shared', 0),
      spec('test/short.test.ts', 'shared', 0),
      spec('test/long.test.ts', 'shared', 0),
      spec('src/b.test.ts', 'shared', 0),
      spec('test/middle.test.ts', 'shared', 0),
      spec('test/web/x.test.ts', 'alone', 1),
      spec('test/web/longest.test.ts', 'alone', 1),
    ];
    const durations = { 'test/long.test.ts': 60_000, 'test/middle.test.ts': 30_000, 'test/short.test.ts': 6_000, 'test/web/longest.test.ts': 90_000, 'test/gone.test.ts': 1e6 };
    expect(paths(longestFirst(files, root, durations))).toEqual([
      'test/long.test.ts',
      'test/middle.test.ts',
      'test/short.test.ts',
      'src/a.test.ts',
      'src/b.test.ts',
      // The longest file of all still waits for its group.
      'test/web/longest.test.ts',
      'test/web/x.test.ts',
    ]);
  });

  it('leaves vitest’s order as it is when nothing is listed', () => {
    const files = [spec('b.test.ts', 'shared', 0), spec('a.test.ts', 'shared', 0), spec('c.test.ts', 'alone', 1)];
    expect(paths(longestFirst(files, root, {}))).toEqual(['b.test.ts', 'a.test.ts', 'c.test.ts']);
  });
});

describe('test/durations.json', () => {
  it('names only test files that exist, each with a duration', () => {
    const durations = Object.entries(readDurations());
    expect(durations.length).toBeGreaterThan(10);
    const root = new URL('..', import.meta.url).pathname;
    expect(durations.filter(([path, ms]) => !path.endsWith('.test.ts') || !existsSync(join(root, path)) || !(ms > 0))).toEqual([]);
  });

  it('scripts/test-durations.mjs writes it from a run’s output: files of 5 s or more, longest first', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-durations-'));
    try {
      const log = join(dir, 'run.log');
      writeFileSync(
        log,
        [
          ' \x1b[32m✓\x1b[39m \x1b[30;46m shared \x1b[49;39m test/a.test.ts \x1b[2m(3 tests)\x1b[22m\x1b[33m 7000ms\x1b[39m',
          '     ✓ a test of it  6500ms',
          ' ✓  shared  src/quick.test.ts (1 test) 12ms',
          ' ✓  alone  test/web/b.test.ts (14 tests | 1 skipped) 21000ms',
          ' ❯  shared  test/c.test.ts (2 tests | 1 failed) 5000ms',
        ].join('\n'),
      );
      execFileSync(process.execPath, [new URL('../scripts/test-durations.mjs', import.meta.url).pathname, log, join(dir, 'out.json')]);
      const out = readFileSync(join(dir, 'out.json'), 'utf8');
      expect(JSON.parse(out)).toEqual({ 'test/web/b.test.ts': 21000, 'test/a.test.ts': 7000, 'test/c.test.ts': 5000 });
      expect(Object.keys(JSON.parse(out))).toEqual(['test/web/b.test.ts', 'test/a.test.ts', 'test/c.test.ts']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
