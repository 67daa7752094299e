/**
 * `ferry config encryption`: the client's secret files sealed with a passphrase, through the
 * real CLI: secrets absent from the files, a wrong or missing FERRY_CONFIG_PASS refused with
 * its own code, files that change stay sealed, and `remove` gives the plain files back.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';

describe('ferry config encryption', () => {
  let dir: string;
  let conf: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ferry-sealed-'));
    conf = path.join(dir, 'conf');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const ferry = (args: string[], pass?: string, input?: string) =>
    runFerry(args, { env: { FERRY_CONFIG_DIR: conf, ...(pass === undefined ? {} : { FERRY_CONFIG_PASS: pass }) }, ...(input === undefined ? {} : { input }) });

  it('a sealed config.json (its saved servers) does not stop commands on local paths without the passphrase', async () => {
    const { writeFile, mkdir } = await import('node:fs/promises');
    await mkdir(conf, { recursive: true });
    await writeFile(path.join(conf, 'config.json'), JSON.stringify({ server: 'http://127.0.0.1:1', token: 't', servers: { work: { server: 'http://127.0.0.1:2', token: 'u' } } }), { mode: 0o600 });
    expect((await ferry(['config', 'encryption', 'set'], 'pass phrase 1')).code).toBe(0);
    await mkdir(path.join(dir, 'local'));
    await writeFile(path.join(dir, 'local', 'x.txt'), 'x');
    const ls = await ferry(['ls', `local:${path.join(dir, 'local')}`]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('x.txt');
    expect((await ferry(['config', 'show'])).stderr).toContain('FERRY_ERR_CRYPTO_KEY_MISSING');
    const shown = await ferry(['config', 'show', '--json'], 'pass phrase 1');
    expect(JSON.parse(shown.stdout).servers.map((s: { name: string }) => s.name)).toEqual(['ferry', 'work']);
  });

  it('seals remotes.json and config.json: no secret in them, a wrong or missing passphrase refused, changes stay sealed', async () => {
    expect((await ferry(['remote', 'add', 'photos', 's3', 'bucket=pics', 'secretAccessKey=TOPSECRET-S3', 'accessKeyId=AKIAMARKER'])).code).toBe(0);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(conf, 'config.json'), JSON.stringify({ server: 'http://127.0.0.1:1', token: 'ferry_abc_TOKENMARKER' }), { mode: 0o600 });

    const set = await ferry(['config', 'encryption', 'set'], 'correct horse battery');
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('encrypted');
    for (const f of ['remotes.json', 'config.json']) {
      const text = await readFile(path.join(conf, f), 'utf8');
      expect(text).not.toMatch(/TOPSECRET|AKIAMARKER|TOKENMARKER|pics|photos/);
      expect(JSON.parse(text)).toMatchObject({ ferrySealed: 1, kdf: { name: 'scrypt', N: 32768, r: 8, p: 1 } });
      expect((await stat(path.join(conf, f))).mode & 0o777).toBe(0o600);
    }

    const missing = await ferry(['remote', 'ls']);
    expect(missing.code).toBe(2); // README: exit 2 when missing, 4 when wrong
    expect(missing.stderr).toContain('FERRY_ERR_CRYPTO_KEY_MISSING');
    const wrong = await ferry(['remote', 'ls'], 'wrong passphrase');
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toContain('FERRY_ERR_CRYPTO_KEY_WRONG');
    expect(wrong.stderr).not.toMatch(/TOPSECRET|correct horse/);

    const listed = await ferry(['remote', 'ls'], 'correct horse battery');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('photos: s3 bucket=pics');
    expect(listed.stdout).not.toContain('TOPSECRET');

    // A change keeps the file sealed.
    expect((await ferry(['remote', 'add', 'nas', 'sftp', 'host=nas.local', 'password=HUNTER2MARKER'], 'correct horse battery')).code).toBe(0);
    expect(await readFile(path.join(conf, 'remotes.json'), 'utf8')).not.toMatch(/HUNTER2MARKER|nas\.local/);
    const check = await ferry(['config', 'encryption', 'check', '--json'], 'correct horse battery');
    expect(JSON.parse(check.stdout)).toEqual([
      { file: path.join(conf, 'config.json'), encrypted: true },
      { file: path.join(conf, 'remotes.json'), encrypted: true },
    ]);

    const removed = await ferry(['config', 'encryption', 'remove'], 'correct horse battery');
    expect(removed.code, removed.stderr).toBe(0);
    expect(await readFile(path.join(conf, 'remotes.json'), 'utf8')).toContain('HUNTER2MARKER');
    expect((await ferry(['remote', 'ls'])).code).toBe(0);
  });
});
