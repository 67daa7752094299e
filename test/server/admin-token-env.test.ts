/**
 * FERRY_ADMIN_TOKEN (`adminToken`) lasts as long as it is set: a start without it revokes
 * the token an earlier start set (an operator ends it by taking it out of the environment),
 * and a start with it again brings it back.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const ENV_TOKEN = randomBytes(20).toString('hex');
const dataDir = mkdtempSync(join(tmpdir(), 'ferry-admin-token-'));
let t: TestServer | undefined;
afterAll(async () => {
  await t?.server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function start(adminToken: string | undefined): Promise<TestServer> {
  await t?.server.close();
  t = await startTestServer({ dataDir, adminToken });
  return t;
}

describe('FERRY_ADMIN_TOKEN taken out of the environment', () => {
  it('no longer works after a restart without it, and works again once set again', async () => {
    const first = await start(ENV_TOKEN);
    expect((await first.api('/api/v1/users', { token: ENV_TOKEN })).status).toBe(200);

    const without = await start(undefined);
    const me = await without.api('/api/v1/me', { token: ENV_TOKEN });
    expect(me.status).toBe(401);
    expect(((await me.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_AUTH_INVALID');
    // The server made its own admin token instead, and it works.
    const generated = readFileSync(join(dataDir, 'initial-admin-token'), 'utf8').trim();
    expect((await without.api('/api/v1/users', { token: generated })).status).toBe(200);

    const again = await start(ENV_TOKEN);
    expect((await again.api('/api/v1/users', { token: ENV_TOKEN })).status).toBe(200);
  });
});
