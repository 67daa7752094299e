/**
 * SSH keys are outside every quota, so what one user may store as keys is bounded here: at
 * most MAX_KEYS_PER_USER keys (unexpired) and a comment of at most 1,024 characters. Before,
 * a user with a full token added 100 keys a request without end, each with a 16 KiB comment:
 * 100 requests made meta.db 308 MB (keys and their audit entries) for a user with a 10 MB
 * quota, and listing their keys answered 162 MB. On SQLite and PostgreSQL (where concurrent
 * requests must not each find room: the user's row is locked, a race this test does not
 * always bring about).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshKeyInfo } from '../../src/core/protocol.js';
import { LOGIN_GRACE_MS } from '../../src/server/sftp/ssh-connection.js';
import { MAX_KEYS_PER_USER } from '../../src/store/ssh-key-store.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

/** An authorized_keys line of a fresh ed25519 public key (any 32 bytes are one). */
function keyLine(comment = 'k@test'): string {
  const type = Buffer.from('ssh-ed25519');
  const blob = Buffer.concat([Buffer.from([0, 0, 0, type.length]), type, Buffer.from([0, 0, 0, 32]), randomBytes(32)]);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}

const lines = (n: number) => Array.from({ length: n }, () => keyLine()).join('\n');

it('the numbers README "SFTP and SCP" gives: at most 500 keys per user, 60 s to log in', () => {
  // The limits themselves are tested below and in test/fronts/sftp-security.test.ts (with a shorter grace).
  expect(MAX_KEYS_PER_USER).toBe(500);
  expect(LOGIN_GRACE_MS).toBe(60_000);
});

function suite(name: string, start: () => Promise<TestServer>, stop: () => Promise<void>) {
  describe(name, () => {
    let t: TestServer;
    let token: string;
    const add = async (keys: string) => {
      const res = await t.api('/api/v1/users/kim/keys', { method: 'POST', json: { keys }, token });
      return { status: res.status, body: (await res.json()) as SshKeyInfo[] & { error?: { code: string; message: string } } };
    };
    const count = async () => ((await (await t.api('/api/v1/users/kim/keys', { token })).json()) as SshKeyInfo[]).length;

    beforeAll(async () => {
      t = await start();
      await addUser(t, 'kim', { password: 'a long password for kim 1' });
      token = (await tokenFor(t, 'kim')).token;
    }, 120_000);
    afterAll(stop);

    it('refuses a comment of 16 KiB and keeps one of 1,024 characters', async () => {
      const long = await add(keyLine('c'.repeat(16_000)));
      expect(long.status).toBe(400);
      expect(long.body.error).toMatchObject({ code: 'FERRY_ERR_VALIDATION', message: expect.stringMatching(/comment may have at most 1024 characters/) });
      const kept = await add(keyLine('c'.repeat(1024)));
      expect(kept.status).toBe(201);
      expect(kept.body[0].comment).toHaveLength(1024);
      expect(await count()).toBe(1);
    });

    it(`holds at most ${MAX_KEYS_PER_USER} keys per user, seven requests at once included; a removed one makes room`, async () => {
      // Seven requests of 100 at once against the 499 places left: four fit, whichever they are.
      const answers = await Promise.all(Array.from({ length: 7 }, () => add(lines(100))));
      expect(answers.map((a) => a.status).sort()).toEqual([201, 201, 201, 201, 413, 413, 413]);
      const refused = answers.find((a) => a.status === 413)!;
      expect(refused.body.error).toMatchObject({ code: 'FERRY_ERR_QUOTA_EXCEEDED', message: expect.stringMatching(new RegExp(`at most ${MAX_KEYS_PER_USER} SSH keys`)) });
      expect(await count()).toBe(401);
      expect((await add(lines(99))).status).toBe(201);
      expect(await count()).toBe(MAX_KEYS_PER_USER);
      const over = await add(lines(1));
      expect(over.status).toBe(413);
      expect(await count()).toBe(MAX_KEYS_PER_USER);

      const [first] = (await (await t.api('/api/v1/users/kim/keys', { token })).json()) as SshKeyInfo[];
      expect((await t.api(`/api/v1/users/kim/keys/${first.id}`, { method: 'DELETE', token })).status).toBe(204);
      expect((await add(lines(1))).status).toBe(201);
      expect(await count()).toBe(MAX_KEYS_PER_USER);
    }, 60_000);

    it("counts one user's keys only", async () => {
      await addUser(t, 'lee');
      const res = await t.api('/api/v1/users/lee/keys', { method: 'POST', json: { keys: lines(3) } });
      expect(res.status).toBe(201);
    });
  });
}

let sqlite: TestServer | undefined;
suite(
  'SSH key limits (SQLite)',
  async () => (sqlite = await startTestServer()),
  async () => {
    await sqlite?.close();
  },
);

let pg: PostgresHandle | undefined;
let pgServer: TestServer | undefined;
suite(
  'SSH key limits (PostgreSQL)',
  async () => {
    pg = await startPostgres();
    return (pgServer = await startTestServer({ db: await pg.createDatabase(), sessionKey: randomBytes(32) }));
  },
  async () => {
    await pgServer?.close();
    await pg?.stop();
  },
);
