/**
 * OpenSSH's clients as scripts use them, beyond sftp-transfer.test.ts: `ssh user@host`
 * (no shell: a message saying what to use, exit status 1), `sftp -b` batches where a `-`
 * prefix lets a failing command pass and an unprefixed failure stops the batch,
 * `scp -r` of a tree of 400 small files up and down, byte for byte, `reget` and `get -a`
 * finishing cut-short downloads from where they stopped, `scp -3` between two paths of the
 * server, and rsync over ssh refused with the reason on the user's terminal.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
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

  it('reget and get -a go on from the local file\'s size: the bytes already there stay, the rest comes from the server', async () => {
    const remote = randomBytes(3 * 1024 * 1024 + 17);
    expect((await s.t.api('/api/v1/files/users/oli/resume.bin', { method: 'PUT', body: remote })).status).toBe(201);
    // Local prefixes that differ from the server's bytes: a client that downloaded again
    // from 0 would overwrite them, one that resumed keeps them.
    const mine = (n: number) => Buffer.alloc(n, 0x5a);
    await writeFile(join(s.dir, 'reget.bin'), mine(1_000_000));
    await writeFile(join(s.dir, 'get-a.bin'), mine(2_500_000));
    const r = await sftpBatch(s, oli, ['reget resume.bin reget.bin', 'get -a resume.bin get-a.bin']);
    expect(r.code, r.stderr).toBe(0);
    expect((await readFile(join(s.dir, 'reget.bin'))).equals(Buffer.concat([mine(1_000_000), remote.subarray(1_000_000)]))).toBe(true);
    expect((await readFile(join(s.dir, 'get-a.bin'))).equals(Buffer.concat([mine(2_500_000), remote.subarray(2_500_000)]))).toBe(true);
  });

  it('scp -3 copies a file between two paths of the server through the client', async () => {
    const data = randomBytes(1024 * 1024 + 3);
    expect((await s.t.api('/api/v1/files/users/oli/three/from.bin', { method: 'PUT', body: data })).status).toBe(201);
    const r = await scp(s, oli, ['-3', 'remote:three/from.bin', 'remote:three/to.bin']);
    expect(r.code, r.stderr).toBe(0);
    const res = await s.t.api('/api/v1/files/users/oli/three/to.bin');
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
  });

  it('rsync over ssh is refused: rsync exits non-zero with the server\'s reason on its stderr, and nothing is written', async () => {
    expect(existsSync('/usr/bin/rsync'), 'rsync (Debian package) is needed').toBe(true);
    await mkdir(join(s.dir, 'rs'), { recursive: true });
    await writeFile(join(s.dir, 'rs', 'a.txt'), 'a');
    const ssh = ['ssh', ...sshOptions(s, oli.key), '-p', String(s.port)].join(' ');
    const r = await run('rsync', ['-a', '-e', ssh, 'rs/', 'oli@127.0.0.1:rs/'], { cwd: s.dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/This server runs no commands \(asked for: rsync --server [^)]*\)\.\r?\nFerry serves files over SFTP only: use sftp, scp/);
    expect((await stat('rs')).status).toBe(404);
  });
});
