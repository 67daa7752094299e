/** `ferry admin stats` and `ferry admin gc` against a real server. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

describe('admin stats and gc', () => {
  it('stats counts what was stored, dedup included; gc removes the chunks of a deleted file', async () => {
    await writeFile(join(w.dir, 'a.bin'), Buffer.alloc(300_000, 7));
    ok(await w.ferry(['put', join(w.dir, 'a.bin'), '/one.bin']));
    ok(await w.ferry(['put', join(w.dir, 'a.bin'), '/two.bin']));
    const s = JSON.parse(ok(await w.ferry(['admin', 'stats', '--json'])).stdout) as Record<string, number>;
    expect(s).toMatchObject({ files: 2, logicalBytes: 600_000 });
    expect(s.storedBytes).toBeLessThan(s.logicalBytes);
    expect(ok(await w.ferry(['admin', 'stats'])).stdout).toMatch(/^2 files, 586 KiB logical\n1 chunk, .* stored \(\d+% saved by dedup\)\n0 upload sessions open\n$/);
    ok(await w.ferry(['rm', '/one.bin', '/two.bin']));
    const gc = JSON.parse(ok(await w.ferry(['admin', 'gc', '--grace', '0s', '--json'])).stdout) as Record<string, number>;
    expect(gc.chunks).toBeGreaterThan(0);
    expect(JSON.parse(ok(await w.ferry(['admin', 'stats', '--json'])).stdout)).toMatchObject({ files: 0, chunks: 0 });
  });

  it('a user who is not an admin is refused (exit 4)', async () => {
    ok(await w.ferry(['user', 'add', 'plain', '--password-stdin'], { input: 'a-long-enough-password-42\n' }));
    const t = JSON.parse(ok(await w.ferry(['token', 'create', '--user', 'plain', '--json'])).stdout) as { token: string };
    expect((await w.ferry(['admin', 'stats'], { env: { FERRY_TOKEN: t.token } })).code).toBe(4);
  });
});
