/**
 * Many small files over one SSH connection (`scp -r`, `sftp put -r`): each file is its own
 * atomic, audited commit, and the connection's login is not read again for each of them
 * (a file's commit changes no security state), while a removed key still ends the login at
 * the next request.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../helpers/users.js';
import { scp, sftpOf, sshClient, sshUser, startSftpServer, type SftpServer } from '../helpers/sftp.js';

let s: SftpServer;

beforeAll(async () => {
  s = await startSftpServer();
});
afterAll(async () => {
  await s?.close();
});

/** Counts the reads of users' SSH keys (what a login's re-check does) while `fn` runs. */
async function keyReads(fn: () => Promise<void>): Promise<number> {
  const keys = s.t.server.ctx.sshKeys;
  const findKey = keys.findKey.bind(keys);
  let reads = 0;
  keys.findKey = (...args) => {
    reads++;
    return findKey(...args);
  };
  try {
    await fn();
  } finally {
    keys.findKey = findKey;
  }
  return reads;
}

const p = <T>(f: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> => new Promise((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T))));

describe('small files over SFTP', () => {
  it('scp -r of 12 files: each committed (its chunk recorded by the commit) and audited, the login read as often as for one file (at login), not once per file', async () => {
    await sshUser(s, 'sam');
    const sam = { name: 'sam', key: join(s.dir, 'key-sam'), publicKey: '' };
    const tree = async (name: string, n: number) => {
      const dir = join(s.dir, name);
      await mkdir(dir);
      const files = Array.from({ length: n }, (_, i) => ({ name: `f${i}.bin`, body: randomBytes(3000 + i) }));
      for (const f of files) await writeFile(join(dir, f.name), f.body);
      return files;
    };
    const sent = async (name: string) => {
      const r = await scp(s, sam, ['-r', join(s.dir, name), `remote:/${name}`]);
      expect(r.code, r.stderr).toBe(0);
    };
    await tree('one', 1);
    const files = await tree('many', 12);
    const atLogin = await keyReads(() => sent('one'));
    const meta = s.t.server.ctx.meta;
    const appendEntries = meta.appendEntries.bind(meta);
    let appends = 0;
    meta.appendEntries = (...args) => {
      appends++;
      return appendEntries(...args);
    };
    const reads = await keyReads(() => sent('many')).finally(() => (meta.appendEntries = appendEntries));
    // A small file's one chunk is recorded by its commit, not in a transaction before it.
    expect(appends).toBe(0);
    expect(atLogin).toBeGreaterThan(0);
    // Before, every file's commit made the next request read the login again: one more a file.
    expect(reads).toBe(atLogin);
    for (const f of files) {
      const res = await s.t.api(`/api/v1/files/users/sam/many/${f.name}`);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(f.body)).toBe(true);
    }
    const uploads = (await auditEvents(s.t, 'user=sam&event=file.upload')).filter((e) => e.front === 'sftp' && e.path?.startsWith('/users/sam/many/'));
    expect(uploads.map((e) => e.path).sort()).toEqual(files.map((f) => `/users/sam/many/${f.name}`).sort());
  });

  it('a key removed between two files ends the login at the next request, whatever was committed before', async () => {
    const kit = await sshUser(s, 'kit');
    const client = await sshClient(s, { username: 'kit', privateKey: await readFile(kit.key) });
    try {
      const sftp = await sftpOf(client);
      for (let i = 0; i < 3; i++) {
        const h = await p<Buffer>((cb) => sftp.open(`/a${i}`, 'w', cb));
        await p<void>((cb) => sftp.write(h, Buffer.from(`file ${i}`), 0, 6, 0, cb));
        await p<void>((cb) => sftp.close(h, cb));
      }
      const keys = (await (await s.t.api('/api/v1/users/kit/keys')).json()) as { id: string }[];
      expect((await s.t.api(`/api/v1/users/kit/keys/${keys[0].id}`, { method: 'DELETE' })).status).toBe(204);
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      const err = await p<Buffer>((cb) => sftp.open('/a3', 'w', cb)).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err).toBeDefined();
      await closed;
    } finally {
      client.end();
    }
    expect((await s.t.api('/api/v1/files/users/kit/a2')).status).toBe(200);
    expect((await s.t.api('/api/v1/stat/users/kit/a3')).status).toBe(404);
  });
});
