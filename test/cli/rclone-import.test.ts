/**
 * rclone users' remotes (issue 12): a config written by the real `rclone config create`,
 * imported with `ferry remote import`, then used against s3rver and OpenSSH's sshd; rclone's
 * option names in `ferry remote add`; rclone's obscured passwords revealed.
 */
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revealObscured, parseRcloneConf, translateRcloneOptions } from '../../src/backends/rclone.js';
import { isFerryError } from '../../src/core/errors.js';
import { runFerry, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';

let dir: { path: string; cleanup: () => Promise<void> };
let s3: S3rverHandle;
let sshd: SshdHandle;
let env: Record<string, string>;
let rcloneConf: string;

function ok(r: CliResult): CliResult {
  if (r.code !== 0) throw new Error(`ferry exited ${r.code}:\n${r.stderr}`);
  return r;
}
const ferry = (args: string[], extra: Record<string, string | undefined> = {}) => runFerry(args, { env: { ...env, ...extra } });
// AWS_CA_BUNDLE (set on some machines) makes rclone's S3 client refuse a plain-HTTP endpoint.
const rclone = (args: string[]) => execFileSync('rclone', args, { env: { ...process.env, AWS_CA_BUNDLE: undefined, RCLONE_CONFIG: rcloneConf }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

beforeAll(async () => {
  dir = await tempDir('ferry-rclone-');
  [s3, sshd] = await Promise.all([startS3rver(['pics']), startSshd()]);
  env = { FERRY_CONFIG: join(dir.path, 'cfg', 'config.json'), FERRY_CONFIG_DIR: join(dir.path, 'cfg'), HOME: dir.path };
  rcloneConf = join(dir.path, 'rclone', 'rclone.conf');
  // Written by rclone itself: it obscures `pass` on the way in, as `rclone config` does.
  rclone(['config', 'create', 'mys3', 's3', 'provider=Minio', 'env_auth=false', 'access_key_id=S3RVER', 'secret_access_key=S3RVER', `endpoint=${s3.endpoint}`, 'region=us-east-1', '--non-interactive']);
  rclone(['config', 'create', 'keysftp', 'sftp', 'host=127.0.0.1', `port=${sshd.port}`, 'user=root', `key_file=${sshd.clientKeyFile}`, `known_hosts_file=${sshd.knownHostsFile}`, 'shell_type=unix', '--non-interactive']);
  rclone(['config', 'create', 'pwsftp', 'sftp', 'host=127.0.0.1', `port=${sshd.port}`, `user=${sshd.passwordUser.name}`, `pass=${sshd.passwordUser.password}`, `known_hosts_file=${sshd.knownHostsFile}`, '--non-interactive']);
  rclone(['config', 'create', 'scratch', 'memory', '--non-interactive']);
  await writeFile(join(dir.path, 'f.txt'), 'hello from ferry');
}, 120_000);
afterAll(async () => {
  await Promise.all([s3?.stop(), sshd?.stop()]);
  await dir?.cleanup();
});

describe("rclone's obscured passwords", () => {
  it('reveals what rclone obscure made; refuses a plain password', () => {
    for (const secret of ['hunter2', 'pässwörd with spaces', 'x'.repeat(100)]) {
      const obscured = execFileSync('rclone', ['obscure', secret]).toString().trim();
      expect(revealObscured(obscured)).toBe(secret);
    }
    expect(() => revealObscured('not obscured!')).toThrow(/not an rclone-obscured value/);
    expect(() => revealObscured('abc')).toSatisfy(() => {
      try {
        revealObscured('abc');
        return false;
      } catch (err) {
        return isFerryError(err, 'FERRY_ERR_CONFIG');
      }
    });
  });

  it('translates rclone option names, sizes and ~; refuses an encrypted rclone.conf', () => {
    expect(translateRcloneOptions('s3', { access_key_id: 'A', chunk_size: '5Mi', provider: 'AWS', bucket: 'b' })).toEqual({ options: { accessKeyId: 'A', partSize: String(5 * 1024 * 1024), bucket: 'b' }, dropped: ['provider'] });
    expect(translateRcloneOptions('sftp', { key_file: '~/.ssh/id' }).options.keyFile).toMatch(/^\/.*\/\.ssh\/id$/);
    expect(() => parseRcloneConf('# Encrypted rclone configuration File\n\nRCLONE_ENCRYPT_V0:\nabc', 'r.conf')).toThrow(/encrypted by rclone/);
    expect(() => parseRcloneConf('key = value\n', 'r.conf')).toThrow(/r.conf:1/);
  });
});

describe('ferry remote import and rclone option names', () => {
  it("imports the s3 and sftp remotes of rclone's own config (default path RCLONE_CONFIG), skips the rest", async () => {
    const dry = JSON.parse(ok(await ferry(['remote', 'import', '--dry-run', '--json'], { RCLONE_CONFIG: rcloneConf })).stdout) as { imported: Array<{ name: string }> };
    expect(dry.imported.map((r) => r.name)).toEqual(['mys3', 'keysftp', 'pwsftp']);
    expect(JSON.parse(ok(await ferry(['remote', 'ls', '--json'])).stdout)).toEqual([]); // the dry run saved nothing

    const r = ok(await ferry(['remote', 'import'], { RCLONE_CONFIG: rcloneConf }));
    expect(r.stdout).toContain('imported mys3: s3 ');
    expect(r.stdout).toMatch(/imported keysftp: sftp .*\(left out: shell_type\)/);
    expect(r.stdout).toContain('imported pwsftp: sftp');
    expect(r.stderr).toContain('skipped scratch (memory): not imported: Ferry imports the s3 and sftp remotes of an rclone.conf');
    expect(r.stdout).not.toContain(sshd.passwordUser.password);
    const saved = JSON.parse(await readFile(join(dir.path, 'cfg', 'remotes.json'), 'utf8')) as { remotes: Record<string, { type: string; options: Record<string, unknown> }> };
    expect(saved.remotes.mys3).toEqual({ type: 's3', options: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', endpoint: s3.endpoint, region: 'us-east-1' } });
    expect(saved.remotes.pwsftp.options).toMatchObject({ host: '127.0.0.1', port: sshd.port, user: sshd.passwordUser.name, password: sshd.passwordUser.password, knownHostsFile: sshd.knownHostsFile });
    expect(saved.remotes.keysftp.options).toMatchObject({ keyFile: sshd.clientKeyFile, user: 'root' });

    const again = ok(await ferry(['remote', 'import', rcloneConf]));
    expect(again.stderr).toContain('skipped mys3 (s3): a Ferry remote of that name exists (--force replaces it)');
    expect(JSON.parse(ok(await ferry(['remote', 'import', rcloneConf, '--force', '--json'])).stdout).imported).toHaveLength(3);
  });

  it('the imported remotes work: S3 on s3rver (bucket from the path, as in rclone), SFTP on sshd with a key and with the obscured password', async () => {
    const put = ok(await ferry(['put', join(dir.path, 'f.txt'), 'mys3:pics/dir/f.txt']));
    expect(put.stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript/); // the SDK's Node 20 notice stays out
    expect(ok(await ferry(['cat', 'mys3:pics/dir/f.txt'])).stdout).toBe('hello from ferry');
    expect(rclone(['cat', 'mys3:pics/dir/f.txt'])).toBe('hello from ferry'); // and rclone reads what Ferry wrote

    ok(await ferry(['put', join(dir.path, 'f.txt'), `keysftp:${sshd.root}/by-key.txt`]));
    expect(await readFile(join(sshd.root, 'by-key.txt'), 'utf8')).toBe('hello from ferry');
    expect(ok(await ferry(['ls', `pwsftp:${sshd.root}`])).stdout).toContain('by-key.txt');
    ok(await ferry(['copy', `pwsftp:${sshd.root}`, 'mys3:pics/mirror']));
    expect(ok(await ferry(['cat', 'mys3:pics/mirror/by-key.txt'])).stdout).toBe('hello from ferry');
  });

  it('ferry remote add takes rclone names (obscured pass included), and refuses options neither knows', async () => {
    const obscured = execFileSync('rclone', ['obscure', sshd.passwordUser.password]).toString().trim();
    const add = ok(await ferry(['remote', 'add', 'm2', 's3', 'provider=Minio', `endpoint=${s3.endpoint}`, 'access_key_id=S3RVER', 'secret_access_key=S3RVER', 'region=us-east-1']));
    expect(add.stderr).toContain('not needed by Ferry, not saved: provider');
    expect(add.stdout).not.toContain('S3RVER');
    expect(ok(await ferry(['ls', 'm2:pics/dir'])).stdout).toContain('f.txt');
    ok(await ferry(['remote', 'add', 'p2', 'sftp', 'host=127.0.0.1', `port=${sshd.port}`, `user=${sshd.passwordUser.name}`, `pass=${obscured}`, `known_hosts_file=${sshd.knownHostsFile}`]));
    expect(ok(await ferry(['ls', `p2:${sshd.root}`])).stdout).toContain('by-key.txt');
    const plain = await ferry(['remote', 'add', 'p3', 'sftp', 'host=127.0.0.1', 'pass=plain text!']);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain('pass: not an rclone-obscured value');
    const unknown = await ferry(['remote', 'add', 'p4', 's3', 'storage_class=GLACIER']);
    expect(unknown.code).toBe(2);
  });

  it('a missing rclone.conf is a clear error', async () => {
    const r = await ferry(['remote', 'import', join(dir.path, 'none.conf')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no such file');
  });
});
