/**
 * OpenSSH's clients as scripts use them, beyond sftp-transfer.test.ts: `ssh user@host`
 * (no shell: a message saying what to use, exit status 1), `sftp -b` batches where a `-`
 * prefix lets a failing command pass and an unprefixed failure stops the batch, and
 * `scp -r` of a tree of 400 small files up and down, byte for byte.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, scp, sftpBatch, sshOptions, sshUser, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';

let s: SftpServer;
let oli: SshUser;

beforeAll(async () => {
  s = await startSftpServer();
  oli = await sshUser(s, 'oli');
});
afterAll(async () => s?.close());

const stat = (path: string) => s.t.api(`/api/v1/stat/users/oli/${path}`);

describe('OpenSSH clients in scripts', () => {
  it('ssh user@host: no shell and no commands, each with a message saying what to use', async () => {
    const ssh = (...args: string[]) => run('ssh', [...sshOptions(s, oli.key), '-p', String(s.port), 'oli@127.0.0.1', ...args]);
    const shell = await ssh();
    expect(shell.code).toBe(1);
    expect(shell.stderr).toMatch(/This server has no shell\.\r?\nFerry serves files over SFTP only: use sftp, scp/);
    const command = await ssh('ls', '-la');
    expect(command.code).toBe(1);
    expect(command.stderr).toMatch(/This server runs no commands \(asked for: ls -la\)/);
  });

  it('sftp -b: a `-` prefixed command may fail, an unprefixed failure stops the batch', async () => {
    await writeFile(join(s.dir, 'h.txt'), 'hello');
    const lenient = await sftpBatch(s, oli, ['mkdir made', '-rm nothing.txt', '-mkdir made', '-rmdir nope', 'put h.txt made/h.txt', 'ls made']);
    expect(lenient.code, lenient.stderr).toBe(0);
    expect(lenient.stderr).toMatch(/remote delete \/nothing\.txt: No such file or directory/);
    expect(lenient.stderr).toMatch(/remote rmdir "\/nope": No such file or directory/);
    expect(lenient.stdout).toMatch(/made\/h\.txt/);
    expect((await stat('made/h.txt')).status).toBe(200);

    const strict = await sftpBatch(s, oli, ['rm nothing.txt', 'mkdir never']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/No such file or directory/);
    expect((await stat('never')).status).toBe(404);
    // mkdir of a name that is there fails (SFTP v3 has only "Failure" to say so) and stops the batch
    const again = await sftpBatch(s, oli, ['mkdir made', 'mkdir never']);
    expect(again.code).toBe(1);
    expect((await stat('never')).status).toBe(404);
  });

  it('scp -r: 400 small files in 20 folders up and down, byte for byte', async () => {
    const files: Record<string, Buffer> = {};
    for (let d = 0; d < 20; d++) for (let f = 0; f < 20; f++) files[`d${d}/f${f}.bin`] = randomBytes(1 + ((d * 20 + f) * 37) % 8192);
    files["d0/naïve it's #1.txt"] = Buffer.from('a nasty name');
    const src = join(s.dir, 'many');
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(join(src, rel, '..'), { recursive: true });
      await writeFile(join(src, rel), data);
    }
    const up = await scp(s, oli, ['-r', 'many', 'remote:many']);
    expect(up.code, up.stderr).toBe(0);
    const listed = (await (await s.t.api('/api/v1/list/users/oli/many/d7')).json()) as { entries: unknown[] };
    expect(listed.entries.length).toBe(20);
    for (const rel of ['d0/f0.bin', 'd19/f19.bin', "d0/naïve it's #1.txt"]) {
      const res = await s.t.api(`/api/v1/files/users/oli/many/${rel.split('/').map(encodeURIComponent).join('/')}`);
      expect(Buffer.from(await res.arrayBuffer()).equals(files[rel]), rel).toBe(true);
    }
    const down = await scp(s, oli, ['-r', 'remote:many', 'many-back']);
    expect(down.code, down.stderr).toBe(0);
    expect((await readdir(join(s.dir, 'many-back'))).length).toBe(20);
    for (const [rel, data] of Object.entries(files)) expect((await readFile(join(s.dir, 'many-back', rel))).equals(data), rel).toBe(true);
  });
});
