/**
 * `ferry` has V8 optimize only the functions that stay hot (bin/interrupt-budget.js says why):
 * a client command (every command but `serve`) raises V8's interrupt budget before the bundle
 * loads; `ferry serve` starts with TurboFan off and raises it with TurboFan back on, once ready
 * (bin/serve-start.js); a budget named on node's command line is left alone. Recorded by a
 * preload that wraps `v8.setFlagsFromString` and writes every flag set, in order, and what
 * bin/ferry.js says a client command set, as they are set and when the process exits. Structure only: no timings.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FERRY_BIN } from '../helpers/cli.js';
import { startServer } from '../helpers/server.js';

const budget = createRequire(import.meta.url)('../../bin/interrupt-budget.js') as { FERRY_INTERRUPT_BUDGET: number; BUDGET_FLAG: string; CLIENT_FLAGS_KEY: symbol; CLIENT_BUILTINS: string[] };
const dir = mkdtempSync(join(tmpdir(), 'ferry-v8-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RECORDER = join(dir, 'record-flags.cjs');
writeFileSync(
  RECORDER,
  `const v8 = require('node:v8');
const fs = require('node:fs');
const set = [];
// Node's built-in modules loaded when the interrupt budget was set, and at the end.
let atBudget = null;
const write = () => {
  const said = globalThis[Symbol.for('ferry.client.v8Flags')];
  fs.writeFileSync(process.env.RECORD_FLAGS_TO + '.tmp', JSON.stringify({ set, said: said ?? null, atBudget, atEnd: process.moduleLoadList }));
  fs.renameSync(process.env.RECORD_FLAGS_TO + '.tmp', process.env.RECORD_FLAGS_TO);
};
const original = v8.setFlagsFromString;
// Written at each call too: a server may end by its signal, which runs no exit handler.
v8.setFlagsFromString = (flag) => {
  set.push(String(flag));
  if (String(flag).startsWith('--interrupt-budget') && atBudget === null) atBudget = [...process.moduleLoadList];
  write();
  return original(flag);
};
write();
process.on('exit', write);
`,
);

interface Recorded {
  set: string[];
  said: string[] | null;
  /** process.moduleLoadList when the budget was set (null: never), and at the end. */
  atBudget: string[] | null;
  atEnd: string[];
}

let runs = 0;
/**
 * Runs bin/ferry.js with `args` (node flags before it), returning the V8 flags it set. The
 * recorder comes through NODE_OPTIONS: a node started with options of its own runs the ES
 * module bundle, without them the cached client (bin/client-code-cache.js); both are covered.
 */
function flagsOf(args: string[], nodeFlags: string[] = [], env: Record<string, string> = {}): Recorded {
  const out = join(dir, `flags-${runs++}.json`);
  execFileSync(process.execPath, [...nodeFlags, FERRY_BIN, ...args], {
    env: { ...process.env, NODE_OPTIONS: `--require ${RECORDER}`, RECORD_FLAGS_TO: out, FERRY_CONFIG: join(dir, 'no-config.json'), ...env },
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(readFileSync(out, 'utf8')) as Recorded;
}

/** Names of the public built-in modules in a moduleLoadList (`NativeModule http` -> `http`). */
const publicBuiltins = (list: string[]) =>
  list.filter((m) => m.startsWith('NativeModule ') && !m.includes('internal/') && !m.startsWith('NativeModule _')).map((m) => m.slice('NativeModule '.length));

const BUDGET_FLAG = `--interrupt-budget=${budget.FERRY_INTERRUPT_BUDGET}`;
const budgets = (set: string[]) => set.filter((f) => f.startsWith('--interrupt-budget'));

/**
 * Runs `ferry serve` on a fresh data directory until the heap is settled after its start (the
 * flags of the ready line are set before that), stops it, and returns the V8 flags it set.
 */
async function serveFlagsOf(nodeFlags: string[] = []): Promise<string[]> {
  const out = join(dir, `flags-${runs++}.json`);
  const data = join(dir, `data-${runs}`);
  const child = spawn(process.execPath, [...nodeFlags, '--require', RECORDER, FERRY_BIN, 'serve', '--addr', '127.0.0.1:0', '--data', data, '--log-level', 'debug'], {
    env: { ...process.env, RECORD_FLAGS_TO: out, FERRY_ADMIN_TOKEN: 'v8-flags-test-Qz7kLm2pR9vW4tY6uB1nC3eD5fG8', FERRY_CONFIG: join(dir, 'no-config.json') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  for await (const line of createInterface({ input: child.stdout })) if (line.includes('heap settled after start')) break;
  child.kill('SIGTERM');
  await exited;
  return (JSON.parse(readFileSync(out, 'utf8')) as { set: string[] }).set;
}

describe('V8 interrupt budget (bin/interrupt-budget.js)', () => {
  it('raises the interrupt budget to eight times V8 default for client commands, before any command runs', () => {
    expect(budget.FERRY_INTERRUPT_BUDGET).toBe(8 * 67_584);
    expect(budget.BUDGET_FLAG).toBe(BUDGET_FLAG);
    expect(budget.CLIENT_FLAGS_KEY).toBe(Symbol.for('ferry.client.v8Flags'));
    for (const args of [['--version'], ['sync', '--help'], ['--debug', 'put', '--help']]) {
      const r = flagsOf(args);
      expect(budgets(r.set)).toEqual([BUDGET_FLAG]);
      expect(r.said).toEqual([BUDGET_FLAG]);
    }
  });

  it('ferry serve raises it once ready, with TurboFan back on, and not for its help', async () => {
    const help = flagsOf(['serve', '--help']);
    expect(budgets(help.set)).toEqual([]);
    expect(help.said).toBeNull();
    const set = await serveFlagsOf();
    expect(budgets(set)).toEqual([BUDGET_FLAG]);
    // Off for the start, then on again with the budget (bin/serve-start.js).
    expect(set.indexOf('--no-opt')).toBeGreaterThanOrEqual(0);
    expect(set.indexOf('--no-opt')).toBeLessThan(set.indexOf('--opt'));
    expect(set.indexOf('--opt')).toBeLessThan(set.indexOf(BUDGET_FLAG));
  }, 60_000);

  it("ferry serve leaves a budget named on node's command line alone", async () => {
    const set = await serveFlagsOf(['--interrupt-budget=100000']);
    expect(budgets(set)).toEqual([]);
    expect(set).toContain('--opt'); // the start's own flags still come and go
  }, 60_000);

  it("leaves a budget named on node's command line alone", () => {
    for (const flag of ['--interrupt-budget=100000', '--interrupt_budget=100000']) {
      const r = flagsOf(['--version'], [flag]);
      expect(budgets(r.set)).toEqual([]);
      expect(r.said).toBeNull();
    }
  });
});

describe("the budget and Node's code cache for its built-in modules (bin/interrupt-budget.js)", () => {
  it('sets the budget only after the built-ins a client command loads, so they come from the cache', async () => {
    const server = await startServer({ dataDir: join(dir, 'server-data') });
    try {
      const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken };
      mkdirSync(join(dir, 'tree/sub'), { recursive: true });
      writeFileSync(join(dir, 'small.txt'), 'a small file\n');
      writeFileSync(join(dir, 'tree/sub/one.txt'), 'one\n');
      const commands = [['put', 'small.txt', '/small.txt'], ['get', '/small.txt', 'back.txt'], ['ls', '/'], ['sync', 'tree', 'ferry:/tree'], ['--version']];
      // Without node options (the cached client), and with one (the ES module bundle).
      for (const [args, nodeFlags] of [...commands.map((c) => [c, []]), ...commands.map((c) => [c, ['--no-warnings']])]) {
        const r = flagsOf(args, nodeFlags, env);
        expect(budgets(r.set)).toEqual([BUDGET_FLAG]);
        const before = new Set(r.atBudget);
        const after = r.atEnd.filter((m) => !before.has(m));
        // No public built-in compiled without the cache, and few of Node's internal ones (lazy
        // parts such as crypto.webcrypto: a handful, against ~90 when the budget came first).
        expect({ args, nodeFlags, loadedAfter: publicBuiltins(after) }).toEqual({ args, nodeFlags, loadedAfter: [] });
        // The cached client: Node's signal binding alone; the ES module bundle: a sync to a
        // server 12 (the loader's lazy parts, webcrypto, undici's parse_args and mime...).
        expect({ args, nodeFlags, after: after.length < (nodeFlags.length === 0 ? 4 : 16) }).toEqual({ args, nodeFlags, after: true });
      }
      // The list holds nothing these commands would not load without it (node's own budget: no list loaded).
      const loaded = new Set<string>();
      for (const args of commands.slice(0, 4)) for (const m of publicBuiltins(flagsOf(args, ['--interrupt-budget=100000'], env).atEnd)) loaded.add(m);
      expect(budget.CLIENT_BUILTINS.filter((m) => !loaded.has(m))).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 300_000); // fourteen CLI runs and a server: seconds each on a busy 2-core machine
});
