/**
 * lftp (Debian's 4.9) over http:// on the WebDAV share, as people mirror with it: `mirror -R`
 * of a tree with nasty names (with `-p`: HTTP has no chmod), a second mirror sending nothing,
 * `cls -l`, `mv`, `rm`, `mkdir`, `rmdir`, `mirror` back down byte for byte; `reget` of a cut
 * download; `reput`, which sends only the rest of a file with a `Range` header, refused
 * rather than stored as the whole file. (lftp's `set http:use-propfind yes` is left off, its
 * default: Debian's lftp is built without expat and cannot read a PROPFIND answer, and its
 * PROPPATCH sends the Authorization header after the body, an lftp 4.9 bug, and gets 401.)
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dav } from '../helpers/dav.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { addUser } from '../helpers/users.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
let t: TestServer;
let dir: string;

beforeAll(async () => {
  expect(ensureCommand('lftp'), 'lftp (Debian package) is needed').toBe(true);
  t = await startTestServer();
  await addUser(t, 'liv', { password: 'liv-password-1' });
  dir = await mkdtemp(join(tmpdir(), 'ferry-lftp-mirror-'));
});
afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

/** lftp with `commands` against liv's share (lftp's default: listings from the HTML index). */
function lftp(commands: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = ['set net:max-retries 1', 'set net:timeout 30', 'set cmd:fail-exit yes', ...commands, 'quit'].join('; ');
  return run('lftp', ['-u', 'liv,liv-password-1', '-e', script, `${t.url}/dav/`], { timeout: 60_000 }).then(
    (r) => ({ code: 0, ...r }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
  );
}

async function stored(path: string, data: Buffer): Promise<boolean | number> {
  const res = await dav(t.url, 'GET', `/dav/${path.split('/').map(encodeURIComponent).join('/')}`, { auth: basic('liv', 'liv-password-1') });
  return res.status === 200 ? Buffer.from(res.body).equals(data) : res.status;
}

describe('lftp over http:// on /dav/', () => {
  const TREE: Record<string, Buffer> = {
    'a.txt': Buffer.from('alpha'),
    'naïve café.txt': Buffer.from('unicode'),
    'it\'s "quoted" #1.txt': Buffer.from('quotes'),
    'sub/b.bin': randomBytes(300_000),
    'sub/deeper/c.bin': randomBytes(5 * MiB + 3),
    'sub/empty.txt': Buffer.alloc(0),
  };

  it('mirrors a tree up (-p: HTTP has no chmod), lists, renames, removes, mirrors it down byte for byte', async () => {
    const src = join(dir, 'tree');
    for (const [rel, data] of Object.entries(TREE)) {
      await mkdir(join(src, rel, '..'), { recursive: true });
      await writeFile(join(src, rel), data);
    }
    const up = await lftp([`mirror -R -p ${src} tree`]);
    expect(up.code, up.stderr).toBe(0);
    for (const [rel, data] of Object.entries(TREE)) expect(await stored(`tree/${rel}`, data), rel).toBe(true);
    // A second mirror of the unchanged tree sends nothing (sizes and times from the index).
    const again = await lftp([`mirror -R -p --verbose ${src} tree`]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/Transferring file/);
    const listed = await lftp(['cls -l tree/sub']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^\s*300000 .*tree\/sub\/b\.bin$/m);

    const edits = await lftp(['mv tree/a.txt tree/sub/a-moved.txt', 'rm tree/sub/empty.txt', 'mkdir tree/made', 'rmdir tree/made']);
    expect(edits.code, edits.stderr).toBe(0);
    expect(await stored('tree/a.txt', TREE['a.txt'])).toBe(404);
    expect(await stored('tree/sub/a-moved.txt', TREE['a.txt'])).toBe(true);
    expect(await stored('tree/sub/empty.txt', TREE['sub/empty.txt'])).toBe(404);

    const back = join(dir, 'tree-back');
    const down = await lftp([`mirror tree ${back}`]);
    expect(down.code, down.stderr).toBe(0);
    expect((await readdir(join(back, 'sub'))).sort()).toEqual(['a-moved.txt', 'b.bin', 'deeper']);
    for (const rel of ['naïve café.txt', 'it\'s "quoted" #1.txt', 'sub/b.bin', 'sub/deeper/c.bin']) expect((await readFile(join(back, rel))).equals(TREE[rel]), rel).toBe(true);
  });

  it('reget finishes a download (Range); reput, which sends only the rest, is refused and the file kept whole', async () => {
    const data = randomBytes(6 * MiB + 1);
    const local = join(dir, 'resume.bin');
    await writeFile(local, data);
    expect((await lftp([`put ${local} -o resume.bin`])).code).toBe(0);
    await writeFile(local, data.subarray(0, 2 * MiB + 7));
    const reget = await lftp([`reget resume.bin -o ${local}`]);
    expect(reget.code, reget.stderr).toBe(0);
    expect((await readFile(local)).equals(data)).toBe(true);

    // On the server only the first 1 MiB (an upload cut short, as a shorter file), then reput:
    // lftp sends the rest with `Range: bytes=1048576-…`, which must not become the whole file.
    const head = data.subarray(0, MiB);
    expect((await dav(t.url, 'PUT', '/dav/resume.bin', { auth: basic('liv', 'liv-password-1'), body: head })).status).toBe(204);
    const reput = await lftp([`reput ${local} -o resume.bin`]);
    expect(reput.code).not.toBe(0);
    expect(reput.stderr).toMatch(/400|partial update/);
    expect(await stored('resume.bin', head)).toBe(true);
    // What works instead: put the whole file again.
    expect((await lftp([`put ${local} -o resume.bin`])).code).toBe(0);
    expect(await stored('resume.bin', data)).toBe(true);
  });
});
