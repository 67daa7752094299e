/**
 * A put cut off by the server going away (a restart: SIGTERM, its drain deadline passed) says
 * that the same command resumes it, and it does: the chunks that arrived are not sent again.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ok, startWorld, waitFor, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld({ extraArgs: ['--drain-timeout', '1s'] });
}, 60_000);
afterAll(async () => {
  await w?.close();
});

it('a put cut by a server restart says to run it again, and run again it resumes', async () => {
  const file = join(w.dir, 'big.bin');
  await writeFile(file, randomBytes(24 * 1024 * 1024));
  const put = w.ferry(['put', '--retries', '0', '--bwlimit', '3M', file, '/big.bin']);
  // Some chunks stored, the rest on the way.
  await waitFor(async () => (await w.metric('ferry_chunks_received_total')) > 0, 30_000);
  await w.restartServer('stop');
  const cut = await put;
  expect(cut.code).not.toBe(0);
  expect(cut.stderr).toMatch(/; run the same command again to resume \(what reached the server is kept\) \(FERRY_ERR_(NETWORK|UNAVAILABLE)\)\n/);

  const again = ok(await w.ferry(['put', file, '/big.bin']));
  expect(again.stderr).toMatch(/put 1 file, 24\.0 MiB .* already there/);
  expect(ok(await w.ferry(['admin', 'check'])).stdout).toMatch(/no problems/);
});

it('a put refused before any upload began (no server) gets no resume hint', async () => {
  const r = await w.ferry(['put', '--retries', '0', '-', '/x.txt'], { input: 'x\n', env: { FERRY_SERVER: 'http://127.0.0.1:1' } });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/cannot connect/);
  expect(r.stderr).not.toMatch(/resume/);
});
