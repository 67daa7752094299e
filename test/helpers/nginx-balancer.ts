/**
 * nginx as a load balancer in front of several `ferry serve` nodes (the cluster test and the
 * cluster benchmark), on a free loopback port with a throwaway configuration in `dir`.
 *
 * Round robin; a node that refuses connections is skipped (`proxy_next_upstream error`) and
 * left alone for a few seconds. Bodies stream through unbuffered both ways, as in the
 * deployment example of docs/cluster.md: a chunk PUT is not spooled to nginx's disk first.
 * {@link startNginx} runs any other configuration (test/fronts/nginx.test.ts: docs/deploy.md's).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, waitForPort } from '../../benchmarks/peers/net.js';
import { isAlive, stopChild } from '../../benchmarks/peers/server.js';

export interface Balancer {
  url: string;
  stop(): Promise<void>;
}

/** nginx from Debian's package, installed when missing (CI installs it: .ci/debian-packages). */
function ensureNginx(): void {
  if (existsSync('/usr/sbin/nginx')) return;
  if (process.getuid?.() !== 0) throw new Error('the cluster test needs nginx (apt-get install nginx) or root to install it');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'nginx'], { stdio: 'ignore', env });
}

export async function startBalancer(dir: string, upstreams: readonly string[]): Promise<Balancer> {
  const servers = upstreams.map((u) => `    server ${new URL(u).host} max_fails=1 fail_timeout=5s;`).join('\n');
  const running = await startNginx(
    dir,
    (port) => `  client_max_body_size 0;
  upstream ferry {
${servers}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://ferry;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_connect_timeout 2s;
      proxy_next_upstream error timeout http_502;
    }
  }`,
  );
  return { url: `http://127.0.0.1:${running.port}`, stop: running.stop };
}

/**
 * nginx on a free port with `http` (given the port: upstreams and server blocks) inside an
 * `http {}` block whose logs and temporary files are in `dir`, and nothing else of its own (no
 * body size limit: a configuration under test sets the ones it needs).
 */
export async function startNginx(dir: string, http: (port: number) => string): Promise<{ port: number; stop(): Promise<void> }> {
  ensureNginx();
  await mkdir(dir, { recursive: true });
  for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(join(dir, `${t}-temp`), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  const pidFile = join(dir, 'nginx.pid');
  const errorLog = join(dir, 'error.log');
  const config = (port: number) => `daemon off;
master_process on;
worker_processes 2;
${process.getuid?.() === 0 ? 'user root;' : ''}
pid ${pidFile};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body-temp')};
  proxy_temp_path ${join(dir, 'proxy-temp')};
  fastcgi_temp_path ${join(dir, 'fastcgi-temp')};
  uwsgi_temp_path ${join(dir, 'uwsgi-temp')};
  scgi_temp_path ${join(dir, 'scgi-temp')};
${http(port)}
}
`;
  // The port was free when asked for, but another process (suites start servers in parallel)
  // may bind it before nginx does: nginx then gives up saying so, and another port is tried.
  // nginx writes its PID file once it has bound the port; a connection before that could
  // reach whoever else holds the port.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    await writeFile(conf, config(port));
    await rm(pidFile, { force: true });
    const child = spawn('/usr/sbin/nginx', ['-p', dir, '-c', conf, '-e', errorLog], { stdio: 'ignore' });
    for (const end = Date.now() + 15_000; !existsSync(pidFile) && isAlive(child) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    if (!existsSync(pidFile)) {
      await stopChild(child);
      const said = await readFile(errorLog, 'utf8').catch(() => '');
      if (attempt < 3 && said.includes('Address already in use')) continue;
      throw new Error(`nginx did not start on ${port}: ${said}`);
    }
    await waitForPort(port, () => isAlive(child), 'nginx');
    return { port, stop: () => stopChild(child) };
  }
}
