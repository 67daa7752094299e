/**
 * What a script meets: a quoted wildcard reaches a server path as it is (no file of that
 * name: exit 3 with a hint, the error as JSON on stderr with --json), and names with spaces
 * and non-ASCII letters travel through put, ls --json, get - and rm unchanged; --json
 * summaries give elapsedMs in whole ms.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
  await writeFile(join(w.dir, 'one.gz'), 'one');
  ok(await w.ferry(['put', join(w.dir, 'one.gz'), '/logs/one.gz']));
});
afterAll(async () => {
  await w?.close();
});

const HINT = '(server paths take no wildcards: list them with ferry ls, or fetch a folder with get -r --include PATTERN)';

describe('scripting', () => {
  it('a wildcard in a server path is not found (exit 3) with a hint, on get, rm, stat, and as JSON with --json', async () => {
    for (const args of [['get', '/logs/*.gz', join(w.dir, 'out') + '/'], ['rm', '/logs/*.gz'], ['stat', '/logs/o?e.gz'], ['ls', 'ferry:/logs/[o]ne.gz']]) {
      const r = await w.ferry(args);
      expect({ args, code: r.code }).toEqual({ args, code: 3 });
      expect(r.stderr, args.join(' ')).toContain(`no such file or directory ${HINT} (FERRY_ERR_NOT_FOUND)`);
    }
    const json = await w.ferry(['ls', '--json', '/logs/*']);
    expect(json.code).toBe(3);
    expect(json.stdout).toBe('');
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'FERRY_ERR_NOT_FOUND', message: `/logs/*: no such file or directory ${HINT}`, details: { path: '/logs/*' } } });
    // Without a wildcard the message is the server's, unchanged; the file itself is still there.
    expect((await w.ferry(['stat', '/logs/none.gz'])).stderr).toBe('ferry: /logs/none.gz: no such file or directory (FERRY_ERR_NOT_FOUND)\n');
    ok(await w.ferry(['stat', '/logs/one.gz']));
  });

  it('names with spaces and non-ASCII letters round-trip through put, ls --json, get - and rm', async () => {
    const name = 'a b ü 日本 ✓.txt';
    await writeFile(join(w.dir, name), 'unicode body');
    const put = JSON.parse(ok(await w.ferry(['put', '--json', join(w.dir, name), '/dir with space/'])).stdout) as Record<string, unknown>;
    expect(put).toMatchObject({ ok: true, files: 1, bytes: 12 });
    expect(Number.isInteger(put.elapsedMs), String(put.elapsedMs)).toBe(true); // it printed 157.25897999999998
    const entries = JSON.parse(ok(await w.ferry(['ls', '--json', '/dir with space'])).stdout) as Array<{ path: string; name: string }>;
    expect(entries.map((e) => [e.path, e.name])).toEqual([[`/dir with space/${name}`, name]]);
    expect(ok(await w.ferry(['ls', '/dir with space'])).stdout).toBe(`${name}\n`);
    expect(ok(await w.ferry(['get', `/dir with space/${name}`, '-'])).stdout).toBe('unicode body');
    const got = JSON.parse(ok(await w.ferry(['get', '--json', `/dir with space/${name}`, join(w.dir, 'got.txt')])).stdout) as Record<string, unknown>;
    expect(got).toMatchObject({ ok: true, files: 1, bytes: 12 });
    expect(Number.isInteger(got.elapsedMs), String(got.elapsedMs)).toBe(true);
    // sync and check too: whole ms, as every --json summary.
    const tree = join(w.dir, 'tree');
    await mkdir(tree);
    await writeFile(join(tree, name), 'in a tree');
    for (const args of [['sync', '--json', tree, 'ferry:/synced'], ['check', '--json', tree, 'ferry:/synced']]) {
      const out = JSON.parse(ok(await w.ferry(args)).stdout) as { elapsedMs: number };
      expect(Number.isInteger(out.elapsedMs), `${args[0]}: ${out.elapsedMs}`).toBe(true);
    }
    ok(await w.ferry(['rm', `/dir with space/${name}`]));
    expect((await w.ferry(['stat', `/dir with space/${name}`])).code).toBe(3);
  });
});
