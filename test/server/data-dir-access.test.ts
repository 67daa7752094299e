/**
 * `ferry serve` as the service's own user on a data directory whose files a start (or a
 * `ferry admin restore`) as root left root's: the start names the file, the user and the fix
 * (exit 4), instead of Node's bare EACCES as an unexpected error (exit 70). Run for real:
 * the server is started as `nobody` through runuser (the tests run as root, who is never refused).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dataDirAccessError } from '../../src/server/data-dir-access.js';
import { cliEnv, FERRY_BIN } from '../helpers/cli.js';
import { startTestServer } from '../helpers/in-process-server.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-owner-'));
chmodSync(work, 0o755);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
const serveAsNobody = (dataDir: string) =>
  spawn('runuser', ['-u', 'nobody', '--', process.execPath, FERRY_BIN, 'serve', '--addr', '127.0.0.1:0', '--data', dataDir], { env: cliEnv({ HOME: work }), stdio: ['ignore', 'pipe', 'pipe'] });

describe('a data directory whose files belong to another user', () => {
  it('is refused by name, with the user and the chown that fixes it; after that chown the server starts', async () => {
    const dataDir = join(work, 'data');
    const made = await startTestServer({ dataDir });
    expect((await made.api('/api/v1/files/kept.txt', { method: 'PUT', body: 'kept' })).status).toBe(201);
    await made.server.close();
    chownSync(dataDir, nobody, -1); // the directory is the service's, what is in it still root's

    const refused = serveAsNobody(dataDir);
    let stderr = '';
    refused.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => refused.on('close', resolve));
    expect(code).toBe(4);
    expect(stderr).toMatch(new RegExp(`^ferry: cannot \\w+ ${dataDir}/\\S+: permission denied\\. ferry serve runs as nobody \\(uid ${nobody}\\)`));
    expect(stderr).toContain(`chown -R nobody ${dataDir}`);
    expect(stderr).not.toContain('unexpected error');

    spawnSync('chown', ['-R', 'nobody', dataDir]);
    const started = serveAsNobody(dataDir);
    const ready = await new Promise<boolean>((resolve) => {
      let out = '';
      started.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"event":"ready"')) resolve(true);
      });
      started.on('close', () => resolve(false));
    });
    started.kill('SIGTERM');
    await new Promise((resolve) => started.on('close', resolve));
    expect(ready).toBe(true);
  });

  it('leaves other errors alone: another code, or a path outside the data directory', () => {
    const denied = (path: string, code = 'EACCES') => Object.assign(new Error(`${code}: permission denied, open '${path}'`), { code, path, syscall: 'open' });
    expect(dataDirAccessError(denied('/srv/ferry/meta.db'), '/srv/ferry')).toMatchObject({ code: 'FERRY_ERR_PERMISSION' });
    expect(dataDirAccessError(denied('/srv/ferry-other/meta.db'), '/srv/ferry')).toBeUndefined();
    expect(dataDirAccessError(denied('/srv/ferry/meta.db', 'ENOENT'), '/srv/ferry')).toBeUndefined();
    expect(dataDirAccessError(new Error('boom'), '/srv/ferry')).toBeUndefined();
  });
});
