/**
 * A `ferry serve` process idling after uploads lets go of the whole-body buffers it keeps
 * for the next chunk bodies (src/cli/commands/serve.ts, settleAround: BodyMemory.dropKept and
 * the local backend's staging spares, before the idle collection). Kept, they stayed for the
 * process's life (up to 12 MiB of buffers and 8 MiB of staging with the default budget), and
 * raised the level V8 counts 64 MB of new ArrayBuffer memory from before it collects.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'idle-buffers-Qz7kLm2pR9vW4tY6uB1nC3eD5fG8hJ0x';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function gauge(metrics: string, name: string): number {
  const m = new RegExp(`^${name}\\{direction="in"\\} (\\d+)$`, 'm').exec(metrics);
  if (!m) throw new Error(`${name}{direction="in"} is not in /metrics`);
  return Number(m[1]);
}

describe('ferry serve idle after uploads', () => {
  it('drops the chunk body buffers it kept once it idles', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-idle-buffers-'));
    dirs.push(dir);
    const env: NodeJS.ProcessEnv = { ...process.env, FERRY_ADMIN_TOKEN: TOKEN };
    for (const k of Object.keys(env)) if ((k.startsWith('FERRY_') && k !== 'FERRY_ADMIN_TOKEN') || k === 'NODE_OPTIONS') delete env[k];
    const child = spawn(process.execPath, [join(root, 'bin/ferry.js'), 'serve', '--addr', '127.0.0.1:0', '--data', join(dir, 'data')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (line) => {
          if (line.includes('"event":"ready"')) resolve((JSON.parse(line) as { url: string }).url);
        });
        child.once('exit', (code) => reject(new Error(`ferry serve exited (${code}) before it was ready`)));
      });
      child.stderr!.resume();
      writeFileSync(join(dir, 'a.bin'), randomBytes(3 << 20));
      const clientEnv = { ...env, FERRY_SERVER: url, FERRY_TOKEN: TOKEN, FERRY_CONFIG: join(dir, 'no-such-config.json') };
      await promisify(execFile)(process.execPath, [join(root, 'bin/ferry.js'), 'put', join(dir, 'a.bin'), '/idle/a.bin'], { env: clientEnv });
      const scrape = async () => (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      // The chunks came in whole buffers (not streamed): the budget held them.
      expect(gauge(await scrape(), 'ferry_body_memory_peak_bytes')).toBeGreaterThanOrEqual(1 << 20);
      // Idle: the next settle collection (a second or two after the burst) drops what was kept.
      // Scraped every 2 s: more often, the scrapes alone would keep the server from counting as idle.
      let held = -1;
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 2_000))) {
        held = gauge(await scrape(), 'ferry_body_memory_bytes');
        if (held === 0) break;
      }
      expect(held).toBe(0);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
