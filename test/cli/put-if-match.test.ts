/**
 * `ferry put --if-match ETAG`: replaces the remote file only if it still has the ETag that
 * `ferry stat --json` showed (the hash alone works too); a file that changed or went away
 * meanwhile fails with exit 6 and FERRY_ERR_PRECONDITION_FAILED, naming the path and its
 * ETag now, and keeps its bytes. "Only if absent" is the existing `--no-clobber`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let world: E2EWorld;
const ferry = (args: string[], options: { input?: string } = {}) => world.ferry(args, { cwd: world.dir, ...options });
const local = (name: string) => join(world.dir, name);

beforeAll(async () => {
  world = await startWorld();
}, 60_000);
afterAll(async () => {
  await world?.close();
});

async function statJson(path: string): Promise<{ hash: string; etag?: string; type: string }> {
  const r = ok(await ferry(['stat', '--json', path]));
  return JSON.parse(r.stdout) as { hash: string; etag?: string; type: string };
}

async function cat(path: string): Promise<string> {
  const out = local('cat-out');
  ok(await ferry(['get', path, out]));
  return readFile(out, 'utf8');
}

describe('ferry put --if-match', () => {
  it('stat shows the ETag; put with it replaces, put with a stale one fails (exit 6) and keeps the file', async () => {
    await writeFile(local('v1.txt'), 'version one\n');
    await writeFile(local('v2.txt'), 'version two\n');
    await writeFile(local('v3.txt'), 'version three\n');
    ok(await ferry(['put', local('v1.txt'), '/notes.txt']));
    const first = await statJson('/notes.txt');
    expect(first.etag).toBe(`"${first.hash}"`);
    expect(ok(await ferry(['stat', '/notes.txt'])).stdout).toContain(`etag:    "${first.hash}" (put --if-match)`);

    ok(await ferry(['put', '--if-match', first.etag!, local('v2.txt'), '/notes.txt']));
    const second = await statJson('/notes.txt');
    const r = await ferry(['put', '--if-match', first.etag!, local('v3.txt'), '/notes.txt']);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('FERRY_ERR_PRECONDITION_FAILED');
    expect(r.stderr).toContain(`/notes.txt changed since you read it: its ETag is now ${second.etag}`);
    expect(await cat('/notes.txt')).toBe('version two\n');

    // The hash alone is taken as the ETag; stdin too.
    ok(await ferry(['put', '--if-match', second.hash, local('v3.txt'), '/notes.txt']));
    expect(await cat('/notes.txt')).toBe('version three\n');
    expect((await ferry(['put', '--if-match', second.hash, '-', '/notes.txt'], { input: 'from stdin\n' })).code).toBe(6);
    ok(await ferry(['put', '--if-match', (await statJson('/notes.txt')).etag!, '-', '/notes.txt'], { input: 'from stdin\n' }));
    expect(await cat('/notes.txt')).toBe('from stdin\n');
  });

  it('a file that is not there fails: --if-match needs the file it names', async () => {
    await writeFile(local('new.txt'), 'new\n');
    const r = await ferry(['put', '--if-match', `"${'0'.repeat(64)}"`, local('new.txt'), '/absent.txt']);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('/absent.txt: no longer there');
    expect((await ferry(['stat', '/absent.txt'])).code).toBe(3);
  });

  it('refused before anything travels: a value that is no ETag, several sources, -r, --no-clobber beside it', async () => {
    await writeFile(local('x.txt'), 'x\n');
    const bad = await ferry(['put', '--if-match', 'yesterday', local('x.txt'), '/x.txt']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ETag');
    const etag = `"${'1'.repeat(64)}"`;
    expect((await ferry(['put', '--if-match', etag, local('x.txt'), local('v1.txt'), '/dir/'])).code).toBe(2);
    expect((await ferry(['put', '-r', '--if-match', etag, local('x.txt'), '/x.txt'])).code).toBe(2);
    const both = await ferry(['put', '--no-clobber', '--if-match', etag, local('x.txt'), '/x.txt']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--no-clobber');
    expect((await ferry(['stat', '/x.txt'])).code).toBe(3);
  });
});
