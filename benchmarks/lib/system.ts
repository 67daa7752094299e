/** The machine: Debian packages the peers need, and what the results say it was. */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, hostname, loadavg, release, totalmem } from 'node:os';

/** Debian packages that provide the peers and the measuring tools. */
export const PEER_PACKAGES = ['nginx', 'openssh-server', 'openssh-client', 'rsync', 'rclone', 'curl', 'time'] as const;

function installed(pkg: string): boolean {
  try {
    const out = execFileSync('dpkg-query', ['-W', '-f', '${Status}', pkg], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    return out.includes('install ok installed');
  } catch {
    return false;
  }
}

/** Installs the missing packages with apt-get (as root), as the issue asks: one command on a fresh machine. */
export function ensurePackages(packages: readonly string[] = PEER_PACKAGES, log: (s: string) => void = () => {}): void {
  const missing = packages.filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`the bench needs these Debian packages: ${missing.join(' ')} (run as root, or apt-get install them)`);
  log(`installing ${missing.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'ignore', env });
  // The nginx package starts a system-wide nginx on port 80: the bench runs its own.
  if (missing.includes('nginx')) {
    try {
      execFileSync('nginx', ['-s', 'stop'], { stdio: 'ignore' });
    } catch {
      // not running (no systemd in a container): fine
    }
  }
}

export interface Machine {
  host: string;
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  distro: string;
  versions: Record<string, string>;
}

/** First line of a tool's version output, from stdout or stderr (`ssh -V`, `nginx -v` use stderr). */
function versionLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0].trim();
}

export function describeMachine(): Machine {
  let distro = '';
  try {
    distro = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // not Linux
  }
  return {
    host: hostname(),
    cpuModel: cpus()[0]?.model ?? '?',
    cpus: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    distro,
    versions: {
      nginx: versionLine('nginx', ['-v']),
      openssh: versionLine('ssh', ['-V']),
      rsync: versionLine('rsync', ['--version']),
      rclone: versionLine('rclone', ['--version']),
      // curl's first line goes on to list every library it links: the version is enough.
      curl: versionLine('curl', ['--version']).split(' (')[0],
    },
  };
}

export function loadAverage(): [number, number, number] {
  const [a, b, c] = loadavg();
  return [a, b, c];
}

