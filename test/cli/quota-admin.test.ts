/**
 * `ferry quota USER` (an admin's view) shows the lines the user sees with `ferry quota`: the
 * limits in force (the server's --max-file-size and --max-upload-sessions filled in) and the
 * upload sessions open.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld({ extraArgs: ['--max-file-size', '1G', '--max-upload-sessions', '7'] });
  ok(await w.ferry(['user', 'add', 'bob', '--password-stdin'], { input: 'bob-password-1234\n' }));
}, 60_000);
afterAll(async () => {
  await w?.close();
});

it("an admin's `ferry quota bob` has bob's own lines, uploads open and the server's limits included", async () => {
  const made = await fetch(`${w.server.url}/api/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${w.server.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bob test', user: 'bob' }),
  });
  expect(made.status).toBe(201);
  const bobToken = ((await made.json()) as { token: string }).token;
  ok(await w.ferry(['put', '-q', '-', '/quota.txt'], { input: 'four\n', env: { FERRY_TOKEN: bobToken } }));
  // An upload begun and not finished: a session stays open.
  const body = Buffer.from('never sent\n');
  const hash = createHash('sha256').update(body).digest('hex');
  const begun = await fetch(`${w.server.url}/api/v1/uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bobToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ path: '/open.txt', size: body.length, hash: fileHashOf([{ hash, size: body.length }]), mtime: Date.now(), mode: 0o644, chunks: [{ hash, size: body.length }] }),
  });
  expect(begun.status, await begun.clone().text()).toBe(201);

  const own = ok(await w.ferry(['quota'], { env: { FERRY_TOKEN: bobToken } })).stdout;
  expect(own).toBe(['user:     bob', 'bytes:    5 B (no quota)', 'files:    1 (no quota)', 'max file: 1.00 GiB', 'uploads:  1 open of 7', ''].join('\n'));
  expect(ok(await w.ferry(['quota', 'bob'])).stdout).toBe(own);
  expect(JSON.parse(ok(await w.ferry(['quota', 'bob', '--json'])).stdout)).toEqual(JSON.parse(ok(await w.ferry(['quota', '--json'], { env: { FERRY_TOKEN: bobToken } })).stdout));

  // A user's own limits, lower than the server's, are the ones shown.
  ok(await w.ferry(['user', 'set', 'bob', '--max-file-size', '10M', '--max-sessions', '3']));
  const lower = ok(await w.ferry(['quota', 'bob'])).stdout;
  expect(lower).toContain('max file: 10.0 MiB\n');
  expect(lower).toContain('uploads:  1 open of 3\n');
  expect(lower).toBe(ok(await w.ferry(['quota'], { env: { FERRY_TOKEN: bobToken } })).stdout);
});
