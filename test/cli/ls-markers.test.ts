/**
 * Ferry's own marker files (`.ferry-e2e`: the root's key marker made by the first
 * `put --encrypt`, a vault's made by `mkdir --e2e`) are not the user's files: `ferry ls`
 * leaves them out unless `-a`, `--json` keeps them with `"marker": true`, and naming one
 * shows it. (A listing decrypted with the passphrase leaves them out in any case, as before.)
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
const env = { FERRY_E2E_PASSPHRASE: 'a passphrase for the markers test, long enough' };
const ferry = (args: string[]) => w.ferry(args, { env });
/** ls without the passphrase: a plain listing (with it, names are decrypted and markers left out, -a or not). */
const ls = (args: string[]) => w.ferry(['ls', ...args]);
const lines = async (args: string[]) => ok(await ls(args)).stdout.trim().split('\n');

beforeAll(async () => {
  w = await startWorld();
  await writeFile(join(w.dir, 'plain.txt'), 'plain\n');
  ok(await ferry(['put', join(w.dir, 'plain.txt'), '/plain.txt']));
  ok(await ferry(['put', '--encrypt', join(w.dir, 'plain.txt'), '/secret.txt']));
  ok(await ferry(['mkdir', '--e2e', '/vault']));
});
afterAll(async () => {
  await w?.close();
});

describe('ls and Ferry\'s marker files', () => {
  it('ls and ls -l / -R leave the markers out; -a lists them', async () => {
    const plain = await lines(['/']);
    expect(plain).toEqual(expect.arrayContaining(['plain.txt', 'vault/']));
    expect(plain).not.toContain('.ferry-e2e');
    expect((await lines(['-l', '/'])).some((l) => l.endsWith('.ferry-e2e'))).toBe(false);
    expect(await lines(['-R', '/'])).not.toEqual(expect.arrayContaining([expect.stringContaining('.ferry-e2e')]));
    expect(await lines(['-a', '/'])).toContain('.ferry-e2e');
    expect(await lines(['-a', '-R', '/'])).toEqual(expect.arrayContaining(['.ferry-e2e', 'vault/.ferry-e2e']));
    // Named, a marker is shown, as ls(1) shows a dot file it is given.
    expect(await lines(['/.ferry-e2e'])).toEqual(['.ferry-e2e']);
  });

  it('--json lists them, flagged "marker": true, and only them', async () => {
    const entries = JSON.parse(ok(await ls(['-R', '--json', '/'])).stdout) as { path: string; marker?: boolean }[];
    const flagged = entries.filter((e) => e.marker === true).map((e) => e.path);
    expect(flagged.sort()).toEqual(['/.ferry-e2e', '/vault/.ferry-e2e']);
    expect(entries.filter((e) => e.marker === undefined).map((e) => e.path)).toContain('/plain.txt');
  });

  it("ls says which names are put --encrypt files shown as stored, and shows their plain names with the key", async () => {
    const bare = ok(await ls(['/']));
    const stored = bare.stdout.trim().split('\n').filter((n) => n.endsWith('.fe2e'));
    expect(stored).toHaveLength(1);
    expect(bare.stderr).toBe('ferry: 1 name is end-to-end encrypted (put --encrypt), shown as stored: give --passphrase-file FILE or FERRY_E2E_PASSPHRASE to see it\n');
    const listed = ok(await ls(['--json', '/']));
    expect(listed.stderr).toBe(''); // the entries say it
    const entries = JSON.parse(listed.stdout) as { name: string; encrypted?: boolean }[];
    expect(entries.filter((e) => e.encrypted === true).map((e) => e.name)).toEqual(stored);
    const keyed = ok(await ferry(['ls', '/']));
    expect(keyed.stdout.trim().split('\n')).toEqual(expect.arrayContaining(['plain.txt', 'secret.txt']));
    expect(keyed.stdout).not.toContain('.fe2e');
    expect(keyed.stderr).toBe('');
    // A folder without such files: no note.
    expect(ok(await ls(['/vault'])).stderr).not.toContain('end-to-end encrypted (put --encrypt)');
  });

  it('get -r / leaves the markers out of the copy, and warns of the encrypted files it writes as stored', async () => {
    const dest = join(w.dir, 'copy-of-root');
    const r = ok(await w.ferry(['get', '-r', '/', dest + '/']));
    const names = await readdir(dest);
    expect(names).not.toContain('.ferry-e2e');
    expect(names).toContain('plain.txt');
    expect(names.filter((n) => n.endsWith('.fe2e'))).toHaveLength(1);
    expect(await readdir(join(dest, 'vault')).catch(() => [])).not.toContain('.ferry-e2e');
    expect(r.stderr).toContain('ferry: warning: 1 file below / is end-to-end encrypted (put --encrypt; names ending .fe2e): written as stored');
    expect(ok(await w.ferry(['get', '-r', '-q', '/', join(w.dir, 'quiet-copy') + '/'])).stderr).toBe('');
  });

  it('get -r / with the key fetches the put --encrypt files decrypted, under their plain names', async () => {
    const dest = join(w.dir, 'keyed-copy');
    const r = ok(await ferry(['get', '-r', '/', dest + '/']));
    const names = await readdir(dest);
    expect(names.sort()).toEqual(['plain.txt', 'secret.txt', 'vault']);
    expect(await readFile(join(dest, 'secret.txt'), 'utf8')).toBe('plain\n');
    expect(r.stderr).not.toContain('warning');
    expect(r.stderr).toMatch(/^got 2 files, /m);
  });
});
