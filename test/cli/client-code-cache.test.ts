/**
 * Client commands run dist/bundle/ferry-client.cjs compiled from the V8 code cache the build
 * wrote (bin/client-code-cache.js), and run the ES module bundle as before whenever that cache
 * does not fit: absent, made by another V8 or with other V8 flags, damaged, or when node was
 * started with options. Each case runs `put`, `ls` and `get` against a real server and checks
 * the bytes, and what the process recorded about the cache (a preload given through
 * NODE_OPTIONS, which is not one of node's command-line options). Cases that change the cache
 * run a copy of bin/ and dist/bundle/. Structure only: no timings.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv } from '../helpers/cli.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ferry-code-cache-'));
const RECORDER = join(dir, 'record-cache.cjs');
writeFileSync(
  RECORDER,
  `const v8 = require('node:v8');
const original = v8.setFlagsFromString;
// Node's built-in modules loaded when the client's V8 flag was set (bin/interrupt-budget.js).
let atFlag = null;
v8.setFlagsFromString = (flag) => {
  if (atFlag === null) atFlag = [...process.moduleLoadList];
  return original(flag);
};
process.on('exit', () => {
  const state = globalThis[Symbol.for('ferry.client.codeCache')];
  const after = atFlag === null ? null : process.moduleLoadList.filter((m) => !atFlag.includes(m));
  require('node:fs').writeFileSync(process.env.RECORD_CACHE_TO, JSON.stringify({ state: state ?? null, after }));
});
`,
);

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ dataDir: join(dir, 'server-data') });
}, 60_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A copy of bin/ and dist/bundle/ (node_modules and package.json linked) whose cache a test may change. */
function copyOfTheCli(name: string): string {
  const copy = join(dir, name);
  mkdirSync(join(copy, 'dist'), { recursive: true });
  cpSync(join(root, 'bin'), join(copy, 'bin'), { recursive: true });
  cpSync(join(root, 'dist/bundle'), join(copy, 'dist/bundle'), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  symlinkSync(join(root, 'package.json'), join(copy, 'package.json'));
  return copy;
}

const bundleOf = (cli: string) => join(cli, 'dist/bundle');

/** Rewrites the cache with `change` applied, and its CRC-32 in ferry-client.json to match (or not). */
function changeCache(cli: string, change: (cache: Buffer) => void, options: { fixCrc: boolean }): void {
  const file = join(bundleOf(cli), 'ferry-client.v8cache');
  const cache = readFileSync(file);
  change(cache);
  writeFileSync(file, cache);
  if (!options.fixCrc) return;
  const metaFile = join(bundleOf(cli), 'ferry-client.json');
  writeFileSync(metaFile, JSON.stringify({ ...JSON.parse(readFileSync(metaFile, 'utf8')), cacheCrc32: crc32(cache) }));
}

let runs = 0;
interface Run {
  stdout: string;
  stderr: string;
  /** What bin/client-code-cache.js recorded: 'used' or 'rejected' ran the cached client, anything else the ES module bundle (null: not asked). */
  state: string | null;
  /** Node's modules loaded after the client's V8 flag was set (compiled without Node's code cache). */
  after: string[];
}

function ferry(cli: string, args: string[], options: { nodeFlags?: string[]; nodeOptions?: string } = {}): Run {
  const record = join(dir, `cache-${runs++}.json`);
  const run = spawnSync(process.execPath, [...(options.nodeFlags ?? []), join(cli, 'bin/ferry.js'), ...args], {
    env: cliEnv({
      FERRY_SERVER: server.url,
      FERRY_TOKEN: server.adminToken,
      FERRY_CONFIG: join(dir, 'no-config.json'),
      NODE_OPTIONS: `--require ${RECORDER}${options.nodeOptions ? ` ${options.nodeOptions}` : ''}`,
      RECORD_CACHE_TO: record,
    }),
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  expect({ args, status: run.status, stderr: run.stderr }).toMatchObject({ args, status: 0 });
  return { stdout: run.stdout, stderr: run.stderr, ...(JSON.parse(readFileSync(record, 'utf8')) as { state: string | null; after: string[] }) };
}

/** put, ls and get of a fresh file through `cli`; the recorded cache states of the three. */
function roundTrip(cli: string, options: Parameters<typeof ferry>[2] = {}): Array<string | null> {
  const name = `file-${runs}.bin`;
  const body = randomBytes(3000);
  writeFileSync(join(dir, name), body);
  const put = ferry(cli, ['put', join(dir, name), `/cache/${name}`], options);
  const ls = ferry(cli, ['ls', '/cache'], options);
  expect(ls.stdout).toContain(name);
  expect(ls.stderr).toBe(''); // whatever became of the cache, nothing is said of it
  const back = join(dir, `back-${name}`);
  const get = ferry(cli, ['get', `/cache/${name}`, back], options);
  expect(readFileSync(back).equals(body)).toBe(true);
  return [put, ls, get].map((r) => r.state);
}

describe('the client code cache (bin/client-code-cache.js)', () => {
  it('is written by the build for this Node, and client commands run from it', () => {
    const meta = JSON.parse(readFileSync(join(root, 'dist/bundle/ferry-client.json'), 'utf8')) as { node: string; scriptCrc32: number; cacheCrc32: number };
    expect(meta.node).toBe(process.version);
    expect(crc32(readFileSync(join(root, 'dist/bundle/ferry-client.cjs')))).toBe(meta.scriptCrc32);
    expect(roundTrip(root)).toEqual(['used', 'used', 'used']);
    const version = ferry(root, ['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(version.state).toBe('used');
  }, 120_000);

  it('writes nothing at run time: a read-only copy runs from its cache', () => {
    const cli = copyOfTheCli('read-only');
    const bundle = bundleOf(cli);
    const before = readdirSync(bundle).map((f) => [f, statSync(join(bundle, f)).mtimeMs]);
    for (const f of readdirSync(bundle)) chmodSync(join(bundle, f), 0o444);
    chmodSync(bundle, 0o555);
    try {
      expect(roundTrip(cli)).toEqual(['used', 'used', 'used']);
    } finally {
      chmodSync(bundle, 0o755);
    }
    expect(readdirSync(bundle).map((f) => [f, statSync(join(bundle, f)).mtimeMs])).toEqual(before);
  }, 120_000);

  it('runs the ES module bundle when the cache is absent', () => {
    const cli = copyOfTheCli('absent');
    rmSync(join(bundleOf(cli), 'ferry-client.v8cache'));
    expect(roundTrip(cli)).toEqual(['absent', 'absent', 'absent']);
    expect(ferry(cli, ['--version']).stdout).toMatch(/^\d+\.\d+\.\d+/);
  }, 120_000);

  it("runs the ES module bundle when the cache is another V8's or was made with other V8 flags", () => {
    const cli = copyOfTheCli('other-node');
    changeCache(cli, (cache) => cache.writeUInt32LE(cache.readUInt32LE(4) ^ 1, 4), { fixCrc: true }); // the header's V8 version
    expect(roundTrip(cli)).toEqual(['another node', 'another node', 'another node']);
    // Seen before the client's flag is set: the ES module bundle's import() starts first, as it
    // always did, so Node's ES module loader comes from Node's code cache (a handful of its lazy
    // parts after the flag, against ~15 modules of it when the flag came first).
    const version = ferry(cli, ['--version']);
    expect(version.state).toBe('another node');
    expect(version.after.filter((m) => m.includes('/modules/esm/')).length).toBeLessThan(5);
    // Flags through NODE_OPTIONS change V8's flag hash: the build's cache no longer fits.
    expect(roundTrip(root, { nodeOptions: '--max-old-space-size=3000' })).toEqual(['other flags', 'other flags', 'other flags']);
  }, 120_000);

  it('runs the ES module bundle when the cache or the script is damaged, and says nothing', () => {
    const cli = copyOfTheCli('damaged');
    changeCache(cli, (cache) => cache.fill(0x5a, cache.length >> 1, (cache.length >> 1) + 64), { fixCrc: false });
    const version = ferry(cli, ['--version']);
    expect(version).toMatchObject({ state: 'damaged', stderr: '' });
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+/);
    expect(roundTrip(cli)).toEqual(['damaged', 'damaged', 'damaged']);
    const script = copyOfTheCli('damaged-script');
    writeFileSync(join(bundleOf(script), 'ferry-client.cjs'), readFileSync(join(bundleOf(script), 'ferry-client.cjs'), 'utf8').replace('ferry', 'fErry'));
    expect(roundTrip(script)).toEqual(['damaged', 'damaged', 'damaged']);
  }, 120_000);

  it('still runs when V8 rejects a cache its header let through (compiled from source)', () => {
    const cli = copyOfTheCli('rejected');
    changeCache(cli, (cache) => cache.writeUInt32LE(cache.readUInt32LE(8) + 1, 8), { fixCrc: true }); // the source's length
    expect(roundTrip(cli)).toEqual(['rejected', 'rejected', 'rejected']);
  }, 120_000);

  it('runs the ES module bundle, as before, for a node started with options (preloads, source maps)', () => {
    for (const nodeFlags of [['--enable-source-maps'], ['--require', RECORDER]]) {
      expect(roundTrip(root, { nodeFlags })).toEqual([null, null, null]);
      expect(ferry(root, ['--version'], { nodeFlags }).state).toBeNull();
    }
    expect(roundTrip(root, { nodeOptions: '--enable-source-maps' })).toEqual([null, null, null]);
  }, 120_000);
});
