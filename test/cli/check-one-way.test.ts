/**
 * `ferry check --one-way` looks only for SRC's files on DST: its summary said "0 missing on
 * SRC" beside files DST alone has, a count it never made. It now leaves that count out and
 * says the comparison went one way, and its `--json` has `missingOnSrc: null` (it had 0).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-check-one-way-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('check --one-way', () => {
  it('counts nothing it did not look for', async () => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    for (const [d, files] of [[src, { 'same.txt': 'same', 'mine.txt': 'only here' }], [dst, { 'same.txt': 'same', 'extra.txt': 'only there' }]] as const) {
      mkdirSync(d);
      for (const [name, body] of Object.entries(files)) writeFileSync(join(d, name), body);
    }
    const both = await runFerry(['check', src, dst]);
    expect(both.code).toBe(1);
    expect(both.stdout).toBe('- extra.txt\n+ mine.txt\n'); // sorted by path
    expect(both.stderr).toBe(`ferry check: 1 matching, 0 differing, 1 missing on ${dst}, 1 missing on ${src}, 0 errors\n`);

    const oneWay = await runFerry(['check', src, dst, '--one-way']);
    expect(oneWay.code).toBe(1);
    expect(oneWay.stdout).toBe('+ mine.txt\n');
    expect(oneWay.stderr).toBe(`ferry check: 1 matching, 0 differing, 1 missing on ${dst}, 0 errors (one way: files only on ${dst} not looked for)\n`);

    // --json: the count it did not make is null, not 0; the other counts as both ways.
    const json = await runFerry(['check', src, dst, '--one-way', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ same: 1, differ: 0, missingOnDst: 1, missingOnSrc: null, errors: 0, ok: false });
    const bothJson = await runFerry(['check', src, dst, '--json']);
    expect(JSON.parse(bothJson.stdout)).toMatchObject({ missingOnDst: 1, missingOnSrc: 1, ok: false });
  });
});
