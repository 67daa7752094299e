/**
 * Packaging: the Dockerfile's structure (no Docker engine on this machine or in CI to build
 * it), the systemd unit under `systemd-analyze verify`, and the Grafana dashboard against
 * the metric names the server really exports, scraped with the metrics-only token.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';
import { cliEnv, FERRY_BIN } from '../helpers/cli.js';
import { waitFor } from '../helpers/e2e.js';
import { startServer } from '../helpers/server.js';

const root = join(import.meta.dirname, '../..');

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: Instruction | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) return;
    if (pending && line.startsWith('#')) return;
    const cont = line.endsWith('\\');
    const body = cont ? line.slice(0, -1).trim() : line;
    if (pending) pending.args += ' ' + body;
    else {
      const m = /^([A-Za-z]+)\s+(.*)$/.exec(body);
      if (!m) throw new Error(`Dockerfile line ${i + 1}: not an instruction: ${raw}`);
      pending = { op: m[1].toUpperCase(), args: m[2], line: i + 1 };
    }
    if (!cont) {
      out.push(pending);
      pending = undefined;
    }
  });
  if (pending) throw new Error('Dockerfile ends inside a continued instruction');
  return out;
}

describe('deploy/Dockerfile', () => {
  const all = parseDockerfile(readFileSync(join(root, 'deploy/Dockerfile'), 'utf8'));
  const stages: Instruction[][] = [];
  for (const ins of all) {
    if (ins.op === 'FROM') stages.push([]);
    stages[stages.length - 1].push(ins);
  }
  const final = stages[stages.length - 1];
  const known = new Set(['FROM', 'RUN', 'COPY', 'ADD', 'ENV', 'ARG', 'WORKDIR', 'USER', 'VOLUME', 'EXPOSE', 'HEALTHCHECK', 'ENTRYPOINT', 'CMD', 'LABEL', 'STOPSIGNAL', 'SHELL', 'ONBUILD']);

  it('is multi-stage, and its final stage runs as a non-root user with a /data volume and a health check', () => {
    expect(all[0].op).toBe('FROM');
    for (const ins of all) expect(known.has(ins.op), `line ${ins.line}: ${ins.op}`).toBe(true);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const user = final.filter((i) => i.op === 'USER').pop();
    expect(user).toBeDefined();
    expect(user!.args.split(':')[0]).not.toMatch(/^(root|0)$/);
    // README: "the unprivileged user `ferry` (uid 7373)".
    expect(user!.args.split(':')[0]).toBe('ferry');
    expect(final.some((i) => i.op === 'RUN' && /useradd\b[^&]*--uid 7373\b[^&]*\bferry\b/.test(i.args))).toBe(true);
    expect(final.some((i) => i.op === 'VOLUME' && /["\s[]?\/data["\s\]]?/.test(i.args))).toBe(true);
    const health = final.find((i) => i.op === 'HEALTHCHECK');
    expect(health?.args).toMatch(/\/healthz/);
    expect(final.some((i) => i.op === 'ENTRYPOINT' && i.args.includes('bin/ferry.js'))).toBe(true);
    // The final stage has no compilers: nothing is installed there with apt.
    expect(final.some((i) => i.op === 'RUN' && /apt-get install/.test(i.args))).toBe(false);
  });

  it('copies only files that exist in the repository, and stages that exist', () => {
    const names = new Set(stages.map((s) => / AS (\S+)/i.exec(s[0].args)?.[1]).filter(Boolean));
    for (const ins of all.filter((i) => i.op === 'COPY')) {
      const parts = ins.args.split(/\s+/);
      const from = parts.find((p) => p.startsWith('--from='));
      const sources = parts.filter((p) => !p.startsWith('--')).slice(0, -1);
      if (from) expect(names.has(from.slice(7)), `line ${ins.line}`).toBe(true);
      else for (const src of sources) expect(existsSync(join(root, src)), `line ${ins.line}: ${src}`).toBe(true);
    }
  });

  // The image was built from src/ alone while `npm run build` also bundles web/ (Vite, through
  // scripts/build-web.mjs): the build stage failed at its last step. The build reads the
  // package's tsconfig, src/ (tsc; test/ and benchmarks/ are not shipped), the scripts it
  // runs, and what those scripts name relative to themselves (`new URL('../web/…')`).
  it('copies everything `npm run build` reads into the build stage before the build runs', () => {
    const build = stages[0];
    const run = build.findIndex((i) => i.op === 'RUN' && /\bnpm run build\b/.test(i.args));
    expect(run).toBeGreaterThan(0);
    const copied = new Set(build.slice(0, run).filter((i) => i.op === 'COPY').flatMap((i) => i.args.split(/\s+/).filter((p) => !p.startsWith('--')).slice(0, -1)));
    const command = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.build as string;
    const scripts = [...command.matchAll(/node (scripts\/\S+\.mjs)/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(1);
    const read = new Set(['package.json', 'tsconfig.json', 'src', 'scripts']);
    for (const script of scripts) {
      for (const m of readFileSync(join(root, script), 'utf8').matchAll(/['"`]\.\.\/([\w.-]+)/g)) if (m[1] !== 'dist') read.add(m[1]);
    }
    expect(read).toContain('web');
    for (const path of read) expect(copied.has(path), `the build reads ${path}`).toBe(true);
  });

  it('the health check command parses as the JSON exec form', () => {
    const health = final.find((i) => i.op === 'HEALTHCHECK')!;
    const cmd = /CMD\s+(\[.*\])$/.exec(health.args)?.[1];
    expect(JSON.parse(cmd!)[0]).toBe('node');
  });
});

describe('deploy/ferry.service', () => {
  const verify = (file: string) => spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });

  it('passes systemd-analyze verify with no warning, and is hardened', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-unit-'));
    const unit = readFileSync(join(root, 'deploy/ferry.service'), 'utf8');
    writeFileSync(join(dir, 'ferry.service'), unit);
    const r = verify(join(dir, 'ferry.service'));
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const line of ['User=ferry', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'CapabilityBoundingSet=', 'ExecReload=/bin/kill -HUP $MAINPID']) {
      expect(unit.split('\n')).toContain(line);
    }
    // README: "an empty capability set and a system-call filter".
    expect(unit).toMatch(/^AmbientCapabilities=$/m);
    expect(unit).toMatch(/^SystemCallFilter=@system-service$/m);
  });

  // The token file is 0600 in a 0700 directory of the ferry user: the login line must read it
  // with sudo and run `ferry login` as the operator (whose config keeps the login), then work
  // as written. Run here against a real first start, with `sudo` and `ferry` as the install
  // makes them (root runs the test: its sudo is a plain exec).
  it('its login line reads the token with sudo and logs in as written', async () => {
    const unit = readFileSync(join(root, 'deploy/ferry.service'), 'utf8');
    const line = /^#\s+(sudo cat (\S+) \| ferry login (\S+) --token -)$/m.exec(unit);
    expect(line?.slice(2)).toEqual(['/var/lib/ferry/initial-admin-token', 'http://127.0.0.1:7373']);
    expect(unit).toMatch(/^StateDirectory=ferry$/m);
    expect(unit).toMatch(/^#\s+ln -s \/usr\/lib\/ferry\/bin\/ferry\.js \/usr\/local\/bin\/ferry$/m);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-unit-login-'));
    const server = await startServer({ dataDir: join(dir, 'data'), env: { FERRY_ADMIN_TOKEN: undefined } });
    try {
      const tokenFile = join(dir, 'data', 'initial-admin-token');
      await waitFor(() => existsSync(tokenFile), 30_000);
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'sudo'), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
      symlinkSync(FERRY_BIN, join(bin, 'ferry'));
      const command = line![1].replace(line![2], tokenFile).replace(line![3], server.url);
      const env = cliEnv({ PATH: `${bin}:${process.env.PATH}`, FERRY_CONFIG: join(dir, 'config.json') });
      const login = spawnSync('sh', ['-c', command], { env, encoding: 'utf8', timeout: 60_000 });
      expect({ status: login.status, stderr: login.stderr }).toMatchObject({ status: 0 });
      const ls = spawnSync('ferry', ['whoami', '--json'], { env, encoding: 'utf8', timeout: 60_000 });
      expect(JSON.parse(ls.stdout)).toMatchObject({ server: server.url, user: 'admin' });
    } finally {
      await server.stop();
    }
  });

  it('the check catches a mistake (a misspelt key, a bad value)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-unit-'));
    const unit = readFileSync(join(root, 'deploy/ferry.service'), 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=bogus').replace('NoNewPrivileges=yes', 'NoNewPrivilegez=yes');
    writeFileSync(join(dir, 'ferry.service'), unit);
    const r = verify(join(dir, 'ferry.service'));
    expect(r.stderr).toMatch(/protect system value/i);
    expect(r.stderr).toMatch(/NoNewPrivilegez/);
  });
});

describe('metrics for Prometheus and the Grafana dashboard', () => {
  let t: TestServer;
  const metricsToken = 'metrics-only-secret-1234567890';
  beforeAll(async () => {
    t = await startTestServer({ metricsToken });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('the metrics-only token opens /metrics and nothing else; other users need the admin role', async () => {
    expect((await t.api('/metrics', { token: metricsToken })).status).toBe(200);
    expect((await t.api('/api/v1/admin/stats', { token: metricsToken })).status).toBe(401);
    expect((await t.api('/api/v1/list/', { token: metricsToken })).status).toBe(401);
    expect((await t.api('/metrics', { token: null })).status).toBe(401);
    expect((await t.api('/metrics', { token: metricsToken + 'x' })).status).toBe(401);
    await addUser(t, 'metrics-user');
    const user = await tokenFor(t, 'metrics-user');
    expect((await t.api('/metrics', { token: user.token })).status).toBe(403);
    expect((await t.api('/metrics')).status).toBe(200); // the admin token
  });

  it("reports storage used and each user's volume", async () => {
    await addUser(t, 'vol');
    const tok = await tokenFor(t, 'vol');
    expect((await uploadBuffer(t, '/a.bin', Buffer.alloc(3000, 7), 1000, { token: tok.token })).status).toBe(200);
    expect((await uploadBuffer(t, '/b.bin', Buffer.alloc(3000, 7), 1000, { token: tok.token })).status).toBe(200);
    const text = await (await t.api('/metrics', { token: metricsToken })).text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1]);
    expect(value(/^ferry_user_bytes\{user="vol"\} (\d+)$/m)).toBe(6000);
    expect(value(/^ferry_user_files\{user="vol"\} (\d+)$/m)).toBe(2);
    // Six 1000-byte pieces of the same bytes: one distinct chunk.
    expect(value(/^ferry_storage_stored_bytes (\d+)$/m)).toBe(1000);
    expect(value(/^ferry_storage_logical_bytes (\d+)$/m)).toBe(6000);
    expect(value(/^ferry_user_transfer_bytes_total\{user="vol",direction="in"\} (\d+)$/m)).toBeGreaterThanOrEqual(1000);
  });

  it('every metric the dashboard queries is one the server exports', async () => {
    const dashboard = JSON.parse(readFileSync(join(root, 'deploy/grafana-dashboard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const text = await (await t.api('/metrics', { token: metricsToken })).text();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    expect(exported.size).toBeGreaterThan(10);
    const used = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const target of p.targets) for (const m of target.expr.matchAll(/\bferry_[a-z0-9_]+/g)) used.add(m[0].replace(/_(bucket|sum|count)$/, ''));
    }
    expect(used.size).toBeGreaterThan(10);
    for (const name of used) expect(exported.has(name), `${name} is not exported`).toBe(true);
  });
});
