/**
 * lftp (Debian's 4.9) over sftp:// against the SFTP front: `mirror -R` of a tree with nasty
 * names, `cls -l`, `reput` and `reget` of transfers cut short, `mv`, `rm`, `mirror` back
 * down, compared byte for byte; `mirror` both ways with `--parallel=4`, `pget -n 4` (a file
 * in four segments at once) and its `-c` (continuing a partial copy), `get -c` and `put -c`.
 * lftp runs its own SFTP client over `ssh -s sftp`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCommand } from '../helpers/local-trees.js';
import { run, sftpBatch, sshOptions, sshUser, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';

let s: SftpServer;
let lia: SshUser;

beforeAll(async () => {
  expect(ensureCommand('lftp'), 'lftp (Debian package) is needed').toBe(true);
  s = await startSftpServer();
  lia = await sshUser(s, 'lia');
});
afterAll(async () => s?.close());

const MiB = 1024 * 1024;

/** lftp with `commands` against lia's home; ssh with the suite's key and known_hosts. */
function lftp(commands: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const ssh = ['ssh', '-a', '-x', ...sshOptions(s, lia.key)].join(' ');
  const script = [`set sftp:connect-program "${ssh}"`, 'set net:max-retries 1', 'set net:timeout 30', 'set cmd:fail-exit yes', ...commands, 'quit'].join('; ');
  // `-u lia,` gives an empty password so lftp never prompts; the key logs in.
  return run('lftp', ['-u', 'lia,', '-p', String(s.port), '-e', script, 'sftp://127.0.0.1']);
}

/** Whether lia's file holds exactly `data` (read over the native API), else its status. */
async function stored(path: string, data: Buffer): Promise<boolean | number> {
  const res = await s.t.api(`/api/v1/files/users/lia/${path.split('/').map(encodeURIComponent).join('/')}`);
  return res.status === 200 ? Buffer.from(await res.arrayBuffer()).equals(data) : res.status;
}

/** Whether the local file holds exactly `data` (toEqual on megabytes would take minutes). */
async function holds(file: string, data: Buffer): Promise<boolean> {
  return (await readFile(file)).equals(data);
}

const TREE: Record<string, Buffer> = {
  'a.txt': Buffer.from('alpha'),
  'naïve café.txt': Buffer.from('unicode'),
  'it\'s "quoted" #1.txt': Buffer.from('quotes'),
  'sub/b.bin': randomBytes(300_000),
  'sub/deeper/c.bin': randomBytes(5 * MiB + 3),
  'sub/empty.txt': Buffer.alloc(0),
};

describe('lftp over sftp://', () => {
  it('mirrors a tree up, lists it, renames and removes, mirrors it down byte for byte', async () => {
    const src = join(s.dir, 'tree');
    for (const [rel, data] of Object.entries(TREE)) {
      await mkdir(join(src, rel, '..'), { recursive: true });
      await writeFile(join(src, rel), data);
    }
    const up = await lftp([`mirror -R ${src} tree`]);
    expect(up.code, up.stderr).toBe(0);
    for (const [rel, data] of Object.entries(TREE)) expect(await stored(`tree/${rel}`, data), rel).toBe(true);

    const listed = await lftp(['cls -l tree/sub']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/\s300000 .*b\.bin/);
    expect(listed.stdout).toMatch(/^d.*deeper\/?$/m);

    // A second mirror -R of an unchanged tree sends nothing (same sizes and times).
    const again = await lftp([`mirror -R --verbose ${src} tree`]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/Transferring file/);

    const edits = await lftp(['mv tree/a.txt tree/sub/a-moved.txt', 'rm tree/sub/empty.txt', 'mkdir tree/made', 'rmdir tree/made']);
    expect(edits.code, edits.stderr).toBe(0);
    expect(await stored('tree/a.txt', TREE['a.txt'])).toBe(404);
    expect(await stored('tree/sub/a-moved.txt', TREE['a.txt'])).toBe(true);
    expect(await stored('tree/sub/empty.txt', TREE['sub/empty.txt'])).toBe(404);

    const back = join(s.dir, 'tree-back');
    const down = await lftp([`mirror tree ${back}`]);
    expect(down.code, down.stderr).toBe(0);
    expect((await readdir(join(back, 'sub'))).sort()).toEqual(['a-moved.txt', 'b.bin', 'deeper']);
    for (const rel of ['naïve café.txt', 'it\'s "quoted" #1.txt', 'sub/b.bin', 'sub/deeper/c.bin']) expect(await holds(join(back, rel), TREE[rel]), rel).toBe(true);

    // A failing command fails the run (so the successes above are real): no such file.
    const missing = await lftp(['get tree/nothing-here.txt -o ' + join(s.dir, 'x')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/No such file/i);
  });

  it('reput finishes an upload cut short, reget a download cut short', async () => {
    const data = randomBytes(9 * MiB + 17);
    const local = join(s.dir, 'resume.bin');
    // The first 3 MiB arrived before the connection went (as an interrupted put leaves them).
    await writeFile(local, data.subarray(0, 3 * MiB));
    const first = await sftpBatch(s, lia, [`put ${local} resume.bin`]);
    expect(first.code, first.stderr).toBe(0);
    await writeFile(local, data);
    const reput = await lftp([`reput ${local} -o resume.bin`]);
    expect(reput.code, reput.stderr).toBe(0);
    expect(await stored('resume.bin', data)).toBe(true);

    const got = join(s.dir, 'resume-back.bin');
    await writeFile(got, data.subarray(0, 4 * MiB + 5));
    const reget = await lftp([`reget resume.bin -o ${got}`]);
    expect(reget.code, reget.stderr).toBe(0);
    expect(await holds(got, data)).toBe(true);

    // reget of a local copy that is already whole leaves it as it is
    const whole = await lftp([`reget resume.bin -o ${got}`]);
    expect(whole.code, whole.stderr).toBe(0);
    expect(await holds(got, data)).toBe(true);
  });

  it('mirror --parallel=4 both ways, pget -n 4 and its -c, get -c, put -c', async () => {
    const src = join(s.dir, 'par');
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 12; i++) files[`f${i}.bin`] = randomBytes(50_000 * (i + 1));
    files['sub/big.bin'] = randomBytes(12 * MiB + 5);
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(join(src, rel, '..'), { recursive: true });
      await writeFile(join(src, rel), data);
    }
    const up = await lftp([`mirror -R --parallel=4 ${src} par`]);
    expect(up.code, up.stderr).toBe(0);
    for (const [rel, data] of Object.entries(files)) expect(await stored(`par/${rel}`, data), rel).toBe(true);
    const back = join(s.dir, 'par-back');
    const down = await lftp([`mirror --parallel=4 par ${back}`]);
    expect(down.code, down.stderr).toBe(0);
    for (const [rel, data] of Object.entries(files)) expect(await holds(join(back, rel), data), rel).toBe(true);

    const big = files['sub/big.bin'];
    const seg = join(s.dir, 'seg.bin');
    const pget = await lftp([`pget -n 4 par/sub/big.bin -o ${seg}`]);
    expect(pget.code, pget.stderr).toBe(0);
    expect(await holds(seg, big)).toBe(true);
    // -c: a partial copy (as a pget cut short leaves one) is finished, not fetched again.
    await writeFile(seg, big.subarray(0, 5 * MiB));
    const cont = await lftp([`pget -n 4 -c par/sub/big.bin -o ${seg}`]);
    expect(cont.code, cont.stderr).toBe(0);
    expect(await holds(seg, big)).toBe(true);
    await writeFile(seg, big.subarray(0, 3 * MiB + 1));
    const getc = await lftp([`get -c par/sub/big.bin -o ${seg}`]);
    expect(getc.code, getc.stderr).toBe(0);
    expect(await holds(seg, big)).toBe(true);
    // put -c: the server holds the first 4 MiB (an upload cut short); put -c finishes it.
    await writeFile(seg, big.subarray(0, 4 * MiB));
    const first = await lftp([`put ${seg} -o par/put-c.bin`]);
    expect(first.code, first.stderr).toBe(0);
    const putc = await lftp([`put -c ${join(src, 'sub/big.bin')} -o par/put-c.bin`]);
    expect(putc.code, putc.stderr).toBe(0);
    expect(await stored('par/put-c.bin', big)).toBe(true);
  });
});
