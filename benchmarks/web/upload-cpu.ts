/**
 * The server's CPU for an upload from the web app in headless Chromium: whole chunks up to four
 * to a request (feature `chunk-frames`, as the server offers it) against one PUT per chunk (the
 * same build, the feature taken out of the capabilities the page reads), alternating.
 *
 *   node dist/benchmarks/web/upload-cpu.js [--size 256MiB] [--pairs 3]
 *
 * Each upload is of fresh random bytes (no dedup). The server runs as its own process
 * (`ferry serve`); its user + system CPU is read from /proc around each upload, which takes in
 * the session's creation and commit too. Both ways go through the same page.route on the
 * capabilities, so the browser's side is alike. Prints each run, then the medians.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { Args } from '../lib/args.js';
import { writeRandomFile } from '../lib/data.js';
import { median } from '../lib/stats.js';
import { CHROMIUM, CHROMIUM_ARGS, startServer } from './ferry-server.js';

const args = new Args().only(['size', 'pairs']);
const size = args.size('size', '256MiB');
const pairs = args.number('pairs', 3);
const CHUNK_REQUESTS = /\/api\/v1\/uploads\/[^/]+\/(chunks\/[0-9a-f]{64}|chunk-frames)$/;

/** User + system CPU of a process so far, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** A signed-in page that sees the server's capabilities with or without `chunk-frames`. */
async function pageFor(browser: import('playwright-core').Browser, url: string, frames: boolean): Promise<{ page: Page; requests: () => number; close: () => Promise<void> }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.route('**/api/v1/capabilities', async (route) => {
    const response = await route.fetch();
    const caps = (await response.json()) as { features: string[] };
    await route.fulfill({ response, json: frames ? caps : { ...caps, features: caps.features.filter((f) => f !== 'chunk-frames') } });
  });
  let requests = 0;
  page.on('request', (r) => void (CHUNK_REQUESTS.test(r.url()) && requests++));
  await page.goto(url + '/');
  await page.getByLabel('User name').fill('bench');
  await page.getByLabel('Password').fill('bench-password-1');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  return { page, requests: () => requests, close: () => context.close() };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'ferry-bench-web-cpu-'));
  const adminToken = 'bench-' + randomBytes(16).toString('hex');
  const server = await startServer(join(work, 'data'), adminToken);
  const load = loadavg();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  try {
    await fetch(server.url + '/api/v1/users', { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench', password: 'bench-password-1' }) });
    const results: Record<'frames' | 'puts', { cpu: number[]; seconds: number[]; requests: number[] }> = { frames: { cpu: [], seconds: [], requests: [] }, puts: { cpu: [], seconds: [], requests: [] } };
    let n = 0;
    for (let p = 0; p < pairs; p++) {
      for (const frames of p % 2 ? [false, true] : [true, false]) {
        const name = `web-${n++}.bin`;
        const file = join(work, name);
        await writeRandomFile(file, size);
        const { page, requests, close } = await pageFor(browser, server.url, frames);
        const cpu0 = cpuMs(server.pid);
        const t0 = performance.now();
        await page.getByTestId('upload-files').setInputFiles(file);
        const ended = page.locator('li.upload[data-state="done"], li.upload[data-state="failed"]');
        await ended.waitFor({ timeout: 600_000 });
        if ((await ended.getAttribute('aria-label')) !== `/${name}: done`) throw new Error(`${name}: ${await ended.innerText()}`);
        const r = results[frames ? 'frames' : 'puts'];
        r.seconds.push((performance.now() - t0) / 1000);
        r.cpu.push(cpuMs(server.pid) - cpu0);
        r.requests.push(requests());
        process.stdout.write(`${frames ? 'frames' : 'puts  '}  server CPU ${r.cpu.at(-1)} ms  ${r.seconds.at(-1)!.toFixed(2)} s  ${requests()} chunk requests\n`);
        await close();
        await rm(file, { force: true });
      }
    }
    const mb = (size / 1024 / 1024).toFixed(0);
    process.stdout.write(`\n${mb} MiB from Chromium ${browser.version()}, ${pairs} pairs, load average at the start ${load.map((l) => l.toFixed(2)).join(' ')}\n`);
    for (const [k, r] of Object.entries(results)) {
      process.stdout.write(`${k}: server CPU median ${median(r.cpu)} ms (${Math.min(...r.cpu)}–${Math.max(...r.cpu)}), ${median(r.seconds).toFixed(2)} s, ${median(r.requests)} chunk requests\n`);
    }
  } finally {
    await browser.close();
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
