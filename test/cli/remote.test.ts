import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRemotes, remotesPath } from '../../src/backends/remotes.js';
import { openRemote } from '../../src/remotes/index.js';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { configDir } from '../../src/core/config-location.js';

const run = promisify(execFile);
const bin = path.join(import.meta.dirname, '..', '..', 'bin', 'ferry.js');

describe('ferry remote (the real CLI)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ferry-remote-'));
    env = { ...process.env, FERRY_CONFIG_DIR: path.join(dir, 'conf') };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const ferry = (...args: string[]) => run(process.execPath, [bin, ...args], { env });

  it('adds, lists (secrets redacted), and removes remotes; the file is 0600 in a 0700 directory', async () => {
    const added = await ferry('remote', 'add', 'photos', 's3', 'bucket=pics', 'region=eu-west-1', 'secretAccessKey=TOPSECRET', 'accessKeyId=AKIAXYZ');
    expect(added.stdout).not.toContain('TOPSECRET');
    expect(added.stdout).not.toContain('AKIAXYZ');
    await ferry('remote', 'add', 'nas', 'sftp', 'host=nas.local', 'port=2222', 'password=hunter2');
    const listed = await ferry('remote', 'ls');
    expect(listed.stdout).toContain('photos: s3 bucket=pics region=eu-west-1 secretAccessKey=*** accessKeyId=***');
    expect(listed.stdout).toContain('nas: sftp host=nas.local port=2222 password=***');
    expect(listed.stdout).not.toMatch(/TOPSECRET|hunter2|AKIAXYZ/);
    // --json: an array, as every list command prints (was an object keyed by name).
    const json = await ferry('remote', 'ls', '--json');
    expect(JSON.parse(json.stdout)).toEqual([
      { name: 'photos', type: 's3', options: { bucket: 'pics', region: 'eu-west-1', secretAccessKey: '***', accessKeyId: '***' } },
      { name: 'nas', type: 'sftp', options: { host: 'nas.local', port: 2222, password: '***' } },
    ]);
    expect(json.stdout).not.toMatch(/TOPSECRET|hunter2|AKIAXYZ/);
    // The name-keyed reading stays in config show --json.
    expect(JSON.parse((await ferry('config', 'show', '--json')).stdout).remotes.nas).toEqual({ type: 'sftp', options: { host: 'nas.local', port: 2222, password: '***' } });
    const file = remotesPath(env);
    expect(file).toBe(path.join(dir, 'conf', 'remotes.json'));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    const stored = await readRemotes(file);
    expect(stored.nas).toEqual({ type: 'sftp', options: { host: 'nas.local', port: 2222, password: 'hunter2' } });
    await ferry('remote', 'rm', 'nas');
    expect(Object.keys(await readRemotes(file))).toEqual(['photos']);
    expect(JSON.parse(await readFile(file, 'utf8')).version).toBe(1);
  });

  it('openRemote opens NAME:path with the saved remotes (and FERRY_<TYPE>_<OPTION> from the environment)', async () => {
    await ferry('remote', 'add', 'scratch', 'memory', 'name=remote-test');
    await ferry('remote', 'add', 'here', 'local', `root=${dir}`);
    const scratch = await openRemote('scratch:', env);
    expect(scratch.name).toBe('memory:remote-test');
    const local = await openRemote('here:sub/dir', { ...env, FERRY_LOCAL_FOLLOW_SYMLINKS: 'true' });
    await local.write('f', Buffer.from('x'));
    expect(await readFile(path.join(dir, 'sub', 'dir', 'f'), 'utf8')).toBe('x');
    MemoryBackend.forget('remote-test');
  });

  it('refuses bad names, unknown types and options, with usage exit codes and no secret echoed', async () => {
    for (const args of [
      ['remote', 'add', 's3', 's3', 'bucket=x'],
      ['remote', 'add', 'ok-name', 'nosuchtype'],
      ['remote', 'add', 'ok-name', 's3', 'bucket=x', 'colour=blue'],
      ['remote', 'add', 'ok-name', 's3', 'maxKeys=lots'],
      ['remote', 'add', 'ok-name', 's3', 'justaword'],
    ]) {
      const err = await ferry(...args).catch((e: { code: number; stderr: string }) => e);
      expect((err as { code: number }).code, args.join(' ')).toBe(2);
    }
    const missing = await ferry('remote', 'rm', 'never').catch((e: { code: number }) => e);
    expect((missing as { code: number }).code).toBe(3);
  });

  it('the config directory follows FERRY_CONFIG_DIR, FERRY_CONFIG, then XDG_CONFIG_HOME, then ~/.config', () => {
    expect(configDir({ FERRY_CONFIG_DIR: '/a', FERRY_CONFIG: '/b/c.json', XDG_CONFIG_HOME: '/x', HOME: '/h' })).toBe('/a');
    expect(configDir({ FERRY_CONFIG: '/b/c.json', XDG_CONFIG_HOME: '/x', HOME: '/h' })).toBe('/b');
    expect(configDir({ XDG_CONFIG_HOME: '/x', HOME: '/h' })).toBe('/x/ferry');
    expect(configDir({ XDG_CONFIG_HOME: 'relative', HOME: '/h' })).toBe('/h/.config/ferry');
  });
});
