/**
 * One vocabulary of flags (issue 12): every transfer command has the same short letters with
 * the same meaning (rclone's: -P progress, -n dry run, -v verbose, -q quiet), --parallel has no
 * short letter, --retries has one meaning, and every command that talks to a server takes
 * --server/--token/--ca/--fingerprint. Read from the commander definitions the CLI runs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { RETRIES_HELP } from '../../src/cli/options.js';
import { filterFrom } from '../../src/cli/sync-flags.js';

const program = await buildProgram();
const command = (name: string): Command => {
  const c = program.commands.find((x) => x.name() === name);
  if (!c) throw new Error(`no command ${name}`);
  return c;
};
const optionsOf = (name: string): readonly Option[] => command(name).options;
const byShort = (name: string, short: string) => optionsOf(name).find((o) => o.short === short)?.long;
const byLong = (name: string, long: string) => optionsOf(name).find((o) => o.long === long);

const TRANSFER = ['put', 'get', 'sync', 'copy', 'move'];
const SERVER_TALKERS = ['put', 'get', 'ls', 'stat', 'cat', 'size', 'rm', 'mkdir', 'mv', 'cp', 'share', 'quota', 'token', 'user'];

describe('one set of flags', () => {
  it('-P is --progress, -n is --dry-run, -v is --verbose and -q is --quiet on every transfer command', () => {
    for (const name of TRANSFER) {
      expect({ name, P: byShort(name, '-P'), n: byShort(name, '-n'), v: byShort(name, '-v'), q: byShort(name, '-q') }).toEqual({
        name,
        P: '--progress',
        n: '--dry-run',
        v: '--verbose',
        q: '--quiet',
      });
      expect(byLong(name, '--no-progress'), name).toBeDefined();
      expect(byLong(name, '--json'), name).toBeDefined();
      expect(byLong(name, '--bwlimit'), name).toBeDefined();
      expect(byLong(name, '--include'), name).toBeDefined();
      expect(byLong(name, '--max-age'), name).toBeDefined();
    }
  });

  it('-q is --quiet and --json is there on every command that changes files, links or tokens', () => {
    const changers = ['put', 'get', 'mv', 'cp', 'rm', 'mkdir', 'sync', 'copy', 'move', 'check', 'bisync', 'restore', 'trash restore', 'trash empty', 'share revoke', 'token revoke'];
    for (const name of changers) {
      const [head, sub] = name.split(' ');
      const c = sub === undefined ? command(head) : command(head).commands.find((x) => x.name() === sub)!;
      expect({ name, q: c.options.find((o) => o.short === '-q')?.long, json: c.options.some((o) => o.long === '--json') }).toEqual({ name, q: '--quiet', json: true });
    }
  });

  it('-n means --dry-run wherever a command has it; --no-clobber has no short letter', () => {
    for (const c of program.commands) {
      const n = c.options.find((o) => o.short === '-n');
      if (n) expect({ command: c.name(), n: n.long }).toEqual({ command: c.name(), n: '--dry-run' });
      const clobber = c.options.find((o) => o.long === '--no-clobber');
      if (clobber) expect({ command: c.name(), short: clobber.short }).toEqual({ command: c.name(), short: undefined });
    }
  });

  it('-P means --progress wherever a command has it; --parallel has no short letter', () => {
    for (const c of program.commands) {
      const P = c.options.find((o) => o.short === '-P');
      if (P) expect({ command: c.name(), P: P.long }).toEqual({ command: c.name(), P: '--progress' });
      const parallel = c.options.find((o) => o.long === '--parallel');
      if (parallel) expect({ command: c.name(), short: parallel.short }).toEqual({ command: c.name(), short: undefined });
    }
  });

  it('--retries says the same thing on every command that has it', () => {
    const seen: string[] = [];
    for (const c of program.commands) {
      const r = c.options.find((o) => o.long === '--retries');
      if (!r) continue;
      seen.push(c.name());
      expect({ command: c.name(), help: r.description }).toEqual({ command: c.name(), help: RETRIES_HELP });
    }
    expect(seen).toEqual(expect.arrayContaining(['put', 'get', 'ls', 'sync', 'copy', 'move', 'check', 'bisync']));
  });

  it('--retries defaults to 8 on commands that talk to a server, 3 on sync, copy, move, check and bisync (README, "Flags")', () => {
    for (const name of ['put', 'get', 'ls', 'cat', 'rm']) expect({ name, default: byLong(name, '--retries')?.defaultValue }).toEqual({ name, default: 8 });
    for (const name of ['sync', 'copy', 'move', 'check', 'bisync']) expect({ name, default: byLong(name, '--retries')?.defaultValue }).toEqual({ name, default: 3 });
  });

  it('every command that talks to a server takes --server, --token, --ca and --fingerprint', () => {
    for (const name of SERVER_TALKERS) {
      const c = command(name);
      const all = [c, ...c.commands];
      for (const sub of all) {
        if (sub.commands.length > 0) continue; // a group: its subcommands carry the options
        for (const flag of ['--server', '--token', '--ca', '--fingerprint']) {
          expect({ command: `${name} ${sub === c ? '' : sub.name()}`.trim(), flag, has: sub.options.some((o) => o.long === flag) }).toMatchObject({ has: true });
        }
      }
    }
  });
});

describe('number flags say the range they take', () => {
  it('--parallel takes 1 to 256 and says so, whether it got 0 or a word', () => {
    const parse = (v: string) => byLong('put', '--parallel')!.parseArg!(v, undefined);
    expect(parse('8')).toBe(8);
    for (const bad of ['0', 'abc', '257', '1.5']) expect(() => parse(bad), bad).toThrow('--parallel must be an integer from 1 to 256');
  });

  it('--retries takes 0 to 100', () => {
    const parse = (v: string) => byLong('get', '--retries')!.parseArg!(v, undefined);
    expect(parse('0')).toBe(0);
    expect(() => parse('-1')).toThrow('--retries must be an integer from 0 to 100');
  });

  it("sync's --retries, --transfers and --checkers say their ranges the same way", () => {
    const parse = (long: string, v: string) => byLong('sync', long)!.parseArg!(v, undefined);
    expect(() => parse('--retries', '101')).toThrow('--retries must be an integer from 0 to 100');
    expect(() => parse('--transfers', '0')).toThrow('--transfers must be an integer from 1 to 256');
    expect(() => parse('--checkers', '2.5')).toThrow('--checkers must be an integer from 1 to 256');
    expect(parse('--transfers', '16')).toBe(16);
  });
});

describe('filter flags name themselves in a bad rule', () => {
  it('--filter and --filter-from, not the library\'s "filter rule N"', async () => {
    await expect(filterFrom({ filter: ['keep b'] })).rejects.toThrow(/^--filter: a rule is "\+ pattern" or "- pattern"/);
    await expect(filterFrom({ filter: [''] })).rejects.toThrow(/^--filter: empty rule$/);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-flags-'));
    try {
      writeFileSync(join(dir, 'rules'), '+ a\n* nope\n');
      await expect(filterFrom({ filterFrom: [join(dir, 'rules')] })).rejects.toThrow(/^--filter-from: a rule is/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
