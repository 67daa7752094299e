/**
 * `ferry serve` as the service's own user meeting what it may not write. A data directory
 * whose files a start (or a `ferry admin restore`) as root left root's: the start names the
 * file, the user and the fix (exit 4), instead of Node's bare EACCES as an unexpected error
 * (exit 70). A backup directory it may not write: `ferry admin backup` says so (400), not
 * "internal error, see the server's log". Run for real: the server is started as `nobody`
 * through runuser (the tests run as root, who is never refused).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dataDirAccessError } from '../../src/server/data-dir-access.js';
import { cliEnv, FERRY_BIN, runFerry } from '../helpers/cli.js';
import { startTestServer } from '../helpers/in-process-server.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-owner-'));
chmodSync(work, 0o755);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
const serveAsNobody = (dataDir: string, env: Record<string, string> = {}) =>
  spawn('runuser', ['-u', 'nobody', '--', process.execPath, FERRY_BIN, 'serve', '--addr', '127.0.0.1:0', '--data', dataDir], { env: cliEnv({ HOME: work, ...env }), stdio: ['ignore', 'pipe', 'pipe'] });

/** The URL of the ready line, or undefined when the server exited first. */
const readyUrl = (server: ReturnType<typeof serveAsNobody>): Promise<string | undefined> =>
  new Promise((resolve) => {
    let out = '';
    server.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const url = /"event":"ready","url":"([^"]+)"/.exec(out)?.[1];
      if (url) resolve(url);
    });
    server.on('close', () => resolve(undefined));
  });

const stop = async (server: ReturnType<typeof serveAsNobody>): Promise<void> => {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const closed = new Promise((resolve) => server.on('close', resolve));
  server.kill('SIGTERM');
  await closed;
};

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
    const url = await readyUrl(started);
    await stop(started);
    expect(url).toMatch(/^http:/);
  });

  it('leaves other errors alone: another code, or a path outside the data directory', () => {
    const denied = (path: string, code = 'EACCES') => Object.assign(new Error(`${code}: permission denied, open '${path}'`), { code, path, syscall: 'open' });
    expect(dataDirAccessError(denied('/srv/ferry/meta.db'), '/srv/ferry')).toMatchObject({ code: 'FERRY_ERR_PERMISSION' });
    expect(dataDirAccessError(denied('/srv/ferry-other/meta.db'), '/srv/ferry')).toBeUndefined();
    expect(dataDirAccessError(denied('/srv/ferry/meta.db', 'ENOENT'), '/srv/ferry')).toBeUndefined();
    expect(dataDirAccessError(new Error('boom'), '/srv/ferry')).toBeUndefined();
  });
});

describe('ferry admin backup into a directory the server may not write', () => {
  it('is refused in words (400) naming the user and what to change; a directory of that user works', async () => {
    const token = 'backup-test-k7Qm2xR9vT4pW8nZ3bY6cH1dJ5gL0sF';
    const dataDir = join(work, 'backup-data');
    spawnSync('install', ['-d', '-m', '0700', '-o', 'nobody', dataDir]);
    const server = serveAsNobody(dataDir, { FERRY_ADMIN_TOKEN: token });
    try {
      const url = await readyUrl(server);
      expect(url).toBeDefined();
      const env = { FERRY_SERVER: url, FERRY_TOKEN: token };
      const rootsOnly = join(work, 'roots-only'); // made by root, mode 0755: nobody may not write in it
      spawnSync('install', ['-d', '-m', '0755', rootsOnly]);
      const refused = await runFerry(['admin', 'backup', join(rootsOnly, 'b1')], { env });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`the server, running as nobody, may not write ${join(rootsOnly, 'b1')} (EACCES): make the directory and give it to that user`);
      expect(refused.stderr).not.toContain('internal error');

      const theirs = join(work, 'backups');
      spawnSync('install', ['-d', '-m', '0700', '-o', 'nobody', theirs]);
      const done = await runFerry(['admin', 'backup', join(theirs, 'b1')], { env });
      expect(done.code, done.stderr).toBe(0);
      expect(done.stdout).toContain(`into ${join(theirs, 'b1')}`);
    } finally {
      await stop(server);
    }
  });
});
