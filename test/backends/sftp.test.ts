import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SftpBackend } from '../../src/backends/sftp/sftp-backend.js';
import { canCopy } from '../../src/core/storage.js';
import { describeLeftoverSweeping } from '../conformance/leftovers.js';
import { describeStorageBackend } from '../conformance/storage-backend.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';

let sshd: SshdHandle;
beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd?.stop();
});

const keyLogin = () => ({ host: '127.0.0.1', port: sshd.port, user: 'root', keyFile: sshd.clientKeyFile, knownHostsFile: sshd.knownHostsFile });

describeStorageBackend('sftp (OpenSSH sshd, key login)', async () => {
  const root = path.join(sshd.root, `run-${randomBytes(6).toString('hex')}`);
  await mkdir(root);
  return { backend: await SftpBackend.connect({ ...keyLogin(), root }), cleanup: async () => {} };
});

describeLeftoverSweeping('sftp', async () => {
  const root = path.join(sshd.root, `sweep-${randomBytes(6).toString('hex')}`);
  await mkdir(root);
  const backend = await SftpBackend.connect({ ...keyLogin(), root });
  return { backend, rootDir: root, cleanup: () => backend.close() };
});

describe('SftpBackend against sshd', () => {
  it('logs in with a password and writes as that user', async () => {
    const b = await SftpBackend.connect({
      host: '127.0.0.1',
      port: sshd.port,
      user: sshd.passwordUser.name,
      password: sshd.passwordUser.password,
      knownHostsFile: sshd.knownHostsFile,
      root: sshd.root,
    });
    await b.write('by-password/file', Buffer.from('hello'));
    expect(await readFile(path.join(sshd.root, 'by-password', 'file'), 'utf8')).toBe('hello');
    await b.close?.();
  });

  it('a wrong password is FERRY_ERR_AUTH_INVALID', async () => {
    const attempt = SftpBackend.connect({ host: '127.0.0.1', port: sshd.port, user: sshd.passwordUser.name, password: 'wrong', knownHostsFile: sshd.knownHostsFile });
    await expect(attempt).rejects.toMatchObject({ code: 'FERRY_ERR_AUTH_INVALID' });
  });

  it('refuses an unknown host key, and a changed one, naming the fingerprint; a pinned fingerprint is accepted', async () => {
    const empty = path.join(sshd.dir, 'known_hosts.empty');
    await writeFile(empty, '');
    const unknown = await SftpBackend.connect({ ...keyLogin(), knownHostsFile: empty }).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ code: 'FERRY_ERR_HOST_KEY', retryable: false });
    expect((unknown as Error).message).toContain(sshd.hostKeyFingerprint);
    expect((unknown as Error).message).toContain('is not in');

    const other = path.join(sshd.dir, 'known_hosts.other');
    const { execFileSync } = await import('node:child_process');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(sshd.dir, 'impostor')]);
    const impostor = (await readFile(path.join(sshd.dir, 'impostor.pub'), 'utf8')).split(/\s+/).slice(0, 2).join(' ');
    await writeFile(other, `[127.0.0.1]:${sshd.port} ${impostor}\n`);
    const changed = await SftpBackend.connect({ ...keyLogin(), knownHostsFile: other }).catch((e: unknown) => e);
    expect(changed).toMatchObject({ code: 'FERRY_ERR_HOST_KEY' });
    expect((changed as Error).message).toContain('HOST KEY CHANGED');

    const pinned = await SftpBackend.connect({ ...keyLogin(), knownHostsFile: empty, hostKeyFingerprint: sshd.hostKeyFingerprint });
    expect((await pinned.features()).move).toBe(true);
    await pinned.close();
    const wrongPin = SftpBackend.connect({ ...keyLogin(), hostKeyFingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    await expect(wrongPin).rejects.toMatchObject({ code: 'FERRY_ERR_HOST_KEY' });
  });

  it('uses OpenSSH extensions: server-side copy through copy-data, atomic replace through posix-rename', async () => {
    const b = await SftpBackend.connect({ ...keyLogin(), root: sshd.root });
    expect(b.features().copy).toBe(true);
    expect(canCopy(b)).toBe(true);
    const data = randomBytes(3 * 1024 * 1024);
    await b.write('ext/src', data, { mtime: 1_600_000_000_000 });
    const info = await b.copy!('ext/src', 'ext/dst');
    expect(info).toMatchObject({ size: data.length, mtime: 1_600_000_000_000 });
    expect((await readFile(path.join(sshd.root, 'ext', 'dst'))).equals(data)).toBe(true);
    await b.close();
  });

  it('reconnects after the connection drops (the server side of it killed)', async () => {
    const { execFileSync } = await import('node:child_process');
    const { withRetry } = await import('../../src/backends/decorators/retry.js');
    const raw = await SftpBackend.connect({ ...keyLogin(), root: sshd.root });
    const b = withRetry(raw, { policy: { baseMs: 10 } });
    await b.write('reconnect/one', Buffer.from('before'));
    // The per-connection sshd processes are children of the sshd this test started.
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(sshd.pid)]).toString().trim().split(/\s+/).filter(Boolean);
    expect(children.length).toBeGreaterThan(0);
    for (const pid of children) process.kill(Number(pid), 'SIGTERM');
    await b.write('reconnect/two', Buffer.from('after'));
    expect((await readFile(path.join(sshd.root, 'reconnect', 'two'), 'utf8'))).toBe('after');
    expect((await b.stat('reconnect/one')).size).toBe(6);
    await b.close?.();
  });

  it('an unreachable server is a retryable network error', async () => {
    const err = await SftpBackend.connect({ ...keyLogin(), port: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_ERR_NETWORK', retryable: true });
  });
});
