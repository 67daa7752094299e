/**
 * End to end: configuration and authentication as a user meets them: `ferry login`, the
 * config file and its mode, overrides by environment and flags, and the exit codes and
 * one-line messages of a missing or wrong token.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

/** Env without the server/token variables: only the config file speaks. */
const bare = () => ({ FERRY_SERVER: undefined, FERRY_TOKEN: undefined });

describe('login and config', () => {
  it('saves server and token with mode 0600 after checking them; later commands use them', async () => {
    const env = { ...bare(), FERRY_CONFIG: undefined };
    ok(await w.ferry(['login', w.server.url, '--token', w.server.adminToken], { env }));
    const file = join(w.env.XDG_CONFIG_HOME!, 'ferry', 'config.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(w.env.XDG_CONFIG_HOME!, 'ferry'))).mode & 0o777).toBe(0o700);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ server: w.server.url, token: w.server.adminToken });
    ok(await w.ferry(['ls', '/'], { env }));
  });

  it('honours FERRY_CONFIG', async () => {
    const file = join(w.dir, 'elsewhere', 'ferry.json');
    ok(await w.ferry(['login', w.server.url, '--token', '-'], { env: { ...bare(), FERRY_CONFIG: file }, input: w.server.adminToken + '\n' }));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    ok(await w.ferry(['mkdir', '-p', '/from-config'], { env: { ...bare(), FERRY_CONFIG: file } }));
  });

  it('refuses to save a wrong token', async () => {
    const file = join(w.dir, 'refused.json');
    const r = await w.ferry(['login', w.server.url, '--token', 'wrong'], { env: { ...bare(), FERRY_CONFIG: file } });
    expect(r.code).toBe(4);
    await expect(stat(file)).rejects.toThrow();
  });

  it('refuses a URL that is not a Ferry server (nothing listens)', async () => {
    const r = await w.ferry(['login', 'http://127.0.0.1:1', '--token', 't'], { env: { ...bare(), FERRY_CONFIG: join(w.dir, 'nope.json') } });
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('missing or wrong credentials', () => {
  it('without a token: exit code 4 and one line saying what to do', async () => {
    const r = await w.ferry(['ls', '/'], { env: { FERRY_TOKEN: undefined, FERRY_CONFIG: join(w.dir, 'none.json') } });
    expect(r.code).toBe(4);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ferry: no token configured.*ferry login.*\(FERRY_ERR_AUTH_REQUIRED\)$/);
  });

  it('with a wrong token: exit code 4 and one line', async () => {
    const r = await w.ferry(['put', '-', '/x'], { env: { FERRY_TOKEN: 'not-the-token' }, input: 'x' });
    expect(r.code).toBe(4);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/refused the token.*\(FERRY_ERR_AUTH_INVALID\)$/);
  });

  it("a revoked token: the server's reason, and the setting to fix by where the token came from", async () => {
    const made = JSON.parse(ok(await w.ferry(['token', 'create', '--json'])).stdout) as { id: string; token: string };
    ok(await w.ferry(['token', 'revoke', made.id]));
    const config = join(w.dir, 'revoked.json');
    await writeFile(config, JSON.stringify({ server: w.server.url, token: made.token }));
    const cases: Array<[string[], Record<string, string | undefined>, string]> = [
      [['--token', made.token], {}, '(--token): the token was revoked; check --token'],
      [[], { FERRY_TOKEN: made.token }, '(FERRY_TOKEN): the token was revoked; check FERRY_TOKEN'],
      // The saved login's own URL, which the user need not remember.
      [[], { ...bare(), FERRY_CONFIG: config }, `(saved login): the token was revoked; run \`ferry login ${w.server.url}\` again`],
    ];
    for (const [flags, env, said] of cases) {
      const r = await w.ferry(['ls', '/', ...flags], { env });
      expect(r.code, said).toBe(4);
      expect(r.stderr.trim(), said).toBe(`ferry: the server refused the token ${said} (FERRY_ERR_AUTH_INVALID)`);
    }
  });

  it('--token beats FERRY_TOKEN', async () => {
    ok(await w.ferry(['ls', '/', '--token', w.server.adminToken], { env: { FERRY_TOKEN: 'wrong' } }));
    expect((await w.ferry(['ls', '/', '--token', 'wrong'])).code).toBe(4);
  });

  it('without a server: usage exit code 2', async () => {
    const r = await w.ferry(['ls', '/'], { env: { FERRY_SERVER: undefined, FERRY_CONFIG: join(w.dir, 'none.json') } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no server configured/);
  });

  it('a server that is down: exit code 5', async () => {
    const r = await w.ferry(['ls', '/', '--retries', '1'], { env: { FERRY_SERVER: 'http://127.0.0.1:1' } });
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
