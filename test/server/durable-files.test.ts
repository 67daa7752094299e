/**
 * The files Ferry writes whole outside the chunk store are durable when the write returns,
 * seen in the system calls themselves (strace -y names each descriptor's file):
 * - the SFTP host keys made at a first start: flushed, renamed, the rename fsynced (a power cut
 *   used to be able to leave an empty key, which every later start refuses);
 * - `ferry admin backup`: every file it holds fsynced before its manifest is written, the
 *   manifest and the directory after it (a backup it reported done could come back empty);
 * - `ferry admin restore`: the old write-ahead log gone durably before the restored database
 *   is renamed in (SQLite replays whatever log it finds), each file flushed before its rename,
 *   the renames fsynced before the command answers;
 * and a restore hashes a metadata database of more than 2 GiB in pieces (it was read whole:
 * past 2 GiB Node refuses, and the backup was called missing).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FERRY_BIN, runFerry } from '../helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-durable-files-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const dist = (file: string) => JSON.stringify(join(FERRY_BIN, '../../dist/src', file));

interface Call {
  call: string;
  args: string;
}

/** Runs `argv` under strace (following threads and children) and returns the traced calls in order of completion. */
function traced(name: string, argv: string[]): Call[] {
  const log = join(work, `${name}.strace`);
  const run = spawnSync('strace', ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat', '-o', log, ...argv], { encoding: 'utf8' });
  expect(run.status, `${argv.join(' ')} under strace failed:\n${run.stderr}`).toBe(0);
  const calls: Call[] = [];
  const pending = new Map<string, string>();
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    // "PID call(args) = 0", or split across "<unfinished ...>" and "<... call resumed>".
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pid, rest] = m;
    const unfinished = /^(\w+)\((.*) <unfinished \.\.\.>$/.exec(rest);
    if (unfinished) {
      pending.set(pid, rest.replace(/ <unfinished \.\.\.>$/, ''));
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(rest);
    const whole = resumed ? (pending.get(pid) ?? '') + resumed[1] : rest;
    const done = /^(\w+)\((.*)\)\s+=\s+0$/.exec(whole);
    if (done) calls.push({ call: done[1], args: done[2] });
  }
  return calls;
}

const fsyncsOf = (calls: Call[], path: string) => calls.flatMap((c, i) => ((c.call === 'fsync' || c.call === 'fdatasync') && c.args.includes(`<${path}>`) ? [i] : []));
/** The paths of a rename's arguments (`rename("a", "b")`, or renameat2's with directory descriptors). */
const renamePaths = (c: Call) => [...c.args.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
const renameTo = (calls: Call[], path: string) => calls.findIndex((c) => c.call.startsWith('rename') && renamePaths(c)[1] === path);
const renameFromTo = (calls: Call[], path: string) => renamePaths(calls[renameTo(calls, path)])[0];

describe('files written whole are durable when the write returns', () => {
  it('the SFTP host keys: each flushed under a temporary name, renamed, the rename fsynced', () => {
    const data = join(work, 'keys');
    mkdirSync(data);
    const calls = traced('host-keys', [process.execPath, '--input-type=module', '-e', `const { loadHostKeys } = await import(${dist('server/sftp/host-keys.js')}); await loadHostKeys(${JSON.stringify(data)});`]);
    for (const name of ['ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub', 'ssh_host_ecdsa_key', 'ssh_host_ecdsa_key.pub']) {
      const file = join(data, 'ssh', name);
      const renamed = renameTo(calls, file);
      expect(renamed, `${name} is put in place by a rename`).toBeGreaterThan(-1);
      const temp = renameFromTo(calls, file)!;
      expect(fsyncsOf(calls, temp).some((i) => i < renamed), `${name}'s bytes are fsynced before its rename`).toBe(true);
      expect(fsyncsOf(calls, join(data, 'ssh')).some((i) => i > renamed), `${name}'s rename is made durable`).toBe(true);
    }
    // The ssh directory's own entry in the data directory, made by this start.
    expect(fsyncsOf(calls, data).length).toBeGreaterThan(0);
  });

  it('ferry admin backup: every file fsynced before the manifest, the manifest and its directory after', () => {
    const data = join(work, 'server');
    const backup = join(work, 'backups', 'first');
    mkdirSync(data);
    writeFileSync(join(data, 'session-key'), 'k'.repeat(44) + '\n', { mode: 0o600 });
    const script = `
      const { MetaStore } = await import(${dist('store/meta-store.js')});
      const { backupServer } = await import(${dist('server/backup.js')});
      const meta = await MetaStore.openSqlite(${JSON.stringify(join(data, 'meta.db'))});
      await backupServer(meta, ${JSON.stringify(data)}, ${JSON.stringify(backup)}, []);
      await meta.close();`;
    const calls = traced('backup', [process.execPath, '--input-type=module', '-e', script]);
    const manifest = join(backup, 'ferry-backup.json');
    const renamed = renameTo(calls, manifest);
    expect(renamed, 'the manifest is put in place by a rename').toBeGreaterThan(-1);
    for (const f of ['meta.db', 'session-key']) {
      expect(fsyncsOf(calls, join(backup, f)).some((i) => i < renamed), `${f} is fsynced before the manifest exists`).toBe(true);
    }
    expect(fsyncsOf(calls, renameFromTo(calls, manifest)!).some((i) => i < renamed), "the manifest's bytes before its rename").toBe(true);
    expect(fsyncsOf(calls, backup).some((i) => i > renamed), "the manifest's rename is made durable").toBe(true);
    // The directories the backup made: each one's entry in its parent.
    expect(fsyncsOf(calls, join(work, 'backups')).length).toBeGreaterThan(0);
    expect(fsyncsOf(calls, work).length).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(manifest, 'utf8')).files.map((f: { path: string }) => f.path)).toEqual(['meta.db', 'session-key']);
  });

  it('ferry admin restore: the old log gone first, each file flushed before its rename, the renames fsynced', () => {
    const backup = join(work, 'backups', 'first');
    const data = join(work, 'restored');
    mkdirSync(data);
    writeFileSync(join(data, 'meta.db'), 'the database being replaced');
    writeFileSync(join(data, 'meta.db-wal'), 'its write-ahead log');
    const calls = traced('restore', [process.execPath, FERRY_BIN, 'admin', 'restore', backup, '--data', data, '--force']);
    const db = join(data, 'meta.db');
    const renamed = renameTo(calls, db);
    expect(renamed, 'meta.db is put in place by a rename').toBeGreaterThan(-1);
    const logGone = calls.findIndex((c) => c.call.startsWith('unlink') && c.args.includes(`"${db}-wal"`));
    expect(logGone, 'the old write-ahead log is removed').toBeGreaterThan(-1);
    expect(logGone).toBeLessThan(renamed);
    expect(fsyncsOf(calls, data).some((i) => i > logGone && i < renamed), "the log's removal is durable before the new database is in place").toBe(true);
    expect(fsyncsOf(calls, renameFromTo(calls, db)!).some((i) => i < renamed), "the database's bytes before its rename").toBe(true);
    expect(fsyncsOf(calls, data).some((i) => i > renameTo(calls, join(data, 'session-key'))), 'the renames are durable before the command answers').toBe(true);
    expect(readFileSync(join(data, 'session-key'), 'utf8')).toBe('k'.repeat(44) + '\n');
  });

  it('ferry admin restore hashes a database of more than 2 GiB in pieces', async () => {
    // A sparse 2.4 GB meta.db whose manifest hash is wrong: the restore must read it through
    // and call it altered, where reading it whole failed and called it missing.
    const backup = join(work, 'big-backup');
    mkdirSync(backup);
    const db = join(backup, 'meta.db');
    writeFileSync(db, '');
    truncateSync(db, 2_400_000_000);
    writeFileSync(join(backup, 'ferry-backup.json'), JSON.stringify({ format: 1, ferry: 'test', createdAt: new Date().toISOString(), files: [{ path: 'meta.db', size: 2_400_000_000, sha256: '0'.repeat(64) }], chunkStores: [] }));
    const r = await runFerry(['admin', 'restore', backup, '--data', join(work, 'big-restored')]);
    expect(r.stderr).toContain('meta.db does not match the backup manifest');
    expect(r.stderr).not.toContain('missing');
    expect(r.code).not.toBe(0);
  });
});

// strace itself must work here (it is one of CI's Debian packages): a machine without it fails above, not silently.
execFileSync('strace', ['-V']);
