/**
 * -q/--quiet on every command that changes files, links or tokens (README, "Flags"): with it
 * a successful run prints nothing at all, -n's and -v's lines included; errors still show.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld({ extraArgs: ['--trash-days', '7', '--versions', '{"keep": 5}'] });
  await writeFile(join(w.dir, 'f'), 'one\n');
  ok(await w.ferry(['put', join(w.dir, 'f'), '/q/f']));
  await writeFile(join(w.dir, 'f'), 'two\n');
  ok(await w.ferry(['put', join(w.dir, 'f'), '/q/f']));
});
afterAll(async () => {
  await w?.close();
});

const silent = async (args: string[]) => {
  const r = ok(await w.ferry(args));
  expect({ args, stdout: r.stdout, stderr: r.stderr }).toEqual({ args, stdout: '', stderr: '' });
};

describe('-q', () => {
  it('mkdir, rm (with -n and -v too), restore, trash restore and trash empty print nothing when they succeed', async () => {
    await silent(['mkdir', '-q', '-n', '/q/new']);
    await silent(['mkdir', '-q', '/q/new']);
    await silent(['rm', '-q', '-n', '-r', '/q/new']);
    await silent(['rm', '-q', '-v', '-r', '/q/new']);
    const [old] = JSON.parse(ok(await w.ferry(['versions', '/q/f', '--json'])).stdout) as Array<{ id: number; current?: boolean }>;
    await silent(['restore', '-q', '/q/f', '--version', String(old.id)]);
    ok(await w.ferry(['rm', '/q/f']));
    const [trashed] = JSON.parse(ok(await w.ferry(['trash', 'ls', '--json'])).stdout) as Array<{ id: number }>;
    await silent(['trash', 'restore', '-q', String(trashed.id)]);
    ok(await w.ferry(['rm', '/q/f']));
    await silent(['trash', 'empty', '-q']);
  });

  it('share revoke and token revoke print nothing when they succeed', async () => {
    ok(await w.ferry(['put', join(w.dir, 'f'), '/q/shared']));
    const share = JSON.parse(ok(await w.ferry(['share', 'create', '/q/shared', '--json'])).stdout) as { id: string };
    await silent(['share', 'revoke', '-q', share.id]);
    const token = JSON.parse(ok(await w.ferry(['token', 'create', '--json'])).stdout) as { id: string };
    await silent(['token', 'revoke', '-q', token.id]);
  });

  it('errors still show under -q', async () => {
    const r = await w.ferry(['mkdir', '-q', '/q/nope/deeper']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('/q/nope');
    const rm = await w.ferry(['rm', '-q', '/q/absent']);
    expect(rm.code).not.toBe(0);
    expect(rm.stderr).toContain('/q/absent');
  });
});
