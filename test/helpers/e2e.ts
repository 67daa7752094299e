/**
 * One end-to-end world: a temporary directory, a real `ferry serve` in it, and a `ferry`
 * CLI runner whose config lives in the same directory (FERRY_CONFIG, XDG_CONFIG_HOME),
 * authenticated with the server's admin token through FERRY_SERVER / FERRY_TOKEN.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Capabilities } from '../../src/core/protocol.js';
import { runFerry, spawnFerry, type CliOptions, type CliResult } from './cli.js';
import { tempDir } from './files.js';
import { readMetric, readMetricSeries, startServer, type RunningServer } from './server.js';

export interface E2EWorld {
  dir: string;
  server: RunningServer;
  caps: Capabilities;
  /** Env for the CLI: isolated config, this server, the admin token. */
  env: Record<string, string | undefined>;
  ferry: (args: string[], options?: CliOptions) => Promise<CliResult>;
  spawn: (args: string[], options?: CliOptions) => ReturnType<typeof spawnFerry>;
  metric: (name: string) => Promise<number>;
  /** Requests the server answered so far, by `METHOD route` (the route's pattern), from `ferry_http_requests_total`. */
  requests: () => Promise<Map<string, number>>;
  /** Kills the server with SIGKILL and starts it again on the same port and data. */
  restartServer: (how?: 'kill' | 'stop') => Promise<void>;
  close: () => Promise<void>;
}

/**
 * `extraArgs`: more `ferry serve` flags (e.g. `--trash-days 7`), kept across restarts. `inRam`:
 * the world's directory (the server's data, the CLI's files) on a RAM file system where there
 * is one, for suites whose subject is not the disk (see RAM_DIR in ./files.ts).
 */
export async function startWorld(options: { extraArgs?: string[]; inRam?: boolean } = {}): Promise<E2EWorld> {
  const tmp = await tempDir('ferry-e2e-', options.inRam === true);
  const dataDir = join(tmp.path, 'data');
  await mkdir(dataDir);
  let server: RunningServer;
  try {
    server = await startServer({ dataDir, extraArgs: options.extraArgs });
  } catch (err) {
    await tmp.cleanup();
    throw err;
  }
  const caps = (await (await fetch(`${server.url}/api/v1/capabilities`)).json()) as Capabilities;
  const world: E2EWorld = {
    dir: tmp.path,
    server,
    caps,
    env: {
      FERRY_CONFIG: join(tmp.path, 'config', 'config.json'),
      XDG_CONFIG_HOME: join(tmp.path, 'xdg'),
      HOME: tmp.path,
      FERRY_SERVER: server.url,
      FERRY_TOKEN: server.adminToken,
    },
    ferry: (args, options = {}) => runFerry(args, { ...options, env: { ...world.env, ...options.env } }),
    spawn: (args, options = {}) => spawnFerry(args, { ...options, env: { ...world.env, ...options.env } }),
    metric: (name) => readMetric(world.server, name),
    requests: async () => {
      const out = new Map<string, number>();
      for (const s of await readMetricSeries(world.server, 'ferry_http_requests_total')) {
        const key = `${s.labels.method} ${s.labels.route}`;
        out.set(key, (out.get(key) ?? 0) + s.value);
      }
      return out;
    },
    restartServer: async (how = 'kill') => {
      const old = world.server;
      if (how === 'kill') await old.kill();
      else await old.stop();
      server = await startServer({ dataDir, addr: `127.0.0.1:${old.port}`, adminToken: old.adminToken, extraArgs: options.extraArgs });
      world.server = server;
    },
    close: async () => {
      try {
        await world.server.stop();
      } finally {
        await tmp.cleanup();
      }
    },
  };
  return world;
}

/** Polls `fn` every `everyMs` until it returns true (or throws after `timeoutMs`). */
export async function waitFor(fn: () => Promise<boolean> | boolean, timeoutMs = 60_000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Asserts a CLI run succeeded, with its stderr in the failure message. */
export function ok(r: CliResult): CliResult {
  if (r.code !== 0) throw new Error(`ferry exited ${r.code ?? r.signal}:\n${r.stderr}`);
  return r;
}
