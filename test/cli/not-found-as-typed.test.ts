/**
 * A not-found for a location the user typed names it as typed (`me:x`, `ferry:x/y`), not as
 * the server's path (`/x`), which the user never wrote and which, through a saved login or a
 * remote, may not even be where they looked; `--json` keeps the server's path in
 * `details.path`. Before, every one of these said `/x: no such file or directory`.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
  ok(await w.ferry(['remote', 'add', 'me', 'ferry', `server=${w.server.url}`, `token=${w.server.adminToken}`]));
});
afterAll(async () => {
  await w?.close();
});

describe('not found, as typed', () => {
  it('ls, stat, cat, size, rm, get, versions, share, mv and cp name me:x', async () => {
    const runs = [['ls', 'me:x'], ['stat', 'me:x'], ['cat', 'me:x'], ['size', 'me:x'], ['rm', 'me:x'], ['get', 'me:x', join(w.dir, 'out')], ['versions', 'me:x'], ['share', 'me:x'], ['mv', 'me:x', 'me:y'], ['cp', 'me:x', 'me:y']];
    for (const args of runs) {
      const r = await w.ferry(args);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stderr, args.join(' ')).toBe('ferry: me:x: no such file or directory (FERRY_ERR_NOT_FOUND)\n');
    }
  });

  it('ferry:x/y as typed too; a bare path is the server path it is shorthand for', async () => {
    expect((await w.ferry(['ls', 'ferry:x/y'])).stderr).toBe('ferry: ferry:x/y: no such file or directory (FERRY_ERR_NOT_FOUND)\n');
    expect((await w.ferry(['stat', 'x'])).stderr).toBe('ferry: /x: no such file or directory (FERRY_ERR_NOT_FOUND)\n');
  });

  it('--json keeps the server path in details.path', async () => {
    const r = await w.ferry(['ls', '--json', 'me:x']);
    expect(r.code).toBe(3);
    const { error } = JSON.parse(r.stderr) as { error: { code: string; message: string; details: { path: string } } };
    expect(error).toMatchObject({ code: 'FERRY_ERR_NOT_FOUND', message: 'me:x: no such file or directory', details: { path: '/x' } });
  });
});
