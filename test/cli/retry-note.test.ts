/**
 * README, "Flags": `-v` prints retries as they happen; without it, requests that were retried
 * are counted in one closing line (and `-q` or `--json` keep even that off stderr). A real
 * server behind the fault proxy, which answers the listing 503 twice before letting it through.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

let t: TestServer;
let proxy: FaultProxy;

beforeAll(async () => {
  t = await startTestServer();
  proxy = new FaultProxy(t.url);
  await proxy.start();
  const put = await fetch(`${t.url}/api/v1/files/a.txt`, { method: 'PUT', headers: { authorization: `Bearer ${t.token}` }, body: 'alpha' });
  expect(put.status).toBe(201);
});

afterAll(async () => {
  await proxy?.stop();
  await t?.close();
});

/** `ferry ls /` through the proxy, its listing answered 503 twice first. */
async function lsAfterTwo503(...flags: string[]) {
  proxy.rules.length = 0;
  proxy.rules.push({ method: 'GET', path: /^\/api\/v1\/list/, status: 503, code: 'FERRY_ERR_UNAVAILABLE', times: 2 });
  const before = proxy.requests('GET', /^\/api\/v1\/list/).length;
  const r = await runFerry(['ls', '/', ...flags, '--server', proxy.url, '--token', t.token]);
  expect(proxy.requests('GET', /^\/api\/v1\/list/).length - before).toBe(3);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

describe('retries, counted or shown', () => {
  it('without -v: the answer, then one closing line counting the retried requests', async () => {
    const r = await lsAfterTwo503();
    expect(r.stdout).toBe('a.txt\n');
    expect(r.stderr).toBe('ferry: 2 requests were retried (-v shows each)\n');
  });

  it('with -v: each retry as it happens, and no closing count', async () => {
    const r = await lsAfterTwo503('-v');
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => /retry/i.test(l))).toHaveLength(2);
    expect(r.stderr).not.toContain('requests were retried');
  });

  it('with --json: stdout is the JSON alone and stderr stays empty', async () => {
    const r = await lsAfterTwo503('--json');
    expect(JSON.parse(r.stdout)).toBeTruthy();
    expect(r.stderr).toBe('');
  });

  it('a run that needed no retry prints no such line', async () => {
    proxy.rules.length = 0;
    const r = await runFerry(['ls', '/', '--server', proxy.url, '--token', t.token]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });
});
