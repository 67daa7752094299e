/**
 * Uppy (@uppy/core 6 + @uppy/tus) in Chromium, driven by playwright-core: a page on another
 * origin (as a site embedding an upload widget is) uploads files into Ferry's tus endpoint
 * with a Bearer token; CORS lets it, the files land where their metadata says, byte for byte.
 */
import { createServer, type Server } from 'node:http';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { addUser, tokenFor } from '../helpers/users.js';

const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let t: TestServer;
let site: Server;
let siteUrl = '';
let browser: Browser;
let token = '';

/** The bytes the page makes: byte i of file `seed` is (i * 31 + seed) & 255. */
function pattern(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 255;
  return b;
}

beforeAll(async () => {
  expect(ensureCommand('chromium'), 'chromium (Debian package) is needed').toBe(true);
  t = await startTestServer();
  await addUser(t, 'ulla', { password: 'ulla-password-1' });
  token = (await tokenFor(t, 'ulla')).token;
  const bundle = await build({ entryPoints: [new URL('./fixtures/uppy-entry.mjs', import.meta.url).pathname], bundle: true, format: 'iife', platform: 'browser', target: 'chrome120', write: false, logLevel: 'warning' });
  const js = bundle.outputFiles[0].contents;
  site = createServer((req, res) => {
    if (req.url === '/bundle.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><meta charset="utf-8"><title>uppy</title><script src="/bundle.js"></script>');
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  // 127.0.0.1 vs localhost: another origin than Ferry's.
  siteUrl = `http://localhost:${(site.address() as { port: number }).port}/`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
});
afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (site ? site.close(() => resolve()) : resolve()));
  await t?.close();
});

describe('Uppy in Chromium', () => {
  it('uploads files from a page on another origin into the folders their metadata names', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(siteUrl);
    const files = [
      { name: 'photo one.jpg', size: 5 * 1024 * 1024 + 77, seed: 1, path: '/uppy/album' },
      { name: 'notes ü.txt', size: 12_345, seed: 2, path: '/uppy' },
      { name: 'root.bin', size: 1, seed: 3 },
    ];
    const result = await page.evaluate(
      (args) => (globalThis as unknown as { uploadWithUppy: (a: unknown) => Promise<{ successful: { name: string; url: string }[]; failed: unknown[]; progressEvents: number }> }).uploadWithUppy(args),
      { endpoint: `${t.url}/api/v1/tus/`, token, files, chunkSize: 1024 * 1024 },
    );
    expect(errors).toEqual([]);
    expect(result.failed).toEqual([]);
    expect(result.successful.map((f) => f.name).sort()).toEqual(files.map((f) => f.name).sort());
    for (const f of result.successful) expect(f.url).toMatch(new RegExp(`^${t.url}/api/v1/tus/[A-Za-z0-9_-]+$`));
    expect(result.progressEvents).toBeGreaterThan(3);
    for (const f of files) {
      const path = `${f.path ?? ''}/${f.name}`;
      const r = await t.api(`/api/v1/files${path.split('/').map(encodeURIComponent).join('/')}`, { token });
      expect(r.status, path).toBe(200);
      expect(Buffer.from(await r.arrayBuffer()).equals(pattern(f.size, f.seed)), path).toBe(true);
    }
    await page.close();
  });

  it('without a valid token the page gets the refusal (CORS lets it read it) and nothing is stored', async () => {
    const page = await browser.newPage();
    await page.goto(siteUrl);
    const result = await page.evaluate(
      (args) => (globalThis as unknown as { uploadWithUppy: (a: unknown) => Promise<{ successful: unknown[]; failed: { error: string }[] }> }).uploadWithUppy(args),
      { endpoint: `${t.url}/api/v1/tus/`, token: 'ferry_0000000000000000_' + 'A'.repeat(43), files: [{ name: 'nope.bin', size: 100, seed: 9, path: '/uppy' }], chunkSize: 1024 * 1024 },
    );
    expect(result.successful).toEqual([]);
    expect(result.failed[0].error).toMatch(/401/);
    expect((await t.api('/api/v1/files/uppy/nope.bin', { token })).status).toBe(404);
    await page.close();
  });
});
