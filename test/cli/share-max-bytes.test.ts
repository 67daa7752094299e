/**
 * `ferry share PATH --upload --max-bytes SIZE`: a drop box that takes at most SIZE bytes in
 * all (sizes as everywhere in the CLI: 1K, 500M, 2G), and `ferry share ls` showing the bytes
 * received against the cap. `--max-bytes` without `--upload`, or a size that is not one, is a
 * usage error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

describe('ferry share --max-bytes', () => {
  it('makes a capped drop box, which takes files up to the cap and refuses past it; share ls shows the bytes', async () => {
    ok(await w.ferry(['mkdir', '/inbox']));
    const made = ok(await w.ferry(['share', '/inbox', '--upload', '--max-bytes', '1K']));
    expect(made.stderr).toMatch(/: upload link, no expiry, at most 1.00 KiB\n$/);
    const url = made.stdout.trim();
    expect((await fetch(`${url}/a.bin`, { method: 'PUT', body: Buffer.alloc(1000, 1) })).status).toBe(201);
    const over = await fetch(`${url}/b.bin`, { method: 'PUT', body: Buffer.alloc(25, 2) });
    expect(over.status).toBe(413);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_LINK_BYTES_EXCEEDED');
    const list = ok(await w.ferry(['share', 'ls']));
    const header = list.stdout.split('\n')[0];
    expect(header).toMatch(/\bUSES\s+BYTES\s+EXPIRES\b/);
    const row = list.stdout.split('\n').find((l) => l.includes('/inbox'))!;
    expect(row).toMatch(/\b1000 B\/1\.00 KiB\b/);
    const json = JSON.parse(ok(await w.ferry(['share', 'ls', '--json'])).stdout) as Array<{ path: string; maxBytes: number | null; bytesReceived: number }>;
    expect(json.find((s) => s.path === '/inbox')).toMatchObject({ maxBytes: 1024, bytesReceived: 1000 });
  });

  it('is refused without --upload and for a size that is not one (exit 2), making no link', async () => {
    ok(await w.ferry(['put', '-q', '-', '/file.txt'], { input: 'x' }));
    const download = await w.ferry(['share', '/file.txt', '--max-bytes', '1M']);
    expect(download.code).toBe(2);
    expect(download.stderr).toContain('--max-bytes is for upload links: add --upload');
    for (const bad of ['lots', '0']) {
      const r = await w.ferry(['share', '/inbox', '--upload', '--max-bytes', bad]);
      expect(r.code, bad).toBe(2);
    }
    const json = JSON.parse(ok(await w.ferry(['share', 'ls', '--json'])).stdout) as Array<{ path: string }>;
    expect(json.map((s) => s.path)).toEqual(['/inbox']);
  });
});
