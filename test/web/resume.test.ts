/**
 * A 100 MiB upload from Chromium, interrupted by a page reload part way, then resumed: the
 * page offers the interrupted upload, the person picks the file again, and only what the
 * server still lacks travels. The server's byte counters are the witness. The user is allowed
 * one live upload session: the abandoned one is gone before the new one is asked for.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeRandomFile } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { readMetric } from '../helpers/server.js';
import { addUser } from '../helpers/users.js';
import { freshContext, launch, signIn } from './browser.js';

const MiB = 1024 * 1024;
/** The page's chunk requests: one PUT per chunk, or several chunks in a POST of chunk frames. */
const CHUNK_REQUESTS = /\/api\/v1\/uploads\/[^/]+\/(chunks\/[0-9a-f]{64}|chunk-frames)$/;
const PACK_REQUESTS = /\/api\/v1\/uploads\/[^/]+\/packs$/;
const SIZE = 100 * MiB;
/**
 * A file held part way must be larger than what the page's five requests in flight carry,
 * up to four chunks each (chunk frames): those already on their way when the hold begins go through.
 */
const HELD_SIZE = 64 * MiB;

let t: TestServer;
let browser: Browser;
let dir: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  t = await startTestServer();
  dir = await tempDir('ferry-web-resume-');
  // One live upload session at a time: the resumed upload's new session is refused while the
  // one the reload abandoned is still open.
  await addUser(t, 'dana', { password: 'dana-password-1', maxSessions: 1 });
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await dir?.cleanup();
});

const admin = () => ({ url: t.url, adminToken: t.token });

/** The page sees the server's capabilities without `chunk-frames`, as from a server without the feature. */
async function withoutChunkFrames(page: import('playwright-core').Page): Promise<void> {
  await page.route('**/api/v1/capabilities', async (route) => {
    const response = await route.fetch();
    const caps = (await response.json()) as { features: string[] };
    expect(caps.features).toContain('chunk-frames');
    await route.fulfill({ response, json: { ...caps, features: caps.features.filter((f) => f !== 'chunk-frames') } });
  });
}
const received = () => readMetric(admin(), 'ferry_chunk_body_bytes_received_total');
const stored = () => readMetric(admin(), 'ferry_chunk_bytes_received_total');

/**
 * Whether the server has counted `bytes` of file content since `start`: asked by each chunk
 * request before it is let through, so that the requests stop at that mark whatever the pace
 * of the page and the machine. (A poll beside the upload that flipped a flag let a loaded
 * machine's page send the whole file before the flag turned: three tests failed so with two
 * test files at a time.) Only the requests already on their way pass the mark, five at most.
 */
const reached = async (start: number, bytes: number) => (await received()) - start >= bytes;

describe('resumable browser uploads', () => {
  it('a reload in the middle of a 100 MiB upload: after picking the file again, less than the whole file is sent a second time', { timeout: 180_000 }, async () => {
    const file = join(dir.path, 'video.bin');
    await writeRandomFile(file, SIZE);
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'dana', 'dana-password-1');
    // Chunk requests pass until 30 MiB have arrived; later ones wait here for ever (so that the
    // upload cannot finish before the reload, whatever the pace; the reload then cuts them).
    const start = await received();
    await page.route(CHUNK_REQUESTS, async (route) => {
      if (!(await reached(start, 30 * MiB))) await route.continue();
    });
    await page.getByTestId('upload-files').setInputFiles(file);
    await expect.poll(received, { timeout: 120_000, interval: 100 }).toBeGreaterThanOrEqual(start + 30 * MiB);
    await page.reload();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    // What the first attempt got through before the reload (requests cut by it count nothing).
    await new Promise((r) => setTimeout(r, 500));
    const before = (await received()) - start;
    expect(before).toBeGreaterThanOrEqual(30 * MiB);
    expect(before).toBeLessThan(SIZE);

    const item = page.locator('li.upload[data-state="needs-file"]');
    await item.waitFor();
    expect(await item.getAttribute('aria-label')).toBe('/video.bin: interrupted: pick the file again to resume');
    // Its progress is what the server got before the reload (as saved then), not 0 B.
    const shown = Number(await item.getByRole('progressbar').getAttribute('value'));
    expect(shown).toBeGreaterThan(0);
    expect(shown).toBeLessThanOrEqual(before);
    await page.unroute(CHUNK_REQUESTS);
    // The abandoned session's DELETE is held until a new session has been asked for and
    // answered (or 2 s): the page must not ask before the old one is gone.
    let answered = () => {};
    const askedNew = new Promise<void>((resolve) => (answered = resolve));
    await page.route('**/api/v1/uploads', async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      const response = await route.fetch();
      answered();
      await route.fulfill({ response });
    });
    await page.route('**/api/v1/uploads/*', async (route) => {
      if (route.request().method() === 'DELETE') await Promise.race([askedNew, new Promise((r) => setTimeout(r, 2000))]);
      await route.continue();
    });
    await page.getByTestId('resume-video.bin').setInputFiles(file);
    const ended = page.locator('li.upload[data-state="done"], li.upload[data-state="failed"]');
    await ended.waitFor({ timeout: 120_000 });
    expect(await ended.getAttribute('aria-label')).toBe('/video.bin: done');

    const total = (await received()) - start;
    const second = total - before;
    // The bar: less than the whole file was sent twice. In fact the second attempt
    // sends only what the first did not (the chunks cut by the reload: nothing counted).
    expect(total).toBeLessThan(2 * SIZE);
    expect(second).toBeLessThan(SIZE - before + 8 * MiB);
    expect(second).toBeGreaterThan(0);
    expect(await stored()).toBe(SIZE);
    // The page says how much the server already had.
    await page.getByText(/already on the server/).waitFor();

    const res = await fetch(`${t.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'dana', password: 'dana-password-1' }) });
    const token = ((await res.json()) as { token: string }).token;
    const got = Buffer.from(await (await fetch(`${t.url}/api/v1/files/video.bin`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer());
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    // The session the reload abandoned was aborted, not left to count against the user.
    const me = (await (await fetch(`${t.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } })).json()) as { uploadSessions: number };
    expect(me.uploadSessions).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a paused upload resumes from the bytes the server has, never showing less (it showed 0 B)', { timeout: 180_000 }, async () => {
    const file = join(dir.path, 'paused.bin');
    await writeRandomFile(file, HELD_SIZE);
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'dana', 'dana-password-1');
    // Chunk requests pass until 6 MiB have arrived, then wait (the upload cannot finish
    // before the pause, whatever the machine's pace).
    const start = await received();
    await page.route(CHUNK_REQUESTS, async (route) => {
      if (!(await reached(start, 6 * MiB))) await route.continue();
    });
    await page.getByTestId('upload-files').setInputFiles(file);
    await expect.poll(received, { timeout: 120_000, interval: 100 }).toBeGreaterThanOrEqual(start + 6 * MiB);
    const bar = page.getByRole('progressbar', { name: 'Progress of paused.bin' });
    await expect.poll(async () => Number(await bar.getAttribute('value'))).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Pause paused.bin' }).click();
    await page.locator('li.upload[data-state="paused"]').waitFor();
    const atPause = Number(await bar.getAttribute('value'));
    // Every value the bar takes from here on.
    await page.evaluate(`(() => {
      const bar = document.querySelector('progress[aria-label="Progress of paused.bin"]');
      window.shownValues = [];
      new MutationObserver(() => window.shownValues.push(Number(bar.getAttribute('value')))).observe(bar, { attributes: true, attributeFilter: ['value'] });
    })()`);
    await page.unroute(CHUNK_REQUESTS);
    await page.getByRole('button', { name: 'Resume paused.bin' }).click();
    await page.locator('li.upload[data-state="done"]').waitFor({ timeout: 120_000 });
    const values = (await page.evaluate('window.shownValues')) as number[];
    expect(values.length).toBeGreaterThan(0);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(atPause);
    expect(values.at(-1)).toBe(HELD_SIZE);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a server that stops answering part way: the row and the total say it is trying again, not the rate and time left of before; the upload ends once it answers', { timeout: 180_000 }, async () => {
    const file = join(dir.path, 'unanswered.bin');
    await writeRandomFile(file, HELD_SIZE);
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'dana', 'dana-password-1');
    // Chunk requests pass (a little slowed, for a rate to show) until 6 MiB have arrived; later
    // ones wait until the test has seen the rate, then the connection is refused, as by a
    // server restarting, until the test lets them through.
    let refuse = false;
    let refused = 0;
    let startRefusing = () => {};
    const refusing = new Promise<void>((resolve) => (startRefusing = resolve));
    // Requests let through and not yet answered: the answer of one would be the file's next
    // progress, which rightly clears "trying again" (with two test files at a time, one came
    // in after the first refusal and the row showed a rate again).
    const passing = new Set<unknown>();
    page.on('requestfinished', (r) => passing.delete(r));
    page.on('requestfailed', (r) => passing.delete(r));
    const start = await received();
    await page.route(CHUNK_REQUESTS, async (route) => {
      if (!refuse && (await reached(start, 6 * MiB))) await refusing;
      if (!refuse) await new Promise((r) => setTimeout(r, 40));
      if (refuse) {
        refused++;
        return route.abort('connectionrefused');
      }
      passing.add(route.request());
      await route.continue();
    });
    await page.getByTestId('upload-files').setInputFiles(file);
    const row = page.locator('li.upload').filter({ hasText: '/unanswered.bin' });
    await expect.poll(() => row.innerText(), { timeout: 60_000 }).toMatch(/\/s · /);
    await expect.poll(received, { timeout: 120_000, interval: 100 }).toBeGreaterThanOrEqual(start + 6 * MiB);
    await expect.poll(() => passing.size, { timeout: 60_000 }).toBe(0);
    refuse = true;
    startRefusing();
    await expect.poll(() => row.innerText(), { timeout: 60_000 }).toContain('the server does not answer: trying again');
    expect(refused).toBeGreaterThan(0);
    expect(await row.innerText()).not.toMatch(/\/s|left/);
    expect(await row.getAttribute('data-state')).toBe('running');
    await expect.poll(() => page.locator('.uploads .total').innerText()).toContain('trying again');
    refuse = false;
    await page.locator('li.upload[data-state="done"]').waitFor({ timeout: 120_000 });
    expect(await row.innerText()).not.toContain('trying again');
    expect(await page.locator('.uploads .total').innerText()).not.toContain('trying again');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('sends five chunk requests at once, no more (README, "Web app")', { timeout: 120_000 }, async () => {
    const file = join(dir.path, 'five.bin');
    await writeRandomFile(file, 24 * MiB);
    const { context, page, errors } = await freshContext(browser);
    // One chunk a request (the page as against a server without chunk frames), so that five
    // requests are five chunks, whatever sizes the chunker cuts: with four chunks to a request,
    // five held requests can carry more than the page reads ahead, and a fifth may never come
    // (the test with frames below counts the requests in flight instead).
    await withoutChunkFrames(page);
    await signIn(page, t.url, 'dana', 'dana-password-1');
    // Every chunk request is held until released: the page's chunk requests in flight pile up here.
    const held: Array<() => void> = [];
    let release = false;
    await page.route(CHUNK_REQUESTS, async (route) => {
      if (!release) await new Promise<void>((r) => held.push(r));
      await route.continue();
    });
    await page.getByTestId('upload-files').setInputFiles(file);
    await expect.poll(() => held.length, { timeout: 60_000 }).toBe(5);
    // Chunking went on meanwhile (24 MiB is some two dozen chunks), yet no sixth request came.
    await new Promise((r) => setTimeout(r, 1000));
    expect(held.length).toBe(5);
    release = true;
    for (const go of held.splice(0)) go();
    await page.locator('li.upload[data-state="done"]').waitFor({ timeout: 90_000 });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('sends whole chunks up to four to a request where the server takes chunk frames, one PUT each where it does not (docs/protocol.md, "Uploads")', { timeout: 180_000 }, async () => {
    const res = await fetch(`${t.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'dana', password: 'dana-password-1' }) });
    const token = ((await res.json()) as { token: string }).token;
    const caps = (await (await fetch(`${t.url}/api/v1/capabilities`)).json()) as { limits: { packThreshold: number } };
    const packThreshold = caps.limits.packThreshold;
    expect(packThreshold).toBeGreaterThan(0);
    for (const offered of [true, false]) {
      const name = `framed-${offered}.bin`;
      const file = join(dir.path, name);
      await writeRandomFile(file, 24 * MiB);
      const { context, page, errors } = await freshContext(browser);
      // A server without the feature, as the page sees it: its capabilities leave it out.
      if (!offered) await withoutChunkFrames(page);
      const sent: string[] = [];
      let inFlight = 0;
      let mostInFlight = 0;
      let packs = 0;
      page.on('request', (r) => {
        if (PACK_REQUESTS.test(r.url())) packs++;
        if (!CHUNK_REQUESTS.test(r.url())) return;
        sent.push(`${r.method()} ${r.url().endsWith('/chunk-frames') ? 'frames' : 'chunk'}`);
        mostInFlight = Math.max(mostInFlight, ++inFlight);
      });
      // A request stops counting when its answer's head arrives (the page's fetch resolves
      // then and frees its slot), not at 'requestfinished': that event can come after the
      // page has already sent the next request, which showed six "in flight" under load.
      const answered = new Set<unknown>();
      const ended1 = (r: { url(): string }) => {
        if (!CHUNK_REQUESTS.test(r.url()) || answered.has(r)) return;
        answered.add(r);
        inFlight--;
      };
      page.on('response', (res) => ended1(res.request()));
      page.on('requestfailed', ended1);
      await signIn(page, t.url, 'dana', 'dana-password-1');
      await page.getByTestId('upload-files').setInputFiles(file);
      const ended = page.locator('li.upload[data-state="done"], li.upload[data-state="failed"]');
      await ended.waitFor({ timeout: 120_000 });
      expect(await ended.getAttribute('aria-label')).toBe(`/${name}: done`);
      const manifest = (await (await fetch(`${t.url}/api/v1/manifests/${name}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { chunks: Array<{ size: number }> };
      const chunks = manifest.chunks.length;
      // The file's last chunk can be shorter than the chunker's minimum: such a chunk travels
      // in a pack (POST .../packs), not as a chunk request (docs/protocol.md, "Uploads").
      const small = manifest.chunks.filter((c) => c.size < packThreshold).length;
      expect(small).toBeLessThanOrEqual(1);
      expect(packs).toBe(small);
      expect(chunks).toBeGreaterThan(8);
      const frames = sent.filter((s) => s === 'POST frames').length;
      const puts = sent.filter((s) => s === 'PUT chunk').length;
      expect(frames + puts).toBe(sent.length);
      expect(mostInFlight).toBeGreaterThan(0);
      expect(mostInFlight).toBeLessThanOrEqual(5);
      if (offered) {
        // Four chunks a request but for a window's last few: about a quarter of the requests.
        expect(frames).toBeGreaterThan(0);
        expect(frames + puts).toBeLessThanOrEqual(Math.ceil(chunks / 2));
      } else {
        expect(frames).toBe(0);
        expect(puts).toBe(chunks - small);
      }
      expect(errors).toEqual([]);
      await context.close();
    }
  });

  it('a file that is not the one being uploaded is refused when resuming', async () => {
    const { context, page } = await freshContext(browser);
    await signIn(page, t.url, 'dana', 'dana-password-1');
    // An upload left by an earlier page of this user, as IndexedDB keeps it.
    // (A string: the page's code, this file compiles without the DOM library.)
    await page.evaluate(`new Promise((resolve, reject) => {
      const req = indexedDB.open('ferry', 1);
      req.onsuccess = () => {
        const tx = req.result.transaction('uploads', 'readwrite');
        tx.objectStore('uploads').put({ id: 'stale-1', scope: 'user:dana', path: '/other.bin', name: 'other.bin', size: 12345, lastModified: 1 });
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      };
    })`);
    await page.reload();
    await page.locator('li.upload[data-state="needs-file"]').waitFor();
    const wrong = join(dir.path, 'other.bin');
    await writeRandomFile(wrong, 100);
    await page.getByTestId('resume-other.bin').setInputFiles(wrong);
    await expect.poll(() => page.getByRole('alert').textContent()).toBe(`This is not the file that was being uploaded (other.bin, 12345 bytes): pick that one.`);
    expect(await page.locator('li.upload[data-state="needs-file"]').count()).toBe(1);
    await page.getByRole('button', { name: 'Cancel other.bin' }).click();
    await expect.poll(() => page.locator('li.upload[data-state="needs-file"]').count()).toBe(0);
    await page.reload();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    await new Promise((r) => setTimeout(r, 300));
    expect(await page.locator('li.upload').count()).toBe(0);
    await context.close();
  });
});
