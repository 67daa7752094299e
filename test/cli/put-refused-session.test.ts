/**
 * A `ferry put` of a file large enough for chunking threads whose upload session the server
 * refuses at its creation (the user's live sessions at their limit; a token that may not write
 * there) fails with the server's reason and its exit code, and the process ends: the chunking
 * threads it started early neither keep it alive nor hide the message. And it leaves no
 * session saved for a re-run (there is none to resume).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { tempDir, writeRandomFile } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

const MiB = 1024 * 1024;
let t: TestServer;
let tmp: { path: string; cleanup: () => Promise<void> };
let src: string;
let common: Record<string, string>;

beforeAll(async () => {
  tmp = await tempDir('ferry-put-refused-');
  t = await startTestServer({ durable: false });
  common = { FERRY_SERVER: t.url, HOME: join(tmp.path, 'home'), XDG_STATE_HOME: join(tmp.path, 'state') };
  // Past the 32 MiB from which a put chunks in worker threads (started before the session is asked for).
  src = join(tmp.path, 'big.bin');
  await writeRandomFile(src, 40 * MiB);
});
afterAll(async () => {
  await t?.close();
  await tmp?.cleanup();
});

const savedSessions = async () => readdir(join(tmp.path, 'state', 'ferry', 'uploads')).catch(() => [] as string[]);

describe('a put whose upload session is refused at creation', () => {
  it('at the user’s session limit: fails with the quota message and exits', { timeout: 120_000 }, async () => {
    await addUser(t, 'erin', { maxSessions: 1 });
    const token = (await tokenFor(t, 'erin')).token;
    const open = await fetch(`${t.url}/api/v1/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/other.bin', mtime: 0 }),
    });
    expect(open.status).toBe(201);
    const r = await runFerry(['put', '-q', src, '/big.bin'], { env: { ...common, FERRY_TOKEN: token } });
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toBe('ferry: at most 1 upload sessions at once: finish or abort one first (FERRY_ERR_QUOTA_EXCEEDED)\n');
    expect(await savedSessions()).toEqual([]);
  });

  it('outside the token’s paths: fails with the permission message and exits', { timeout: 120_000 }, async () => {
    await addUser(t, 'fred');
    const token = (await tokenFor(t, 'fred', { pathPrefix: '/mine' })).token;
    const r = await runFerry(['put', '-q', src, '/elsewhere/big.bin'], { env: { ...common, FERRY_TOKEN: token } });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toBe("ferry: /elsewhere/big.bin is outside this token's path prefix /mine (FERRY_ERR_FORBIDDEN)\n");
    expect(await savedSessions()).toEqual([]);
  });
});
