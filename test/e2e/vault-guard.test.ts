/**
 * The server's vault guard (issue 18): a plain file or a plain name written into an
 * end-to-end folder is refused with FERRY_ERR_E2E_PLAIN_IN_VAULT by every front, with the
 * real clients (the ferry CLI's put and sync over the API, curl over WebDAV, OpenSSH's sftp
 * and scp, tus-js-client), and nothing is stored; `ferry put --encrypt` into the vault still
 * works. The marker cannot be forged, replaced or taken out of a vault that holds files.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseName } from '../../src/core/path.js';
import type { Entry } from '../../src/core/protocol.js';
import { runFerry, type CliResult } from '../helpers/cli.js';
import { scp, sftpBatch, sshUser, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';
import { uploadBuffer } from '../helpers/in-process-server.js';
import { tokenFor } from '../helpers/users.js';

const CODE = 'FERRY_ERR_E2E_PLAIN_IN_VAULT';
/** A name shaped like an encrypted one (base64url and the suffix), for plain bytes. */
const FAKE = 'A'.repeat(40) + '.fe2e';
let s: SftpServer;
let alice: SshUser;
let token: string;
let env: Record<string, string>;
let keyFile: string;
const ferry = (args: string[], input?: Buffer): Promise<CliResult> => runFerry(args, { env, ...(input ? { input } : {}) });

/** The names in one of alice's folders, through the API. */
async function names(dir: string): Promise<string[]> {
  const r = await s.t.api(`/api/v1/list${dir === '/' ? '' : dir}`, { token });
  expect(r.status, dir).toBe(200);
  const body = (await r.json()) as { entries: Entry[] };
  return body.entries.map((e) => e.name).sort();
}

function curl(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn('curl', ['-sS', '-H', `authorization: Bearer ${token}`, '-w', '\n%{http_code}', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    c.once('error', reject);
    c.once('close', (code) => resolve({ code, out }));
  });
}
const davUrl = (p: string): string => `${s.t.url}/dav${p}`;

beforeAll(async () => {
  s = await startSftpServer();
  alice = await sshUser(s, 'alice');
  token = (await tokenFor(s.t, 'alice')).token;
  env = { FERRY_CONFIG: join(s.dir, 'cfg', 'config.json'), XDG_CONFIG_HOME: join(s.dir, 'xdg'), HOME: s.dir, FERRY_SERVER: s.t.url, FERRY_TOKEN: token };
  keyFile = join(s.dir, 'e2e.key');
  expect((await ferry(['admin', 'keygen', keyFile])).code).toBe(0);
  await writeFile(join(s.dir, 'plain.txt'), 'PLAIN-VAULT-GUARD-MARKER\n');
  await writeFile(join(s.dir, 'secret.txt'), 'a secret for the vault\n');
  const mk = await ferry(['mkdir', '--e2e', '/vault', '--e2e-key-file', keyFile]);
  expect(mk.code, mk.stderr).toBe(0);
}, 120_000);
afterAll(async () => {
  await s?.close();
});

describe('the vault guard refuses plain writes into an end-to-end folder, whatever the front', () => {
  it('ferry put --encrypt into the vault works', async () => {
    const put = await ferry(['put', join(s.dir, 'secret.txt'), '/vault/', '--e2e-key-file', keyFile]);
    expect(put.code, put.stderr).toBe(0);
    const get = await ferry(['get', '/vault/secret.txt', '-', '--e2e-key-file', keyFile]);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe('a secret for the vault\n');
  });

  it('the HTTP API (a one-request PUT, an upload session) refuses a plain file with 409 and the code; nothing is stored', async () => {
    const before = await names('/vault');
    const raw = await s.t.api('/api/v1/files/vault/raw.txt', { method: 'PUT', body: 'PLAIN', token });
    expect(raw.status).toBe(409);
    const body = (await raw.json()) as { error: { code: string; message: string; details: { vault: string } } };
    expect(body.error.code).toBe(CODE);
    // Words for every front (a WebDAV or SFTP user has no `ferry put`): what is needed, no command.
    expect(body.error.message).toMatch(/end-to-end encrypted folder.*encrypted with its key go in it: send them through a Ferry client that holds the key/);
    expect(body.error.message).not.toMatch(/ferry \w/);
    expect(body.error.details.vault).toBe('/vault'); // the user's path, not the server's
    // an encrypted-looking name does not help: the bytes must be an end-to-end file's
    const named = await uploadBuffer(s.t, `/vault/${FAKE}`, Buffer.from('PLAIN but well named'), 1024, { token });
    expect(named.status).toBe(409);
    expect(((await named.json()) as { error: { code: string } }).error.code).toBe(CODE);
    expect(await names('/vault')).toEqual(before);
  });

  it('ferry sync of a plain folder into the vault fails with the code (exit 1: files failed) and stores nothing', async () => {
    const src = join(s.dir, 'tree');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub', 'a.txt'), 'PLAIN-VAULT-GUARD-MARKER\n');
    const before = await names('/vault');
    const r = await ferry(['sync', src, 'ferry:/vault']);
    expect(r.code).toBe(1); // sync's exit when files failed
    // Refused by the CLI before any request names it (the server's guard would refuse it too, having seen the name).
    expect(r.stderr).toMatch(/\/vault\/sub\S* lies in the end-to-end folder \/vault, whose names are encrypted/);
    expect(r.stderr).toMatch(/kept 1 end-to-end marker/); // nor the marker, which the source lacks
    expect(await names('/vault')).toEqual(before);
  });

  it('WebDAV (curl): PUT, MKCOL, MOVE and COPY of plain things into the vault are 409 with the code', async () => {
    const before = await names('/vault');
    const put = await curl(['-T', join(s.dir, 'plain.txt'), davUrl('/vault/plain.txt')]);
    expect(put.out).toMatch(/409$/);
    expect(put.out).toContain(CODE);
    const mkcol = await curl(['-X', 'MKCOL', davUrl('/vault/folder')]);
    expect(mkcol.out).toMatch(/409$/);
    expect((await curl(['-T', join(s.dir, 'plain.txt'), davUrl('/outside.txt')])).out).toMatch(/20[14]$/);
    const move = await curl(['-X', 'MOVE', '-H', `destination: ${davUrl('/vault/' + FAKE)}`, davUrl('/outside.txt')]);
    expect(move.out).toMatch(/409$/);
    const copy = await curl(['-X', 'COPY', '-H', `destination: ${davUrl('/vault/' + FAKE)}`, davUrl('/outside.txt')]);
    expect(copy.out).toMatch(/409$/);
    expect(await names('/vault')).toEqual(before);
    expect(await names('/')).toContain('outside.txt');
  });

  it('SFTP (OpenSSH sftp and scp): a put, a mkdir and a rename into the vault are refused with permission denied', async () => {
    const before = await names('/vault');
    const put = await sftpBatch(s, alice, ['put plain.txt /vault/plain.txt']);
    expect(put.code).not.toBe(0);
    expect(put.stderr).toMatch(/ermission denied/);
    const mk = await sftpBatch(s, alice, ['mkdir /vault/folder']);
    expect(mk.code).not.toBe(0);
    const mv = await sftpBatch(s, alice, ['rename /outside.txt /vault/' + FAKE]);
    expect(mv.code).not.toBe(0);
    const sc = await scp(s, alice, [join(s.dir, 'plain.txt'), 'remote:/vault/scp.txt']);
    expect(sc.code).not.toBe(0);
    expect(await names('/vault')).toEqual(before);
    // the same client still writes outside the vault
    expect((await sftpBatch(s, alice, ['put plain.txt /sftp-outside.txt'])).code).toBe(0);
  });

  it('tus (tus-js-client): an upload whose path is in the vault fails with a 409 and the code', async () => {
    const before = await names('/vault');
    const err = await new Promise<Error>((resolve, reject) => {
      const up = new tus.Upload(Buffer.from('PLAIN-VAULT-GUARD-MARKER'), {
        endpoint: `${s.t.url}/api/v1/tus/`,
        headers: { authorization: `Bearer ${token}` },
        retryDelays: null,
        metadata: { filename: 'tus.txt', path: '/vault' },
        onError: resolve,
        onSuccess: () => reject(new Error('the upload went through')),
      });
      up.start();
    });
    const res = (err as tus.DetailedError).originalResponse;
    expect(res?.getStatus()).toBe(409);
    expect(res?.getBody()).toContain(CODE);
    expect(await names('/vault')).toEqual(before);
  });
});

describe('moves in a vault need the key: fronts that cannot encrypt names are refused (FERRY_ERR_E2E_NEEDS_KEY)', () => {
  const NEEDS_KEY = 'FERRY_ERR_E2E_NEEDS_KEY';
  /** The stored names of /vault's folders, after putting a small tree with the CLI. */
  let folders: string[];
  const tree = async (dir: string): Promise<string[]> => {
    const r = await s.t.api(`/api/v1/list${dir}?recursive=true`, { token });
    return ((await r.json()) as { entries: Entry[] }).entries.map((e) => e.path).sort();
  };

  beforeAll(async () => {
    const src = join(s.dir, 'movetree');
    for (const d of ['one/inner', 'two']) await mkdir(join(src, d), { recursive: true });
    await writeFile(join(src, 'one', 'inner', 'f.txt'), 'in a folder of the vault\n');
    await writeFile(join(src, 'two', 'g.txt'), 'another\n');
    const put = await ferry(['put', '-r', src, '/vault/mt', '--e2e-key-file', keyFile]);
    expect(put.code, put.stderr).toBe(0);
    const mt = (await s.t.api('/api/v1/list/vault', { token }).then((r) => r.json()) as { entries: Entry[] }).entries.filter((e) => e.type === 'dir');
    expect(mt.length).toBe(1);
    const inMt = (await s.t.api(`/api/v1/list${mt[0].path}`, { token }).then((r) => r.json()) as { entries: Entry[] }).entries;
    folders = inMt.filter((e) => e.type === 'dir').map((e) => e.path);
    expect(folders.length).toBe(2);
  }, 60_000);

  it('WebDAV: MOVE and COPY of a folder or a file in the vault are 409 with the code and a message that names no CLI command; MOVE over an existing folder deletes nothing', async () => {
    const before = await tree('/vault');
    const [a, b] = folders;
    const inA = before.find((p) => p.startsWith(a + '/'))!;
    const move = await curl(['-X', 'MOVE', '-H', `destination: ${davUrl(b + '/' + baseName(a))}`, davUrl(a)]);
    expect(move.out).toMatch(/409$/);
    expect(move.out).toContain(NEEDS_KEY);
    expect(move.out).toContain('move or copy it through a Ferry client that holds the key');
    expect(move.out).not.toMatch(/ferry \w/);
    // Overwrite: T onto the other folder: refused before the destination is cleared.
    const over = await curl(['-X', 'MOVE', '-H', `destination: ${davUrl(b)}`, davUrl(a)]);
    expect(over.out).toMatch(/409$/);
    expect(over.out).toContain(NEEDS_KEY);
    const copy = await curl(['-X', 'COPY', '-H', `destination: ${davUrl(b + '/' + baseName(a))}`, davUrl(a)]);
    expect(copy.out).toMatch(/409$/);
    const shallow = await curl(['-X', 'COPY', '-H', 'depth: 0', '-H', `destination: ${davUrl(b + '/' + baseName(a))}`, davUrl(a)]);
    expect(shallow.out).toMatch(/409$/);
    expect(shallow.out).toContain(NEEDS_KEY);
    const file = await curl(['-X', 'MOVE', '-H', `destination: ${davUrl(b + '/' + baseName(inA))}`, davUrl(inA)]);
    expect(file.out).toMatch(/409$/);
    expect(file.out).toContain(NEEDS_KEY);
    // The whole vault holds files: its names are encrypted with its path.
    const whole = await curl(['-X', 'MOVE', '-H', `destination: ${davUrl('/vault-elsewhere')}`, davUrl('/vault')]);
    expect(whole.out).toMatch(/409$/);
    expect(whole.out).toContain(NEEDS_KEY);
    expect(await tree('/vault')).toEqual(before);
    // A vault with nothing in it but its marker has no names to strand: it moves.
    expect((await ferry(['mkdir', '--e2e', '/emptyv', '--e2e-key-file', keyFile])).code).toBe(0);
    const empty = await curl(['-X', 'MOVE', '-H', `destination: ${davUrl('/emptyv2')}`, davUrl('/emptyv')]);
    expect(empty.out).toMatch(/201$/);
    expect(await names('/emptyv2')).toEqual(['.ferry-e2e']);
  });

  it('SFTP (OpenSSH sftp): renaming a folder in the vault, or the vault, is refused with permission denied and the message', async () => {
    const before = await tree('/vault');
    const [a, b] = folders;
    const mv = await sftpBatch(s, alice, [`rename ${a} ${b}/${baseName(a)}`]);
    expect(mv.code).not.toBe(0);
    expect(mv.stderr).toMatch(/ermission denied/);
    const whole = await sftpBatch(s, alice, ['rename /vault /vault-elsewhere']);
    expect(whole.code).not.toBe(0);
    expect(await tree('/vault')).toEqual(before);
  });

  it('the HTTP API without reencrypt is refused the same way; ferry mv with the key moves the folder and its file is read back', async () => {
    const [a, b] = folders;
    const api = await s.t.api('/api/v1/move', { method: 'POST', token, json: { from: a, to: b + '/' + baseName(a) } });
    expect(api.status).toBe(409);
    expect(((await api.json()) as { error: { code: string; details: { vault: string; reason: string } } }).error).toMatchObject({ code: NEEDS_KEY, details: { vault: '/vault', reason: 'rename' } });
    const mv = await ferry(['mv', '/vault/mt/one', '/vault/mt/two/', '--e2e-key-file', keyFile]);
    expect(mv.code, mv.stderr).toBe(0);
    const get = await ferry(['get', '/vault/mt/two/one/inner/f.txt', '-', '--e2e-key-file', keyFile]);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe('in a folder of the vault\n');
  });
});

describe('ferry sync and a vault', () => {
  it('from an empty folder: the files go, the marker stays (the folder is still a vault), with a note', async () => {
    expect((await ferry(['mkdir', '--e2e', '/syncv', '--e2e-key-file', keyFile])).code).toBe(0);
    const put = await ferry(['put', join(s.dir, 'secret.txt'), '/syncv/', '--e2e-key-file', keyFile]);
    expect(put.code, put.stderr).toBe(0);
    expect((await names('/syncv')).length).toBe(2);
    const empty = join(s.dir, 'empty-src');
    await mkdir(empty, { recursive: true });
    const r = await ferry(['sync', empty, 'ferry:/syncv']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/kept 1 end-to-end marker \(\.ferry-e2e\)/);
    expect(await names('/syncv')).toEqual(['.ferry-e2e']);
    // Still a vault: a plain file is refused.
    const raw = await s.t.api('/api/v1/files/syncv/raw.txt', { method: 'PUT', body: 'PLAIN', token });
    expect(raw.status).toBe(409);
  });

  it('into a folder holding a vault: a plain copy of its files is refused, nothing is deleted, and sync ends', async () => {
    expect((await ferry(['mkdir', '/holder'])).code).toBe(0);
    expect((await ferry(['mkdir', '--e2e', '/holder/v', '--e2e-key-file', keyFile])).code).toBe(0);
    expect((await ferry(['put', join(s.dir, 'secret.txt'), '/holder/v/', '--e2e-key-file', keyFile])).code).toBe(0);
    const before = await names('/holder/v');
    const src = join(s.dir, 'holder-src', 'v');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'secret.txt'), 'a secret for the vault\n');
    const r = await ferry(['sync', join(s.dir, 'holder-src'), 'ferry:/holder']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/holder\/v\/secret\.txt lies in the end-to-end folder \/holder\/v, whose names are encrypted/);
    expect(r.stderr).toMatch(/not deleting/);
    expect(await names('/holder/v')).toEqual(before);
    // From an empty folder: the vault's file goes, its marker and so the vault stay.
    const r2 = await ferry(['sync', join(s.dir, 'empty-src'), 'ferry:/holder']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(await names('/holder/v')).toEqual(['.ferry-e2e']);
  });
});

describe('ferry bisync and a vault', () => {
  /** A local copy of a vault made with bisync --resync (ciphertext and the marker, as stored). */
  async function pair(vault: string): Promise<{ local: string; state: string; run: (...extra: string[]) => Promise<CliResult> }> {
    expect((await ferry(['mkdir', '--e2e', vault, '--e2e-key-file', keyFile])).code).toBe(0);
    const put = await ferry(['put', join(s.dir, 'secret.txt'), vault + '/', '--e2e-key-file', keyFile]);
    expect(put.code, put.stderr).toBe(0);
    const local = join(s.dir, 'bisync' + vault.replace(/\//g, '-'));
    const state = join(s.dir, 'bisync-state');
    const run = (...extra: string[]) => ferry(['bisync', 'ferry:' + vault, local, '--state-dir', state, ...extra]);
    const first = await run('--resync');
    expect(first.code, first.stderr).toBe(0);
    expect((await readdir(local)).sort()).toEqual(await names(vault));
    return { local, state, run };
  }

  it('a marker deleted on the local side is not deleted in the vault (a note says so); then the files go and it stays a vault', async () => {
    const { local, run } = await pair('/bisv1');
    await rm(join(local, '.ferry-e2e'));
    const r = await run();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/kept 1 end-to-end marker \(\.ferry-e2e\) deleted on path2: bisync never deletes one/);
    expect((await names('/bisv1')).length).toBe(2);
    // Every file deleted locally (over --max-delete, so --force): they go, the marker stays.
    for (const name of await readdir(local)) await rm(join(local, name));
    const r2 = await run('--force');
    expect(r2.code, r2.stderr).toBe(0);
    expect(await names('/bisv1')).toEqual(['.ferry-e2e']);
    const raw = await s.t.api('/api/v1/files/bisv1/raw.txt', { method: 'PUT', body: 'PLAIN', token });
    expect(raw.status).toBe(409);
    // And a run after that changes nothing (the kept marker is no change to carry over).
    const r3 = await run('--json');
    expect(r3.code, r3.stderr).toBe(0);
    expect(JSON.parse(r3.stdout)).toMatchObject({ deleted1: 0, deleted2: 0, copied1to2: 0, copied2to1: 0, errors: [] });
  });

  it('a marker gone from the vault side is not deleted from the local copy, with the note', async () => {
    const { local, run } = await pair('/bisv2');
    const file = (await names('/bisv2')).find((n) => n !== '.ferry-e2e')!;
    expect((await s.t.api('/api/v1/files/bisv2/' + file, { method: 'DELETE', token })).status).toBeLessThan(300);
    // Allowed: the vault is empty.
    expect((await s.t.api('/api/v1/files/bisv2/.ferry-e2e', { method: 'DELETE', token })).status).toBeLessThan(300);
    const r = await run('--force');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/kept 1 end-to-end marker \(\.ferry-e2e\) deleted on path1: bisync never deletes one/);
    expect(await readdir(local)).toEqual(['.ferry-e2e']);
  });
});

describe('the marker', () => {
  it('cannot be forged (a plain file named .ferry-e2e), replaced, or deleted while the vault holds files', async () => {
    const forged = await s.t.api('/api/v1/files/elsewhere/.ferry-e2e', { method: 'PUT', body: 'not a marker', token });
    expect(forged.status).toBe(409);
    expect(((await forged.json()) as { error: { details: { reason: string } } }).error.details.reason).toBe('marker');
    const marker = await s.t.api('/api/v1/files/vault/.ferry-e2e', { token });
    const text = await marker.text();
    const replaced = await s.t.api('/api/v1/files/vault/.ferry-e2e', { method: 'PUT', body: text.replace('"check":"', '"check":"x'), token });
    expect(replaced.status).toBe(409);
    const del = await curl(['-X', 'DELETE', davUrl('/vault/.ferry-e2e')]);
    expect(del.out).toMatch(/409$/);
    const rm = await ferry(['rm', '/vault/.ferry-e2e']);
    expect(rm.code).toBe(6);
    expect(rm.stderr).toContain(CODE);
    expect(await s.t.api('/api/v1/files/vault/.ferry-e2e', { token }).then((r) => r.text())).toBe(text);
  });

  it('makes only an empty folder a vault: mkdir --e2e of a folder holding plain files is refused', async () => {
    expect((await s.t.api('/api/v1/files/full/a.txt', { method: 'PUT', body: 'plain', token })).status).toBeLessThan(300);
    const mk = await ferry(['mkdir', '--e2e', '/full', '--e2e-key-file', keyFile]);
    expect(mk.code).toBe(6);
    expect(mk.stderr).toContain(CODE);
    // The server's words name no command; the CLI adds its own next step.
    expect(mk.stderr).toMatch(/only an empty folder becomes one: make a new folder end-to-end instead \(with this CLI: ferry mkdir --e2e NEWDIR makes a new end-to-end folder\) \(FERRY_ERR_E2E_PLAIN_IN_VAULT\)/);
    expect(await names('/full')).toEqual(['a.txt']);
  });

  it('goes with its folder: the whole vault can be deleted', async () => {
    const rm = await ferry(['rm', '-r', '/vault']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(await names('/')).not.toContain('vault');
  });
});

describe('the root key marker', () => {
  it('cannot be deleted (ferry rm, WebDAV, SFTP), moved or replaced while files put with --encrypt need it; once they are gone it can be', async () => {
    const put = await ferry(['put', '--encrypt', join(s.dir, 'secret.txt'), '/docs/', '--e2e-key-file', keyFile]);
    expect(put.code, put.stderr).toBe(0);
    const text = await s.t.api('/api/v1/files/.ferry-e2e', { token }).then((r) => r.text());
    expect(JSON.parse(text)).toMatchObject({ ferryE2e: 1, vault: false });
    const IN_USE = 'FERRY_ERR_E2E_MARKER_IN_USE';
    const rm = await ferry(['rm', '/.ferry-e2e']);
    expect(rm.code).toBe(6);
    expect(rm.stderr).toContain(IN_USE);
    expect(rm.stderr).toMatch(/without it the passphrase no longer opens them/);
    expect((await curl(['-X', 'DELETE', davUrl('/.ferry-e2e')])).out).toMatch(/409$/);
    const sftp = await sftpBatch(s, alice, ['rm /.ferry-e2e']);
    expect(sftp.code).not.toBe(0);
    expect(sftp.stderr).toMatch(/ermission denied/);
    const mv = await ferry(['mv', '/.ferry-e2e', '/old-marker.json']);
    expect(mv.code).toBe(6);
    expect(mv.stderr).toContain(IN_USE);
    // Another valid key marker (a new salt: the same passphrase would give another key) over it.
    const other = JSON.parse(text) as { kdf: { salt: string } };
    other.kdf.salt = Buffer.alloc(16, 7).toString('base64url');
    const replaced = await s.t.api('/api/v1/files/.ferry-e2e', { method: 'PUT', body: JSON.stringify(other), token });
    expect(replaced.status).toBe(409);
    expect(((await replaced.json()) as { error: { code: string } }).error.code).toBe(IN_USE);
    // The same bytes again are no change, and are taken.
    expect((await s.t.api('/api/v1/files/.ferry-e2e', { method: 'PUT', body: text, token })).status).toBeLessThan(300);
    expect(await s.t.api('/api/v1/files/.ferry-e2e', { token }).then((r) => r.text())).toBe(text);
    const get = await ferry(['get', '/docs/secret.txt', '-', '--e2e-key-file', keyFile]);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe('a secret for the vault\n');
    // Vaults keep their own copy of the parameters: their files do not hold the root marker. The encrypted file gone, it may go.
    for (const name of await names('/docs')) expect((await s.t.api(`/api/v1/files/docs/${name}`, { method: 'DELETE', token })).status).toBeLessThan(300);
    const rm2 = await ferry(['rm', '/.ferry-e2e']);
    expect(rm2.code, rm2.stderr).toBe(0);
  });
});
