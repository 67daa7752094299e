/**
 * A real Caddy (Debian's caddy 2.6) in front of a Ferry server, for tests: HTTPS with
 * `tls internal` (Caddy's own local CA, kept in a temporary directory, never installed into
 * the system's trust store), HTTP/1.1, HTTP/2 and HTTP/3 on one port, the configuration of
 * docs/deploy.md with test ports. Started with its admin API off, stopped by its pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort } from '../../benchmarks/peers/net.js';

export interface RunningCaddy {
  /** `https://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** PEM of Caddy's local root CA (clients trust it). */
  ca: string;
  /** base64 SHA-256 of the site certificate's public key (Chromium's --ignore-certificate-errors-spki-list). */
  spki: string;
  output(): string;
  stop(): Promise<void>;
}

/** The Caddyfile of docs/deploy.md, for 127.0.0.1 and test ports. */
export function testCaddyfile(opts: { httpsPort: number; httpPort: number; upstream: string; storage: string }): string {
  return `{
	admin off
	skip_install_trust
	http_port ${opts.httpPort}
	https_port ${opts.httpsPort}
	storage file_system ${opts.storage}
}

https://127.0.0.1:${opts.httpsPort} {
	bind 127.0.0.1
	tls internal
	reverse_proxy ${opts.upstream} {
		flush_interval -1
	}
}
`;
}

async function waitFor(path: string, alive: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (!alive()) throw new Error(`caddy exited before it wrote ${path}`);
    if (Date.now() > end) throw new Error(`caddy did not write ${path} in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startCaddy(dir: string, upstream: string): Promise<RunningCaddy> {
  const httpsPort = await freePort();
  const httpPort = await freePort();
  const storage = join(dir, 'caddy-data');
  const file = join(dir, 'Caddyfile');
  writeFileSync(file, testCaddyfile({ httpsPort, httpPort, upstream, storage }));
  const child: ChildProcess = spawn('caddy', ['run', '--config', file, '--adapter', 'caddyfile'], {
    env: { ...process.env, XDG_DATA_HOME: join(dir, 'xdg'), XDG_CONFIG_HOME: join(dir, 'xdg'), HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (!alive()) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForPort(httpsPort, alive, 'caddy', 20_000);
    const leaf = join(storage, 'certificates', 'local', '127.0.0.1', '127.0.0.1.crt');
    const root = join(storage, 'pki', 'authorities', 'local', 'root.crt');
    await waitFor(leaf, alive);
    await waitFor(root, alive);
    const cert = new X509Certificate(readFileSync(leaf));
    const spki = createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
    return { url: `https://127.0.0.1:${httpsPort}`, port: httpsPort, ca: readFileSync(root, 'utf8'), spki, output: () => log, stop };
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${log}`);
  }
}
