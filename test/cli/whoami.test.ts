/** `ferry whoami` and `ferry logout` against a real server, with a token made for the test. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

describe('whoami and logout', () => {
  it('whoami names the server, the user and the token with its expiry; logout --revoke forgets and revokes it', async () => {
    const created = JSON.parse(ok(await w.ferry(['token', 'create', '--expires', '7d', '--json'])).stdout) as { id: string; token: string };
    const saved = { FERRY_SERVER: undefined, FERRY_TOKEN: undefined };
    ok(await w.ferry(['login', w.server.url, '--token', '-', '-q'], { input: created.token + '\n', env: saved }));
    const who = JSON.parse(ok(await w.ferry(['whoami', '--json'], { env: saved })).stdout) as Record<string, unknown>;
    expect(who).toMatchObject({ server: w.server.url, user: 'admin', role: 'admin', tokenId: created.id });
    expect(who.expiresAt as number).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    expect(ok(await w.ferry(['whoami'], { env: saved })).stdout).toMatch(/^server: +http.*\nuser: +admin \(admin\)/);
    const out = ok(await w.ferry(['logout', '--revoke'], { env: saved }));
    expect(out.stderr).toContain('token revoked');
    expect(JSON.parse(await readFile(w.env.FERRY_CONFIG!, 'utf8'))).not.toHaveProperty('token');
    expect((await w.ferry(['whoami'], { env: saved })).code).toBe(4); // no token saved
    const revoked = await w.ferry(['ls', '/'], { env: { FERRY_TOKEN: created.token } });
    expect(revoked.code).toBe(4); // and the token itself no longer works
  });

  /** A token of a new user (the admin's own would end the world's other tests when revoked). */
  async function userToken(name: string): Promise<{ id: string; token: string }> {
    ok(await w.ferry(['user', 'add', name, '--json']));
    return JSON.parse(ok(await w.ferry(['token', 'create', '--user', name, '--json'])).stdout) as { id: string; token: string };
  }

  /** A URL nothing listens at: a port the system gave out and that was closed again. */
  async function deadUrl(): Promise<string> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return `http://127.0.0.1:${port}`;
  }

  /** A config file of its own, with these logins saved, and the env that uses it. */
  async function configWith(tag: string, file: Record<string, unknown>): Promise<{ env: Record<string, string | undefined>; path: string }> {
    const path = join(w.dir, `logout-${tag}`, 'config.json');
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, JSON.stringify(file));
    return { path, env: { FERRY_CONFIG: path, FERRY_SERVER: undefined, FERRY_TOKEN: undefined } };
  }

  const works = async (token: string) => (await w.ferry(['ls', '/'], { env: { FERRY_TOKEN: token } })).code;

  it('logout revokes a token ferry login made from a password, and says so; --keep-token only forgets it here', async () => {
    const una = await userToken('una');
    const cfg = await configWith('default', { server: w.server.url, token: una.token, madeByLogin: true });
    const out = ok(await w.ferry(['logout'], { env: cfg.env }));
    expect(out.stderr).toBe(`logged out of ferry (${w.server.url}): token revoked on the server; the token is no longer in ${cfg.path}\n`);
    expect(await works(una.token)).toBe(4);
    expect(JSON.parse(await readFile(cfg.path, 'utf8'))).toEqual({ server: w.server.url });

    const kept = await userToken('kept');
    const cfg2 = await configWith('keep', { server: w.server.url, token: kept.token, madeByLogin: true });
    const json = JSON.parse(ok(await w.ferry(['logout', '--keep-token', '--json'], { env: cfg2.env })).stdout) as Record<string, unknown>;
    expect(json).toEqual({ name: 'ferry', server: w.server.url, loggedOut: true, revoked: false, revoke: 'kept', error: null, forgotten: false, file: cfg2.path });
    expect(await works(kept.token)).toBe(0);
    expect(JSON.parse(await readFile(cfg2.path, 'utf8'))).toEqual({ server: w.server.url });
  });

  it('a token given to ferry login stays valid after logout unless --revoke; a password login saves madeByLogin and its logout revokes', async () => {
    const given = await userToken('given');
    const saved = { FERRY_CONFIG: join(w.dir, 'logout-given', 'config.json'), FERRY_SERVER: undefined, FERRY_TOKEN: undefined };
    ok(await w.ferry(['login', w.server.url, '--token', '-', '-q'], { input: given.token + '\n', env: saved }));
    expect(JSON.parse(await readFile(saved.FERRY_CONFIG, 'utf8'))).not.toHaveProperty('madeByLogin');
    const out = ok(await w.ferry(['logout'], { env: saved }));
    expect(out.stderr).toBe(`logged out of ferry (${w.server.url}): the token stays valid on the server (it was given to ferry login, not made by it; ferry logout --revoke, or ferry token revoke ID, ends it); the token is no longer in ${saved.FERRY_CONFIG}\n`);
    expect(await works(given.token)).toBe(0);
    ok(await w.ferry(['login', w.server.url, '--token', '-', '-q'], { input: given.token + '\n', env: saved }));
    expect(JSON.parse(ok(await w.ferry(['logout', '--revoke', '--json'], { env: saved })).stdout)).toMatchObject({ revoke: 'revoked', revoked: true });
    expect(await works(given.token)).toBe(4);

    ok(await w.ferry(['user', 'add', 'pat', '--password-stdin', '--json'], { input: 'pat-password-1\n' }));
    ok(await w.ferry(['login', w.server.url, '-u', 'pat', '--password-stdin', '-q'], { input: 'pat-password-1\n', env: saved }));
    const config = JSON.parse(await readFile(saved.FERRY_CONFIG, 'utf8')) as { token: string; madeByLogin?: boolean };
    expect(config.madeByLogin).toBe(true);
    expect(await works(config.token)).toBe(0);
    expect(JSON.parse(ok(await w.ferry(['logout', '--json'], { env: saved })).stdout)).toMatchObject({ revoke: 'revoked', revoked: true });
    expect(await works(config.token)).toBe(4);
    expect(JSON.parse(await readFile(saved.FERRY_CONFIG, 'utf8'))).toEqual({ server: w.server.url });
  });

  it('a login whose server is gone is forgotten all the same, and the report says its token was not revoked', async () => {
    const dead = await deadUrl();
    const cfg = await configWith('gone', { servers: { old: { server: dead, token: 'fy_gone-token', madeByLogin: true } } });
    const human = await w.ferry(['logout', '--name', 'old'], { env: cfg.env });
    expect(human.code).toBe(0);
    expect(human.stderr).toContain(`logged out of old (${dead}), but the token was NOT revoked: `);
    expect(human.stderr).toContain('(FERRY_ERR_NETWORK); it works until it expires or is revoked');
    expect(JSON.parse(await readFile(cfg.path, 'utf8'))).toEqual({ servers: { old: { server: dead } } });

    const cfg2 = await configWith('gone-json', { servers: { old: { server: dead, token: 'fy_gone-token', madeByLogin: true } } });
    const json = JSON.parse(ok(await w.ferry(['logout', '--name', 'old', '--forget', '--json'], { env: cfg2.env })).stdout) as { revoke: string; revoked: boolean; error: { code: string }; forgotten: boolean };
    expect(json).toMatchObject({ name: 'old', server: dead, loggedOut: true, revoked: false, revoke: 'unreachable', error: { code: 'FERRY_ERR_NETWORK' }, forgotten: true });
    expect(JSON.parse(await readFile(cfg2.path, 'utf8'))).toEqual({});
  });

  it('a token the server no longer takes is reported as invalid; --all logs out of every login, each with its own outcome', async () => {
    const gone = await userToken('gone');
    ok(await w.ferry(['token', 'revoke', gone.id]));
    const live = await userToken('live');
    const dead = await deadUrl();
    const cfg = await configWith('all', {
      server: w.server.url,
      token: live.token,
      madeByLogin: true,
      servers: { revoked: { server: w.server.url, token: gone.token, madeByLogin: true }, far: { server: dead, token: 'fy_far', madeByLogin: true }, empty: { server: w.server.url } },
    });
    const out = JSON.parse(ok(await w.ferry(['logout', '--all', '--json'], { env: cfg.env })).stdout) as { file: string; logins: Array<Record<string, unknown>> };
    expect(out.file).toBe(cfg.path);
    expect(out.logins.map((l) => [l.name, l.revoke, l.loggedOut])).toEqual([
      ['ferry', 'revoked', true],
      ['revoked', 'invalid', true],
      ['far', 'unreachable', true],
      ['empty', 'none', false],
    ]);
    expect(await works(live.token)).toBe(4);
    expect(JSON.parse(await readFile(cfg.path, 'utf8'))).toEqual({
      server: w.server.url,
      servers: { revoked: { server: w.server.url }, far: { server: dead }, empty: { server: w.server.url } },
    });
    const again = ok(await w.ferry(['logout', '--all', '--forget'], { env: cfg.env }));
    expect(again.stderr.trim().split('\n')).toHaveLength(4);
    expect(JSON.parse(await readFile(cfg.path, 'utf8'))).toEqual({});
    expect(ok(await w.ferry(['logout', '--all'], { env: cfg.env })).stderr).toBe(`not logged in anywhere (no login saved in ${cfg.path})\n`);
  });

  it('logout refuses --all with --name, and a name no login has', async () => {
    const cfg = await configWith('usage', { server: w.server.url });
    const both = await w.ferry(['logout', '--all', '--name', 'x'], { env: cfg.env });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--all and --name both say which login');
    const unknown = await w.ferry(['logout', '--name', 'nope'], { env: cfg.env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no server saved as "nope"');
    expect(ok(await w.ferry(['logout'], { env: cfg.env })).stderr).toBe(`not logged in (no token in ${cfg.path})\n`);
  });
});
