import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { configPath, normalizeServerUrl, readConfigFile, resolveConfig, writeConfigFile } from './config.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('config file', () => {
  it('is written with mode 0600 in a directory of mode 0700, whatever the umask', async () => {
    const file = join(dir, 'xdg', 'ferry', 'config.json');
    const old = process.umask(0o000);
    try {
      await writeConfigFile(file, { server: 'http://127.0.0.1:1', token: 'secret' });
    } finally {
      process.umask(old);
    }
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'xdg', 'ferry'))).mode & 0o777).toBe(0o700);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ server: 'http://127.0.0.1:1', token: 'secret' });
  });

  it('tightens an existing file that was too open when it is rewritten', async () => {
    const file = join(dir, 'ferry', 'config.json');
    await mkdir(join(dir, 'ferry'), { mode: 0o755 });
    await writeFile(file, '{}', { mode: 0o644 });
    await writeConfigFile(file, { server: 'http://h', token: 't' });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'ferry'))).mode & 0o777).toBe(0o700);
  });

  it('reads a missing file as empty and a broken one as FERRY_ERR_CONFIG', async () => {
    expect(await readConfigFile(join(dir, 'none.json'))).toEqual({});
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"server": ');
    await expect(readConfigFile(bad)).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_CONFIG'));
    await writeFile(bad, '{"token": 5}');
    await expect(readConfigFile(bad)).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_CONFIG'));
  });
});

describe('configPath', () => {
  it('prefers FERRY_CONFIG, then XDG_CONFIG_HOME, then ~/.config', () => {
    expect(configPath({ FERRY_CONFIG: '/x/c.json', XDG_CONFIG_HOME: '/xdg', HOME: '/h' })).toBe('/x/c.json');
    expect(configPath({ XDG_CONFIG_HOME: '/xdg', HOME: '/h' })).toBe('/xdg/ferry/config.json');
    expect(configPath({ HOME: '/h' })).toBe('/h/.config/ferry/config.json');
    // A relative XDG_CONFIG_HOME is invalid per the spec and ignored.
    expect(configPath({ XDG_CONFIG_HOME: 'rel', HOME: '/h' })).toBe('/h/.config/ferry/config.json');
  });
});

describe('resolveConfig', () => {
  it('takes options over the environment over the file', async () => {
    const file = join(dir, 'c.json');
    await writeConfigFile(file, { server: 'http://file:1', token: 'file-token' });
    const env = { FERRY_CONFIG: file };
    expect(await resolveConfig({}, env)).toMatchObject({ server: 'http://file:1', token: 'file-token', sources: { server: 'file', token: 'file' } });
    const env2 = { ...env, FERRY_SERVER: 'env:2', FERRY_TOKEN: 'env-token' };
    expect(await resolveConfig({}, env2)).toMatchObject({ server: 'http://env:2', token: 'env-token', sources: { server: 'env', token: 'env' } });
    expect(await resolveConfig({ token: 'opt' }, env2)).toMatchObject({ server: 'http://env:2', token: 'opt', sources: { server: 'env', token: 'option' } });
  });
});

describe('resolveConfig: a token goes only to the server it belongs to', () => {
  it('sends a saved token only to its exact server URL, a named one to its own, FERRY_TOKEN with FERRY_SERVER', async () => {
    const file = join(dir, 'c.json');
    await writeConfigFile(file, { server: 'https://a.example:7373', token: 'tok-a', fingerprint: 'fp-a', servers: { work: { server: 'http://b.example:7373/ferry', token: 'tok-b' } } });
    const env = { FERRY_CONFIG: file };
    expect(await resolveConfig({}, env)).toMatchObject({ server: 'https://a.example:7373', token: 'tok-a', fingerprint: 'fp-a' });
    expect(await resolveConfig({ server: 'https://a.example:7373/' }, env)).toMatchObject({ token: 'tok-a', sources: { token: 'file' } });
    for (const other of ['http://a.example:7373', 'https://a.example:7374', 'https://a.example.evil:7373', 'https://a.example:7373/x', 'http://b.example:7373']) {
      const r = await resolveConfig({ server: other }, env);
      expect(r.token, other).toBeUndefined();
      expect(r.fingerprint, other).toBeUndefined();
      expect(r.withheldFor, other).toBe('https://a.example:7373');
    }
    expect(await resolveConfig({ server: 'http://b.example:7373/ferry' }, env)).toMatchObject({ token: 'tok-b', sources: { token: 'file' } });
    expect(await resolveConfig({ server: 'http://c:1', token: 'given' }, env)).toMatchObject({ token: 'given', sources: { token: 'option' } });
    const paired = { ...env, FERRY_SERVER: 'http://e:1', FERRY_TOKEN: 'tok-e' };
    expect(await resolveConfig({}, paired)).toMatchObject({ server: 'http://e:1', token: 'tok-e' });
    expect(await resolveConfig({ server: 'http://elsewhere:1' }, paired)).toMatchObject({ token: undefined, withheldFor: 'http://e:1' });
    // FERRY_TOKEN alone is for whatever server the command names.
    expect(await resolveConfig({ server: 'http://elsewhere:1' }, { ...env, FERRY_TOKEN: 'tok-e' })).toMatchObject({ token: 'tok-e', sources: { token: 'env' } });
  });

  it('reads and keeps named servers; refuses a bad name', async () => {
    const file = join(dir, 'c.json');
    await writeConfigFile(file, { server: 'http://a', servers: { work: { server: 'http://b', token: 't' } } });
    expect(await readConfigFile(file)).toEqual({ server: 'http://a', servers: { work: { server: 'http://b', token: 't' } } });
    await writeFile(file, JSON.stringify({ servers: { 'no spaces': { server: 'http://b' } } }));
    await expect(readConfigFile(file)).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_CONFIG'));
    await writeFile(file, JSON.stringify({ servers: { work: { token: 't' } } }));
    await expect(readConfigFile(file)).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_CONFIG'));
  });
});

describe('normalizeServerUrl', () => {
  it('adds a scheme and drops trailing slashes, keeps a path prefix', () => {
    expect(normalizeServerUrl('127.0.0.1:7373')).toBe('http://127.0.0.1:7373');
    expect(normalizeServerUrl('https://files.example.com/')).toBe('https://files.example.com');
    expect(normalizeServerUrl('https://example.com/ferry/')).toBe('https://example.com/ferry');
    expect(() => normalizeServerUrl('ftp://x')).toThrow(/http or https/);
  });
});
