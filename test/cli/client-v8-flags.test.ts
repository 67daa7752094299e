/**
 * A client command (every `ferry` command but `serve`) has V8 optimize only the functions that
 * stay hot: bin/ferry.js raises V8's interrupt budget before the bundle loads
 * (bin/client-start.js says why); `ferry serve` keeps V8's default (it has its own start,
 * bin/serve-start.js), and a budget named on node's command line is left alone. Recorded by a
 * preload that wraps `v8.setFlagsFromString` and writes every flag set, and what bin/ferry.js
 * says it set, when the process exits. Structure only: no timings.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FERRY_BIN } from '../helpers/cli.js';

const clientStart = createRequire(import.meta.url)('../../bin/client-start.js') as { CLIENT_INTERRUPT_BUDGET: number; CLIENT_FLAGS_KEY: symbol };
const dir = mkdtempSync(join(tmpdir(), 'ferry-v8-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RECORDER = join(dir, 'record-flags.cjs');
writeFileSync(
  RECORDER,
  `const v8 = require('node:v8');
const set = [];
const original = v8.setFlagsFromString;
v8.setFlagsFromString = (flag) => { set.push(String(flag)); return original(flag); };
process.on('exit', () => {
  const said = globalThis[Symbol.for('ferry.client.v8Flags')];
  require('node:fs').writeFileSync(process.env.RECORD_FLAGS_TO, JSON.stringify({ set, said: said ?? null }));
});
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

const BUDGET_FLAG = `--interrupt-budget=${clientStart.CLIENT_INTERRUPT_BUDGET}`;
const budgets = (set: string[]) => set.filter((f) => f.startsWith('--interrupt-budget'));

describe('V8 flags of a client command (bin/client-start.js)', () => {
  it('raises the interrupt budget to eight times V8 default for client commands, before any command runs', () => {
    expect(clientStart.CLIENT_INTERRUPT_BUDGET).toBe(8 * 67_584);
    expect(clientStart.CLIENT_FLAGS_KEY).toBe(Symbol.for('ferry.client.v8Flags'));
    for (const args of [['--version'], ['sync', '--help'], ['--debug', 'put', '--help']]) {
      const r = flagsOf(args);
      expect(budgets(r.set)).toEqual([BUDGET_FLAG]);
      expect(r.said).toEqual([BUDGET_FLAG]);
    }
  });

  it('leaves ferry serve with V8 default budget', () => {
    const r = flagsOf(['serve', '--help']);
    expect(budgets(r.set)).toEqual([]);
    expect(r.said).toBeNull();
  });

  it("leaves a budget named on node's command line alone", () => {
    for (const flag of ['--interrupt-budget=100000', '--interrupt_budget=100000']) {
      const r = flagsOf(['--version'], [flag]);
      expect(budgets(r.set)).toEqual([]);
      expect(r.said).toBeNull();
    }
  });
});
