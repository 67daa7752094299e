/**
 * The web app against the CLI and curl, in the same run and against the same server:
 *
 *   - upload of a file from headless Chromium (the app: FastCDC in WebAssembly, Web Crypto
 *     SHA-256, chunk PUTs with fetch) vs `ferry put` of a file of the same size;
 *   - download of a file by the browser (the app's Download: the browser streams it to
 *     disk) vs `curl -o` of the same file;
 *   - the JavaScript of the first page (sign-in), compressed as the server sends it.
 *
 *   node dist/benchmarks/web/browser.js [--size 256MiB] [--runs 3] [--json]
 *
 * Each upload is of fresh random bytes (no dedup). Timings include everything the person
 * waits for: chunking and hashing, the requests, the commit. Prints a Markdown table of
 * medians and writes it to benchmarks/results/web.md.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { Args } from '../lib/args.js';
import { writeRandomFile } from '../lib/data.js';
import { median } from '../lib/stats.js';
import { BIN, CHROMIUM, CHROMIUM_ARGS, ROOT, startServer } from './ferry-server.js';

const run = promisify(execFile);
const args = new Args().only(['size', 'runs', 'json']);
const size = args.size('size', '256MiB');
const runs = args.number('runs', 3);

const seconds = (ms: number) => ms / 1000;
const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'ferry-bench-web-'));
  const adminToken = 'bench-' + randomBytes(16).toString('hex');
  const server = await startServer(join(work, 'data'), adminToken);
  const load = loadavg();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  try {
    const api = (path: string, init: RequestInit = {}) => fetch(server.url + path, { ...init, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
    await api('/api/v1/users', { method: 'POST', body: JSON.stringify({ name: 'bench', password: 'bench-password-1' }) });
    const login = await fetch(server.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'bench', password: 'bench-password-1' }) });
    const token = ((await login.json()) as { token: string }).token;
    const env = { ...process.env, FERRY_SERVER: server.url, FERRY_TOKEN: token, FERRY_CONFIG: join(work, 'config.json') };

    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const jsBytes: Array<{ url: string; encoding: string | null; bytes: number }> = [];
    page.on('response', async (r) => {
      if (!r.url().endsWith('.js')) return;
      const headers = await r.allHeaders();
      jsBytes.push({ url: r.url(), encoding: headers['content-encoding'] ?? null, bytes: Number(headers['content-length'] ?? (await r.body()).length) });
    });
    await page.goto(server.url + '/');
    await page.getByLabel('User name').waitFor();
    const firstLoad = jsBytes.reduce((a, j) => a + j.bytes, 0);
    const firstLoadEncodings = [...new Set(jsBytes.map((j) => j.encoding ?? 'identity'))].join(', ');
    const html = await readFile(join(ROOT, 'dist', 'web', 'index.html'), 'utf8');
    const entry = /src="\/(assets\/[^"]+\.js)"/.exec(html)![1];
    const br = (await stat(join(ROOT, 'dist', 'web', entry + '.br'))).size;
    const gz = (await stat(join(ROOT, 'dist', 'web', entry + '.gz'))).size;
    await page.getByLabel('User name').fill('bench');
    await page.getByLabel('Password').fill('bench-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();

    const rows: Record<string, number[]> = { cliUp: [], browserUp: [], curlDown: [], browserDown: [] };
    for (let i = 0; i < runs; i++) {
      const cliFile = join(work, `cli-${i}.bin`);
      const webFile = join(work, `web-${i}.bin`);
      await writeRandomFile(cliFile, size);
      await writeRandomFile(webFile, size);

      let t0 = performance.now();
      await run(process.execPath, [BIN, 'put', '-q', cliFile, `/cli-${i}.bin`], { env });
      rows.cliUp.push(performance.now() - t0);

      t0 = performance.now();
      await page.getByTestId('upload-files').setInputFiles(webFile);
      await page.locator(`li.upload[aria-label="/web-${i}.bin: done"]`).waitFor({ timeout: 600_000 });
      rows.browserUp.push(performance.now() - t0);
      if ((await page.locator('li.upload[data-state=failed]').count()) > 0) throw new Error('a browser upload failed');

      t0 = performance.now();
      await run('curl', ['-s', '-f', '-o', join(work, `curl-${i}.bin`), '-H', `authorization: Bearer ${token}`, `${server.url}/api/v1/files/cli-${i}.bin`]);
      rows.curlDown.push(performance.now() - t0);

      await page.reload();
      await page.getByRole('checkbox', { name: `Select web-${i}.bin` }).check();
      t0 = performance.now();
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download', exact: true }).click()]);
      await download.path();
      rows.browserDown.push(performance.now() - t0);
      await download.delete();
      await rm(join(work, `curl-${i}.bin`), { force: true });
      await rm(cliFile, { force: true });
      await rm(webFile, { force: true });
      await page.getByRole('checkbox', { name: `Select web-${i}.bin` }).uncheck();
    }
    const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)])) as Record<keyof typeof rows, number>;
    const mb = (size / 1024 / 1024).toFixed(0);
    const lines = [
      `Browser vs CLI and curl, ${mb} MiB, ${runs} runs (medians), load average at the start ${load.map((l) => l.toFixed(2)).join(' ')}, Chromium ${browser.version()}`,
      '',
      '| what | median s | MB/s | ratio |',
      '| --- | ---: | ---: | ---: |',
      `| upload: \`ferry put\` (CLI) | ${seconds(m.cliUp).toFixed(2)} | ${mbps(size, m.cliUp).toFixed(0)} | |`,
      `| upload: the web app in headless Chromium | ${seconds(m.browserUp).toFixed(2)} | ${mbps(size, m.browserUp).toFixed(0)} | ${((100 * m.cliUp) / m.browserUp).toFixed(0)}% of the CLI's rate |`,
      `| download: \`curl -o\` | ${seconds(m.curlDown).toFixed(2)} | ${mbps(size, m.curlDown).toFixed(0)} | |`,
      `| download: the web app's Download in Chromium | ${seconds(m.browserDown).toFixed(2)} | ${mbps(size, m.browserDown).toFixed(0)} | ${((100 * m.curlDown) / m.browserDown).toFixed(0)}% of curl's rate |`,
      '',
      `First load (sign-in page): ${(firstLoad / 1024).toFixed(1)} KiB of JavaScript as received by Chromium (${firstLoadEncodings}); the entry script is ${(br / 1024).toFixed(1)} KiB brotli, ${(gz / 1024).toFixed(1)} KiB gzip.`,
      '',
    ];
    const text = lines.join('\n');
    if (args.flag('json')) process.stdout.write(JSON.stringify({ size, runs, load, rows, medians: m, firstLoad, br, gz }, null, 2) + '\n');
    else process.stdout.write(text);
    await writeFile(join(ROOT, 'benchmarks', 'results', 'web.md'), `# Web app benchmark\n\n\`node dist/benchmarks/web/browser.js ${process.argv.slice(2).join(' ')}\`\n\n${text}`);
    await context.close();
  } finally {
    await browser.close();
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
