/**
 * `--if-match ETAG` beyond plain puts: `ferry mv` and `ferry cp` replace the file at their
 * target only if it still has the ETag (the API's If-Match on move and copy), `ferry rm`
 * removes a file only if it still has it, and an end-to-end put into a vault honours it as a
 * plain put does. A stale ETag fails with exit 6 and
 * FERRY_ERR_PRECONDITION_FAILED, nothing changed.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let world: E2EWorld;
const env = { FERRY_E2E_PASSPHRASE: 'a passphrase for the if-match test, long enough' };
const ferry = (args: string[], options: { input?: string } = {}) => world.ferry(args, { cwd: world.dir, env, ...options });
const local = (name: string) => join(world.dir, name);

beforeAll(async () => {
  world = await startWorld();
}, 60_000);
afterAll(async () => {
  await world?.close();
});

async function etagOf(path: string): Promise<string> {
  return (JSON.parse(ok(await ferry(['stat', '--json', path])).stdout) as { etag: string }).etag;
}

async function put(text: string, path: string, ...flags: string[]): Promise<void> {
  await writeFile(local('src.txt'), text);
  ok(await ferry(['put', ...flags, local('src.txt'), path]));
}

async function cat(path: string): Promise<string> {
  ok(await ferry(['get', path, local('out.txt')]));
  return readFile(local('out.txt'), 'utf8');
}

describe('mv, cp and rm --if-match', () => {
  it('mv and cp replace the target only while it has the ETag; a stale one fails with exit 6', async () => {
    for (const verb of ['mv', 'cp']) {
      await put(`${verb} new\n`, `/${verb}-src.txt`);
      await put(`${verb} target\n`, `/${verb}-dst.txt`);
      const seen = await etagOf(`/${verb}-dst.txt`);
      await put(`${verb} target, edited by someone else\n`, `/${verb}-dst.txt`);
      const stale = await ferry([verb, '--if-match', seen, `/${verb}-src.txt`, `/${verb}-dst.txt`]);
      expect(stale.code, verb).toBe(6);
      expect(stale.stderr).toContain('FERRY_ERR_PRECONDITION_FAILED');
      expect(await cat(`/${verb}-dst.txt`)).toBe(`${verb} target, edited by someone else\n`);
      expect((await ferry(['stat', `/${verb}-src.txt`])).code).toBe(0);

      const now = await etagOf(`/${verb}-dst.txt`);
      ok(await ferry([verb, '--if-match', now.slice(1, -1), `/${verb}-src.txt`, `/${verb}-dst.txt`])); // the hash alone too
      expect(await cat(`/${verb}-dst.txt`)).toBe(`${verb} new\n`);
      expect((await ferry(['stat', `/${verb}-src.txt`])).code).toBe(verb === 'mv' ? 3 : 0);
    }
  });

  it('rm removes the file only while it has the ETag', async () => {
    await put('first\n', '/rm-me.txt');
    const seen = await etagOf('/rm-me.txt');
    await put('second\n', '/rm-me.txt');
    const stale = await ferry(['rm', '--if-match', seen, '/rm-me.txt']);
    expect(stale.code).toBe(6);
    expect(stale.stderr).toContain('FERRY_ERR_PRECONDITION_FAILED');
    expect(await cat('/rm-me.txt')).toBe('second\n');
    ok(await ferry(['rm', '--if-match', await etagOf('/rm-me.txt'), '/rm-me.txt']));
    expect((await ferry(['stat', '/rm-me.txt'])).code).toBe(3);
  });

  it('refused before anything is done: not an ETag, --no-clobber beside it, another store, several files or -r for rm', async () => {
    await put('keep\n', '/keep.txt');
    const etag = await etagOf('/keep.txt');
    const bad = await ferry(['mv', '--if-match', 'yesterday', '/keep.txt', '/other.txt']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ETag');
    const both = await ferry(['cp', '--no-clobber', '--if-match', etag, '/keep.txt', '/other.txt']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--no-clobber');
    const elsewhere = await ferry(['cp', '--if-match', etag, '/keep.txt', './here.txt']);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain('Ferry server');
    expect((await ferry(['rm', '--if-match', etag, '/keep.txt', '/other.txt'])).code).toBe(2);
    expect((await ferry(['rm', '-r', '--if-match', etag, '/keep.txt'])).code).toBe(2);
    expect(await cat('/keep.txt')).toBe('keep\n');
  });
});

describe('end-to-end put --if-match', () => {
  it('a put into a vault replaces the file only while it has the ETag (stat of its plain path gives it)', async () => {
    ok(await ferry(['mkdir', '--e2e', '/vault']));
    for (const [dest, flags] of [['/vault/diary.txt', []]] as const) {
      await put('day one\n', dest, ...flags);
      const seen = await etagOf(dest);
      await put('day two\n', dest, ...flags);
      await writeFile(local('late.txt'), 'day three\n');
      const stale = await ferry(['put', ...flags, '--if-match', seen, local('late.txt'), dest]);
      expect(stale.code, dest).toBe(6);
      expect(stale.stderr).toContain('FERRY_ERR_PRECONDITION_FAILED');
      expect(await cat(dest)).toBe('day two\n');
      ok(await ferry(['put', ...flags, '--if-match', await etagOf(dest), local('late.txt'), dest]));
      expect(await cat(dest)).toBe('day three\n');
      // stdin too
      const fromStdin = await ferry(['put', ...flags, '--if-match', seen, '-', dest], { input: 'day four\n' });
      expect(fromStdin.code).toBe(6);
      expect(await cat(dest)).toBe('day three\n');
    }
  });
});
