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
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FERRY_BIN } from '../helpers/cli.js';

const budget = createRequire(import.meta.url)('../../bin/interrupt-budget.js') as { FERRY_INTERRUPT_BUDGET: number; BUDGET_FLAG: string; CLIENT_FLAGS_KEY: symbol };
const dir = mkdtempSync(join(tmpdir(), 'ferry-v8-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RECORDER = join(dir, 'record-flags.cjs');
writeFileSync(
  RECORDER,
  `const v8 = require('node:v8');
const fs = require('node:fs');
const set = [];
const write = () => {
  const said = globalThis[Symbol.for('ferry.client.v8Flags')];
  fs.writeFileSync(process.env.RECORD_FLAGS_TO + '.tmp', JSON.stringify({ set, said: said ?? null }));
  fs.renameSync(process.env.RECORD_FLAGS_TO + '.tmp', process.env.RECORD_FLAGS_TO);
};
const original = v8.setFlagsFromString;
// Written at each call too: a server may end by its signal, which runs no exit handler.
v8.setFlagsFromString = (flag) => { set.push(String(flag)); write(); return original(flag); };
write();
process.on('exit', write);
`,
);

let runs = 0;
/** Runs bin/ferry.js with `args` (node flags before it), returning the V8 flags it set. */
function flagsOf(args: string[], nodeFlags: string[] = []): { set: string[]; said: string[] | null } {
  const out = join(dir, `flags-${runs++}.json`);
  execFileSync(process.execPath, [...nodeFlags, '--require', RECORDER, FERRY_BIN, ...args], {
    env: { ...process.env, RECORD_FLAGS_TO: out, FERRY_CONFIG: join(dir, 'no-config.json') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(readFileSync(out, 'utf8')) as { set: string[]; said: string[] | null };
}

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
