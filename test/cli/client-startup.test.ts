/**
 * What a client command's run loads (issue 15, the CLI's start): `ferry ls`, `stat`, `put`,
 * `get` and a no-change `sync` against a real server, run from the bundle (bin/ferry.js) with
 * a preload that records every module loaded, ES modules and CommonJS. Each loads its own
 * command and the client, and nothing of the server, the AWS SDK, ssh2, the database layer,
 * the logger, nor the command modules loaded by name (serve, remote). Then: a run of one command registers
 * only that command (src/cli/main.ts's programFor), with the same help and options as the
 * whole program has; and a short run leaves undici's HTTP parser (WebAssembly) to V8's
 * baseline compiler while the FastCDC kernel is still optimized (src/client/parser-budget.ts).
 * Structure only: no timings.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram, programFor } from '../../src/cli/main.js';
import { COMMAND_TABLE } from '../../src/cli/commands/index.js';
import { hits, modulesOf } from '../helpers/bundle-modules.js';
import { cliEnv, FERRY_BIN } from '../helpers/cli.js';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Never loaded by a client command. */
const SERVER_SIDE = [
  'dist/src/server/',
  'dist/src/metadata/',
  'node_modules/fastify/',
  'node_modules/kysely/',
  'node_modules/better-sqlite3/',
  'node_modules/pg/',
  'node_modules/pino/',
  'node_modules/prom-client/',
  'node_modules/@aws-sdk/',
  'node_modules/@smithy/',
  'node_modules/ssh2/',
  'node_modules/cli-progress/',
];

let w: E2EWorld;
let dir: string;
beforeAll(async () => {
  w = await startWorld();
  dir = join(w.dir, 'client');
  mkdirSync(join(dir, 'tree'), { recursive: true });
  writeFileSync(join(dir, 'small.txt'), 'a small file\n');
  for (let i = 0; i < 5; i++) writeFileSync(join(dir, 'tree', `f${i}.txt`), `file ${i}\n`);
  ok(await w.ferry(['put', join(dir, 'small.txt'), '/small.txt']));
  ok(await w.ferry(['sync', join(dir, 'tree'), 'ferry:/tree']));
}, 120_000);
afterAll(async () => {
  await w?.close();
});

/** Runs bin/ferry.js with `args` (and node flags before it), returning stdout, stderr and the modules it loaded. */
function run(args: string[], nodeFlags: string[] = []): { stdout: string; stderr: string; modules: string[] } {
  const record = join(dir, `loaded-${args[0]}.txt`);
  rmSync(record, { force: true });
  const proc = (() => {
    try {
      const stdout = execFileSync(process.execPath, [...nodeFlags, '--import', join(root, 'test/helpers/record-loads.mjs'), FERRY_BIN, ...args], {
        env: cliEnv({ ...w.env, RECORD_LOADS_TO: record }),
        cwd: dir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return { stdout, stderr: '' };
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string };
      throw new Error(`ferry ${args.join(' ')} exited ${e.status}: ${e.stderr}`);
    }
  })();
  return { ...proc, modules: modulesOf(readFileSync(record, 'utf8').split('\n').filter(Boolean)) };
}

const RUNS: { args: string[]; expect: RegExp }[] = [
  { args: ['ls', '/'], expect: /small\.txt/ },
  { args: ['stat', '/small.txt'], expect: /small\.txt/ },
  { args: ['put', 'small.txt', '/again.txt'], expect: /^$/ },
  { args: ['get', '/small.txt', 'copy.txt'], expect: /^$/ },
  { args: ['sync', 'tree', 'ferry:/tree'], expect: /^$/ },
];

describe('a client command loads no server', () => {
  it.each(RUNS)('ferry $args.0 loads its command, the client and nothing of the server', ({ args, expect: out }) => {
    const r = run(args);
    expect(r.stdout).toMatch(out);
    // It ran from the bundle and did its work through the client.
    expect(r.modules).toContain(`dist/src/cli/commands/${args[0]}.js`);
    expect(hits(r.modules, ['dist/src/client/api.js', 'node_modules/undici/'])).not.toEqual([]);
    expect(hits(r.modules, SERVER_SIDE)).toEqual([]);
    // The command modules loaded by name (commands/index.ts) stay unloaded.
    expect(hits(r.modules, ['dist/src/cli/commands/serve.js', 'dist/src/cli/commands/remote.js'])).toEqual([]);
  });

  it('the no-change sync changed nothing, and get wrote the file', () => {
    expect(readFileSync(join(dir, 'copy.txt'), 'utf8')).toBe('a small file\n');
    const r = run(['sync', 'tree', 'ferry:/tree', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ transferred: 0, deleted: 0 });
  });

  it('--version loads no client, and serve its settings only when it runs', () => {
    const r = run(['--version']);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(hits(r.modules, ['dist/src/cli/commands/serve.js', 'dist/src/client/api.js', 'node_modules/undici/', ...SERVER_SIDE])).toEqual([]);
    const serve = run(['serve', '--help']);
    expect(serve.stdout).toMatch(/--addr/);
    expect(hits(serve.modules, ['dist/src/cli/commands/serve.js', 'dist/src/server/settings.js']).sort()).toEqual(['dist/src/cli/commands/serve.js', 'dist/src/server/settings.js']);
  });

  it('a short run leaves undici\'s parser to the baseline compiler (no TurboFan compile of WebAssembly)', () => {
    const r = run(['ls', '/'], ['--trace-wasm-compilation-times']);
    expect(r.stdout).toMatch(/small\.txt/);
    expect(r.stdout).toMatch(/using Liftoff/); // the trace works: llhttp was compiled
    expect(r.stdout).not.toMatch(/using TurboFan/);
  });

  it('a program using the SDK keeps V8\'s default budget: its parser is optimized as usual', () => {
    const script = `const { FerryClient } = await import(${JSON.stringify(join(root, 'dist/src/client/index.js'))});
      const c = new FerryClient({ server: process.env.FERRY_SERVER, token: process.env.FERRY_TOKEN });
      for (let i = 0; i < 3; i++) console.log((await c.stat('/small.txt')).size);`;
    const out = execFileSync(process.execPath, ['--trace-wasm-compilation-times', '--input-type=module', '-e', script], { env: cliEnv(w.env), encoding: 'utf8' });
    expect(out).toMatch(/^13$/m);
    const optimized = [...out.matchAll(/using TurboFan.* bodysize (\d+)/g)].map((m) => Number(m[1]));
    expect(optimized.filter((size) => size > 10_000)).not.toEqual([]);
  });

  it('the budget is raised for the parser alone: a put of 24 MiB of new data still optimizes the FastCDC kernel', () => {
    // Below the chunk workers' threshold (32 MiB): chunked on the main thread, whose compile jobs the exit waits for.
    writeFileSync(join(dir, 'random.bin'), randomBytes(24 << 20));
    const r = run(['put', 'random.bin', '/random.bin'], ['--trace-wasm-compilation-times']);
    const optimized = [...r.stdout.matchAll(/using TurboFan.* bodysize (\d+)/g)].map((m) => Number(m[1]));
    // The kernel's cut loop is a few hundred bytes of WebAssembly; llhttp's parser 33 KB.
    expect(optimized.some((size) => size < 2000)).toBe(true);
    expect(optimized.filter((size) => size > 10_000)).toEqual([]);
  });
});

function helpOf(cmd: Command): string {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  cmd.outputHelp();
  return text;
}

/** Each command below `cmd` by its path (`admin gc`), with its help text. */
function helps(cmd: Command, path: string[] = [], out = new Map<string, string>()): Map<string, string> {
  for (const sub of cmd.commands) {
    const p = [...path, sub.name()];
    out.set(p.join(' '), helpOf(sub));
    helps(sub, p, out);
  }
  return out;
}

describe('one command registered', () => {
  it('the table names every top-level command and alias of the whole program, once', async () => {
    const program = await buildProgram();
    const names = program.commands.filter((c) => c.name() !== 'help').flatMap((c) => [c.name(), ...c.aliases()]);
    const table = COMMAND_TABLE.flatMap((e) => e.names);
    expect([...table].sort()).toEqual([...names].sort());
    expect(new Set(table).size).toBe(table.length);
  });

  it('a run of one command registers only it, with the same help (options, examples) for it and its subcommands', async () => {
    const whole = helps(await buildProgram());
    for (const entry of COMMAND_TABLE.filter((e) => e.needsAll !== true)) {
      const program = await programFor(['node', 'ferry', '--debug', entry.names[0], '--help']);
      const mine = helps(program);
      const tops = program.commands.map((c) => c.name()).filter((n) => n !== 'help');
      expect(tops.every((n) => entry.names.includes(n))).toBe(true);
      for (const [path, text] of mine) if (!path.endsWith('help')) expect({ path, text }).toEqual({ path, text: whole.get(path) });
    }
  });

  it('the program\'s own help, an unknown name and completion get every command; --version none', async () => {
    const count = (await buildProgram()).commands.length;
    for (const argv of [['--help'], [], ['lss'], ['help', 'ls'], ['completion', 'bash']]) {
      expect((await programFor(['node', 'ferry', ...argv])).commands.length).toBe(count);
    }
    expect((await programFor(['node', 'ferry', '--version'])).commands.filter((c) => c.name() !== 'help')).toEqual([]);
  });
});
