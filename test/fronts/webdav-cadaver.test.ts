/**
 * cadaver (Debian's 0.24, on neon) as a WebDAV shell on /dav/: mkcol, put and mput, ls,
 * move, copy, lock (a locked file refuses other writers, takes cadaver's own with its token),
 * unlock, steal (taking over another session's lock to unlock it), propset and propget of a dead property, get compared byte for byte, delete, rmcol.
 * Started at the server's root (`cadaver http://host/`) it finds the share there.
 * cadaver exits 0 whatever happens, so each command's `succeeded.` / `failed:` is checked.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dav } from '../helpers/dav.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { collect } from '../helpers/sftp.js';
import { addUser } from '../helpers/users.js';

let t: TestServer;
let dir: string;
const CAL = basic('cal', 'cal-password-1');

beforeAll(async () => {
  expect(ensureCommand('cadaver'), 'cadaver (Debian package) is needed').toBe(true);
  t = await startTestServer();
  await addUser(t, 'cal', { password: 'cal-password-1' });
  dir = await mkdtemp(join(tmpdir(), 'ferry-cadaver-'));
  // cadaver takes the password from ~/.netrc (it would prompt otherwise)
  await mkdir(join(dir, 'home'));
  await writeFile(join(dir, 'home', '.netrc'), 'machine 127.0.0.1\nlogin cal\npassword cal-password-1\n', { mode: 0o600 });
});
afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs cadaver on `commands`; returns each command's output, by the command line. */
async function cadaver(commands: string[], start = '/dav/'): Promise<string[]> {
  const child = spawn('cadaver', [`${t.url}${start}`], { cwd: dir, env: { ...process.env, HOME: join(dir, 'home') }, stdio: ['pipe', 'pipe', 'pipe'] });
  const r = await collect(child, [...commands, 'quit'].join('\n') + '\n');
  expect(r.code, r.stderr).toBe(0);
  // Each answer follows the prompt `dav:/dav/...> ` (`dav:/> ` at the root) that echoes the command.
  return r.stdout.split(/dav:\/[^>]*> /).slice(1, commands.length + 1);
}

describe('cadaver against /dav/', () => {
  it('makes, uploads, lists, moves, copies, locks, sets properties, downloads and deletes', async () => {
    const b = randomBytes(300_000);
    const c = randomBytes(5 * 1024 * 1024 + 3);
    await writeFile(join(dir, 'b.bin'), b);
    await writeFile(join(dir, 'c.bin'), c);
    const out = await cadaver(['mkcol cad', 'cd cad', 'put b.bin', 'mput c.bin', 'ls', 'move b.bin b2.bin', 'copy c.bin c2.bin', 'lock c2.bin']);
    for (const [i, answer] of out.entries()) if (i !== 1 && i !== 4) expect(answer, answer).toMatch(/succeeded\.\s*$/);
    expect(out[4]).toMatch(/b\.bin\s+300000 /);
    expect(out[4]).toMatch(/c\.bin\s+5242883 /);
    expect(Buffer.from((await dav(t.url, 'GET', '/dav/cad/b2.bin', { auth: CAL })).body).equals(b)).toBe(true);
    expect(Buffer.from((await dav(t.url, 'GET', '/dav/cad/c2.bin', { auth: CAL })).body).equals(c)).toBe(true);
    // cadaver's lock is gone with its process: that one lasts until it times out, and refuses
    // a writer without its token.
    expect((await dav(t.url, 'PUT', '/dav/cad/c2.bin', { auth: CAL, body: 'other' })).status).toBe(423);

    // In one session: its own writes carry the token; after unlock anyone may write.
    const locked = await cadaver(['cd cad', 'lock b2.bin', 'put c.bin b2.bin', 'unlock b2.bin', 'propset b2.bin colour blue', 'propget b2.bin colour', 'get b2.bin back.bin', 'get nothing.bin x.bin']);
    expect(locked[1]).toMatch(/succeeded\./);
    expect(locked[2]).toMatch(/succeeded\./);
    expect(locked[3]).toMatch(/succeeded\./);
    expect(locked[4]).toMatch(/succeeded\./);
    expect(locked[5]).toMatch(/blue/);
    expect(locked[6]).toMatch(/succeeded\./);
    expect((await readFile(join(dir, 'back.bin'))).equals(c)).toBe(true);
    expect(locked[7]).toMatch(/failed:[\s\S]*404/);
    expect((await dav(t.url, 'PUT', '/dav/cad/b2.bin', { auth: CAL, body: 'other' })).status).toBe(204);

    // The collection holds the file the first session locked: rmcol is refused until
    // cadaver's `steal` (lock discovery: the token becomes this session's) and `unlock` remove it.
    const gone = await cadaver(['cd cad', 'delete b2.bin', 'rmcol /dav/cad', 'steal c2.bin', 'unlock c2.bin', 'rmcol /dav/cad']);
    expect(gone[1]).toMatch(/succeeded\./);
    expect(gone[2]).toMatch(/failed:\s*423 Locked/);
    expect(gone[3]).toMatch(/c2\.bin: <urn:uuid:[0-9a-f-]+>/);
    expect(gone[4]).toMatch(/succeeded\./);
    expect(gone[5]).toMatch(/succeeded\./);
    expect((await dav(t.url, 'PROPFIND', '/dav/cad/', { auth: CAL, headers: { depth: '0' } })).status).toBe(404);
  });

  it('started at the server\'s root (http://host/), lists the share there and goes into it', async () => {
    expect((await dav(t.url, 'PUT', '/dav/at-root.txt', { auth: CAL, body: 'found from the root' })).status).toBe(201);
    const out = await cadaver(['ls', 'cd dav', 'ls', 'get at-root.txt from-root.txt'], '/');
    expect(out[0]).toMatch(/succeeded\./);
    expect(out[0]).toMatch(/Coll:\s+dav\s/);
    expect(out[2]).toMatch(/at-root\.txt\s+19 /);
    expect(out[3]).toMatch(/succeeded\./);
    expect(await readFile(join(dir, 'from-root.txt'), 'utf8')).toBe('found from the root');
    // Without credentials the root asks for them, as the share does.
    const anonymous = await dav(t.url, 'PROPFIND', '/', { headers: { depth: '1' } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic /);
    expect((await dav(t.url, 'PROPFIND', '/', { auth: CAL, headers: { depth: 'infinity' } })).status).toBe(403);
  });
});
