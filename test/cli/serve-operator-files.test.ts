/**
 * The files an operator hands `ferry serve` (the config file, the TLS certificate and key,
 * the data directory), each wrong the way a first day gets them wrong: unreadable by the
 * service's user, missing, expired, holding secrets for every local user to read. Each
 * refusal is one line naming the file and the fix, exit 2; nothing starts. Run for real:
 * the server is spawned, as `nobody` through runuser where a refused read is the point (the
 * tests run as root, who is never refused).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { createCa, createServerCert } from '../../src/server/x509.js';
import { cliEnv, FERRY_BIN, runFerry } from '../helpers/cli.js';
import { stopWithin, until, within, type Watched } from '../helpers/served-state.js';
import { startServer } from '../helpers/server.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-operator-files-'));
chmodSync(work, 0o755);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs the CLI as `nobody` to its end. */
function ferryAsNobody(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('runuser', ['-u', 'nobody', '--', process.execPath, FERRY_BIN, ...args], { env: cliEnv({ HOME: work }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

const nobodyUid = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim();
const serveArgs = (data: string, ...rest: string[]) => ['serve', '--addr', '127.0.0.1:0', '--data', data, ...rest];

describe('the config file', () => {
  it('unreadable by the user the server runs as: that user and the fix, exit 2, for serve and config check', async () => {
    const file = join(work, 'root-only.yaml');
    writeFileSync(file, 'maxFileSize: 1G\n');
    chmodSync(file, 0o600);
    const data = join(work, 'unread-config-data');
    for (const args of [['serve', '--config', file, '--addr', '127.0.0.1:0', '--data', data], ['config', 'check', file]]) {
      const r = await ferryAsNobody(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`ferry: ${file}: permission denied (the config file): ferry runs as nobody (uid ${nobodyUid}), which may not read it; let that user read it (chown, or chgrp and chmod 0640`);
      expect(r.stderr).not.toContain('EACCES');
      expect(r.stdout).not.toContain('"ready"');
    }
    expect(existsSync(data)).toBe(false);
  });

  it('holding a secret and readable by every local user: a warning at start and from config check; 0640 is quiet', async () => {
    const file = join(work, 'secrets.yaml');
    const secret = 'a3f8c1e6d9b2047e5c8a1f3d6b9e2c70';
    writeFileSync(file, `maxFileSize: 1G\nmetricsToken: ${secret}\n`);
    chmodSync(file, 0o644);
    const warning = `ferry: warning: ${file} holds metricsToken and every user of this machine may read it (mode 0644): chmod o-r ${file}\n`;
    const checked = await runFerry(['config', 'check', file]);
    expect(checked.code).toBe(0);
    expect(checked.stderr).toBe(warning);
    const server = await startServer({ dataDir: join(work, 'secrets-data'), extraArgs: ['--config', file] });
    try {
      expect(server.output()).toContain(warning);
      expect(server.output()).not.toContain(secret);
    } finally {
      await server.stop();
    }

    chmodSync(file, 0o640);
    const quiet = await runFerry(['config', 'check', file]);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    // Readable by all, but no secret in it: nothing to say.
    const plain = join(work, 'plain.yaml');
    writeFileSync(plain, 'maxFileSize: 1G\n');
    chmodSync(plain, 0o644);
    expect((await runFerry(['config', 'check', plain])).stderr).toBe('');
  });
});

describe('TLS certificate and key files', () => {
  const ca = createCa({ name: 'Ferry operator test CA' });
  const current = createServerCert(ca, ['127.0.0.1', 'localhost']);
  const write = (name: string, pem: string, mode = 0o644) => {
    const file = join(work, name);
    writeFileSync(file, pem);
    chmodSync(file, mode);
    return file;
  };
  const certFile = write('current.pem', current.certPem);
  const keyFile = write('current.key', current.keyPem, 0o600);

  it('a missing certificate or key is named, each on its own: exit 2, nothing made', async () => {
    const data = join(work, 'missing-tls-data');
    const noCert = await runFerry(serveArgs(data, '--tls-cert', join(work, 'nope.pem'), '--tls-key', keyFile), { timeoutMs: 30_000 });
    expect(noCert.code).toBe(2);
    expect(noCert.stderr).toBe(`ferry: ${join(work, 'nope.pem')}: no such file (the TLS certificate) (FERRY_ERR_CONFIG)\n`);
    const noKey = await runFerry(serveArgs(data, '--tls-cert', certFile, '--tls-key', join(work, 'nope.key')), { timeoutMs: 30_000 });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toBe(`ferry: ${join(work, 'nope.key')}: no such file (the TLS key) (FERRY_ERR_CONFIG)\n`);
  });

  it('a key the server user may not read: the key, the user and the fix', async () => {
    const data = join(work, 'unread-key-data');
    mkdirSync(data, { mode: 0o700 });
    chownSync(data, Number(nobodyUid), Number(nobodyUid));
    const r = await ferryAsNobody(serveArgs(data, '--tls-cert', certFile, '--tls-key', keyFile));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^ferry: ${keyFile}: permission denied \\(the TLS key\\): ferry runs as nobody \\(uid ${nobodyUid}\\), which may not read it; .*\\(FERRY_ERR_CONFIG\\)\\n$`));
  });

  it('an expired certificate, or one not valid yet, is served with a note naming its date (a wrong clock at boot must not keep the server down)', async () => {
    const old = createServerCert(ca, ['127.0.0.1'], { now: new Date('2021-03-01T12:00:00Z'), days: 90 });
    const expiredFile = write('expired.pem', old.certPem);
    const expiredKey = write('expired.key', old.keyPem, 0o600);
    const expired = await startServer({ dataDir: join(work, 'expired-tls-data'), extraArgs: ['--tls-cert', expiredFile, '--tls-key', expiredKey] });
    // Served: a client that pins the fingerprint still gets through.
    const fingerprint = await new Promise<string>((resolve, reject) => {
      const req = httpsGet(`${expired.url}/healthz`, { rejectUnauthorized: false, agent: false }, (res) => {
        resolve((res.socket as TLSSocket).getPeerX509Certificate()!.fingerprint256);
        res.resume();
      });
      req.on('error', reject);
    });
    await expired.stop();
    expect(fingerprint).toBe(new X509Certificate(old.certPem).fingerprint256);
    expect(expired.output()).toContain(
      `Note: ${expiredFile}: the TLS certificate expired on 2021-05-30: renew it (or point tlsCert/tlsKey at a current one), then send SIGHUP; until then clients that check certificates refuse every connection.\n`,
    );

    const future = createServerCert(createCa({ now: new Date(Date.now() + 400 * 86_400_000) }), ['127.0.0.1'], { now: new Date(Date.now() + 400 * 86_400_000) });
    const futureFile = write('future.pem', future.certPem);
    const futureKey = write('future.key', future.keyPem, 0o600);
    const early = await startServer({ dataDir: join(work, 'future-tls-data'), extraArgs: ['--tls-cert', futureFile, '--tls-key', futureKey] });
    await early.stop();
    const from = new Date(new X509Certificate(future.certPem).validFrom).toISOString().slice(0, 10);
    expect(early.output()).toContain(`Note: ${futureFile}: the TLS certificate is not valid before ${from}: check this machine's clock, or use a current certificate, then send SIGHUP;`);
  });

  it('a certificate with less than two weeks left: a note at start with its date; a longer one: none', async () => {
    const soon = createServerCert(ca, ['127.0.0.1'], { days: 5 });
    const soonFile = write('soon.pem', soon.certPem);
    const soonKey = write('soon.key', soon.keyPem, 0o600);
    const until = new Date(new X509Certificate(soon.certPem).validTo).toISOString().slice(0, 10);
    const server = await startServer({ dataDir: join(work, 'soon-tls-data'), extraArgs: ['--tls-cert', soonFile, '--tls-key', soonKey] });
    await server.stop();
    expect(server.output()).toContain(`Note: the TLS certificate in ${soonFile} expires on ${until}, in 4 days: renew it, then send SIGHUP.\n`);
    const fine = await startServer({ dataDir: join(work, 'fine-tls-data'), extraArgs: ['--tls-cert', certFile, '--tls-key', keyFile] });
    await fine.stop();
    expect(fine.output()).toContain('Ferry serves HTTPS');
    expect(fine.output()).not.toContain('Note:');
  });

  it('an expired certificate put in place of the running one: SIGHUP says so and keeps serving the current one', async () => {
    const live = write('live.pem', current.certPem);
    const liveKey = write('live.key', current.keyPem, 0o600);
    const server = await startServer({ dataDir: join(work, 'reload-tls-data'), extraArgs: ['--tls-cert', live, '--tls-key', liveKey] });
    try {
      const old = createServerCert(ca, ['127.0.0.1'], { now: new Date('2021-03-01T12:00:00Z'), days: 90 });
      write('live.pem', old.certPem);
      write('live.key', old.keyPem, 0o600);
      const mark = server.output().length;
      const watched: Watched = { child: server.process, url: server.url, output: server.output };
      server.process.kill('SIGHUP');
      await until(watched, 'reload (SIGHUP sent, waiting for "ferry: reload failed" on stderr)', 20_000, () => server.output().slice(mark).includes('ferry: reload failed'));
      expect(server.output().slice(mark)).toContain(`ferry: reload failed, nothing changed:\n${live}: the TLS certificate expired on 2021-05-30`);
      const served = await within(
        watched,
        'after the refused reload: GET /healthz over TLS',
        20_000,
        () =>
          new Promise<string>((resolve, reject) => {
            const req = httpsGet(`${server.url}/healthz`, { ca: ca.certPem, agent: false, timeout: 15_000 }, (res) => {
              const fingerprint = (res.socket as TLSSocket).getPeerX509Certificate()!.fingerprint256;
              res.resume();
              res.on('end', () => resolve(fingerprint));
            });
            req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
            req.on('error', reject);
          }),
      );
      expect(served).toBe(new X509Certificate(current.certPem).fingerprint256);
      await stopWithin(watched, 'stop (SIGTERM, waiting for the exit)', 20_000);
    } finally {
      await server.stop();
    }
  }, 100_000); // each wait fails by itself first: the start 30 s, the reload, the request and the stop 20 s each
});

describe('the data directory', () => {
  it('that the server user may not make: the user and the command that fixes it', async () => {
    const parent = join(work, 'root-owned');
    mkdirSync(parent, { mode: 0o755 });
    const data = join(parent, 'ferry');
    const r = await ferryAsNobody(serveArgs(data));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toBe(
      `ferry: cannot make the data directory ${data}: permission denied: ferry serve runs as nobody (uid ${nobodyUid}), which may not make it in ${parent}; make it for that user first: install -d -o nobody -m 700 ${data} (FERRY_ERR_CONFIG)\n`,
    );
  });

  it('with a file in its place: says so', async () => {
    const file = join(work, 'a-file');
    writeFileSync(file, 'x');
    const r = await runFerry(serveArgs(file), { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`ferry: cannot make the data directory ${file}: a file is in the way (it or a parent is not a directory): use another --data (FERRY_ERR_CONFIG)\n`);
  });
});

describe('the log written to a file', () => {
  /**
   * Starts `ferry serve` with stdout on `log`, opened for appending (`>>`) or not (`>`), and
   * waits for its ready line there.
   */
  async function serveInto(log: string, flags: 'a' | 'w') {
    const fd = openSync(log, flags);
    const child = spawn(process.execPath, [FERRY_BIN, ...serveArgs(join(work, `log-data-${flags}`))], {
      env: cliEnv({ FERRY_ADMIN_TOKEN: randomBytes(24).toString('hex') }),
      stdio: ['ignore', fd, 'pipe'],
    });
    closeSync(fd);
    const closed = new Promise((resolve) => child.on('close', resolve));
    let url: string | undefined;
    for (let i = 0; i < 600 && !url && child.exitCode === null; i++) {
      url = /"event":"ready","url":"([^"]+)"/.exec(readFileSync(log, 'utf8'))?.[1];
      if (!url) await new Promise((r) => setTimeout(r, 50));
    }
    if (!url) throw new Error(`no ready line in ${log}`);
    return { url, stop: async () => (child.kill('SIGTERM'), await closed) };
  }

  /** Truncates the log as logrotate's copytruncate does, makes one request, and gives the file's bytes once its line is there. */
  async function afterCopytruncate(log: string, url: string): Promise<Buffer> {
    truncateSync(log, 0);
    const res = await fetch(`${url}/api/v1/capabilities`);
    const id = res.headers.get('x-request-id')!;
    await res.arrayBuffer();
    for (let i = 0; i < 400 && !readFileSync(log, 'utf8').includes(id); i++) await new Promise((r) => setTimeout(r, 25));
    return readFileSync(log);
  }

  it('appended to (>>): after copytruncate the next lines start the file again, no hole before them', async () => {
    const log = join(work, 'append.log');
    const server = await serveInto(log, 'a');
    try {
      const bytes = await afterCopytruncate(log, server.url);
      expect(bytes[0]).toBe('{'.charCodeAt(0));
      expect(bytes.includes(0)).toBe(false);
      expect(bytes.toString().trim().split('\n').every((l) => JSON.parse(l) !== null)).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('written without appending (>): after copytruncate the file starts with zeros up to the old length', async () => {
    const log = join(work, 'overwrite.log');
    const server = await serveInto(log, 'w');
    try {
      const before = statSync(log).size;
      const bytes = await afterCopytruncate(log, server.url);
      expect(bytes.length).toBeGreaterThan(before);
      expect(bytes.subarray(0, before).every((b) => b === 0)).toBe(true);
    } finally {
      await server.stop();
    }
  });
});
