/**
 * nginx on a loopback port with a throwaway configuration: WebDAV PUT (what `curl -T`
 * uploads to) and static GET with sendfile (what `curl` downloads from).
 *
 * Runs in the foreground (`daemon off`) so the spawned process is the master and its
 * workers are its children. All temp paths point into the bench directory: request bodies
 * are spooled to client_body_temp_path and renamed into place, so it must be on the same
 * file system as the root.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, waitForPort } from './net.js';
import { isAlive, stopChild, type PeerServer } from './server.js';
import { pinned } from '../lib/pin.js';

export interface Nginx extends PeerServer {
  url: string;
  /** Where PUT files land and GET files come from. */
  root: string;
}

export async function startNginx(dir: string): Promise<Nginx> {
  const root = join(dir, 'files');
  await mkdir(root, { recursive: true });
  for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(join(dir, `${t}-temp`), { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const asRoot = process.getuid?.() === 0;
  await writeFile(
    conf,
    `daemon off;
master_process on;
worker_processes auto;
${asRoot ? 'user root;' : ''}
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30s;
  client_max_body_size 0;
  client_body_temp_path ${join(dir, 'body-temp')};
  proxy_temp_path ${join(dir, 'proxy-temp')};
  fastcgi_temp_path ${join(dir, 'fastcgi-temp')};
  uwsgi_temp_path ${join(dir, 'uwsgi-temp')};
  scgi_temp_path ${join(dir, 'scgi-temp')};
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / {
      dav_methods PUT DELETE MKCOL;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
}
`,
  );
  const t0 = performance.now();
  const child = spawn(...pinned('server', 'nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')]), { stdio: 'ignore' });
  await waitForPort(port, () => isAlive(child), 'nginx');
  const readySeconds = (performance.now() - t0) / 1000;
  return { name: 'nginx', pid: child.pid!, readySeconds, url: `http://127.0.0.1:${port}`, root, stop: () => stopChild(child) };
}
