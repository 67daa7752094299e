/**
 * Many small files uploaded from the web app in headless Chromium: requests per file and the
 * time until every file is listed done, for the app as built (dist/web) and, with `--before
 * DIR`, for another build of it (an earlier dist/web copied aside), alternating, against the
 * same server.
 *
 *   node dist/benchmarks/web/small-uploads.js [--files 1000] [--pairs 1] [--before /tmp/web-before]
 *
 * Each run picks a fresh folder of files of 1-10 KiB of random bytes (no dedup) with the
 * folder picker. The older build is given to the page by page.route (its index.html and
 * assets), so both talk to the same server through the same browser.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Args } from '../lib/args.js';
import { median } from '../lib/stats.js';
import { CHROMIUM, CHROMIUM_ARGS, startServer } from './ferry-server.js';

const args = new Args().only(['files', 'pairs', 'before']);
const files = args.number('files', 1000);
const pairs = args.number('pairs', 1);
const before = args.string('before', '');

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.svg': 'image/svg+xml' };

/** A signed-in page; with `dir`, the app's own files come from that build instead of the server's. */
async function pageFor(browser: Browser, url: string, dir: string | undefined): Promise<{ page: Page; requests: () => { all: number; uploads: number }; close: () => Promise<void> }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  if (dir) {
    await page.route(`${url}/**`, async (route) => {
      const path = new URL(route.request().url()).pathname;
      if (path.startsWith('/api/') || path.startsWith('/s/')) return route.fallback();
      const file = join(dir, path);
      const body = path !== '/' && existsSync(file) ? readFileSync(file) : readFileSync(join(dir, 'index.html'));
      await route.fulfill({ body, contentType: TYPES[extname(file)] ?? 'text/html' });
    });
  }
  let all = 0;
  let uploads = 0;
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (!path.startsWith('/api/')) return;
    all++;
    if (path.startsWith('/api/v1/uploads')) uploads++;
  });
  await page.goto(url + '/');
  await page.getByLabel('User name').fill('bench');
  await page.getByLabel('Password').fill('bench-password-1');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  return { page, requests: () => ({ all, uploads }), close: () => context.close() };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'ferry-bench-web-small-'));
  const adminToken = 'bench-' + randomBytes(16).toString('hex');
  const server = await startServer(join(work, 'data'), adminToken);
  const load = loadavg();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  const kinds = before ? ['after', 'before'] : ['after'];
  const results = new Map(kinds.map((k) => [k, { seconds: [] as number[], perFile: [] as number[], uploadsPerFile: [] as number[] }]));
  try {
    await fetch(server.url + '/api/v1/users', { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench', password: 'bench-password-1' }) });
    let n = 0;
    for (let p = 0; p < pairs; p++) {
      for (const kind of p % 2 ? [...kinds].reverse() : kinds) {
        const folder = join(work, `batch-${n++}`);
        await mkdir(folder);
        for (let i = 0; i < files; i++) await writeFile(join(folder, `f-${i}.bin`), randomBytes(randomInt(1024, 10 * 1024 + 1)));
        const { page, requests, close } = await pageFor(browser, server.url, kind === 'before' ? before : undefined);
        const r0 = requests();
        const t0 = performance.now();
        await page.getByTestId('upload-folder').setInputFiles(folder);
        const done = page.locator('li.upload[data-state="done"]');
        const failed = page.locator('li.upload[data-state="failed"]');
        for (;;) {
          if ((await failed.count()) > 0) throw new Error(`${kind}: ${await failed.first().innerText()}`);
          if ((await done.count()) === files) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        const seconds = (performance.now() - t0) / 1000;
        const r1 = requests();
        const r = results.get(kind)!;
        r.seconds.push(seconds);
        r.perFile.push((r1.all - r0.all) / files);
        r.uploadsPerFile.push((r1.uploads - r0.uploads) / files);
        process.stdout.write(`${kind.padEnd(6)}  ${files} files  ${seconds.toFixed(1)} s  ${r1.all - r0.all} API requests (${r1.uploads - r0.uploads} to /uploads)\n`);
        await close();
      }
    }
    process.stdout.write(`load average at start ${load.map((l) => l.toFixed(1)).join(' ')}\n`);
    for (const [kind, r] of results) {
      process.stdout.write(`${kind}: median ${median(r.seconds).toFixed(1)} s (${Math.min(...r.seconds).toFixed(1)}-${Math.max(...r.seconds).toFixed(1)}), ${median(r.perFile).toFixed(3)} API requests a file, ${median(r.uploadsPerFile).toFixed(3)} to /uploads\n`);
    }
  } finally {
    await browser.close();
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
