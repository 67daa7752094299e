/**
 * The README's command table and its "Flags" paragraph, read as a new user reads them: every
 * command it names exists (with `--help`), and every flag it gives a command is one that command
 * takes. Parsed from README.md itself, so a row added or a flag renamed on either side fails here.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';

const root = join(import.meta.dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const program = await buildProgram();

/** The README between two of its `## ` headings. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  const end = readme.indexOf('\n## ', start + 1);
  expect(start, title).toBeGreaterThan(0);
  return readme.slice(start, end);
}

function child(cmd: Command, word: string): Command | undefined {
  return cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
}

/** The command a line of words leads to, and how many of the words were command names. */
function resolve(words: string[]): { cmd: Command; used: number } {
  let cmd = program;
  let used = 0;
  for (const w of words) {
    const next = child(cmd, w);
    if (!next) break;
    cmd = next;
    used++;
  }
  return { cmd, used };
}

/** Every long and short flag a command takes, its `--no-` forms and the program's own included. */
function flagsOf(cmd: Command): Set<string> {
  const all = new Set<string>(['--help', '-h']);
  for (const c of [cmd, program])
    for (const o of c.options) {
      if (o.long) all.add(o.long);
      if (o.short) all.add(o.short);
    }
  return all;
}

interface Usage {
  text: string;
  words: string[];
  flags: string[];
  /** For a row's description: the commands of the row, one of which takes each flag. */
  of?: string[][];
}

/**
 * The usages of the command table's first column: `ferry token create [--read-only]`, and the
 * short forms after it in the same cell (`token ls`, `user ls/show/set`, `trash ls|restore|empty`),
 * which name a subcommand of the same group.
 */
function tableUsages(): Usage[] {
  const rows = section('The command line')
    .split('\n')
    .filter((l) => l.startsWith('| `ferry '));
  const usages: Usage[] = [];
  for (const row of rows) {
    const cell = row.slice(1, row.indexOf(' | ', 2));
    const spans = [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1].replace(/\\\|/g, '|'));
    let group: string[] = [];
    for (const span of spans) {
      const words = span.replace(/^ferry /, '').split(/\s+/);
      const end = words.findIndex((w) => !/^[a-z][a-z0-9|/-]*$/.test(w));
      const leading = end < 0 ? words : words.slice(0, end);
      const flags = [...span.matchAll(/(?:^|[\s[|])(--?[a-zA-Z][\w-]*)/g)].map((m) => m[1]);
      if (span.startsWith('ferry ')) group = leading.slice(0, -1);
      for (const expanded of alternatives(leading)) {
        // A short form names a subcommand from the top (`admin bans`) or within the cell's group (`webhook ls`).
        const forms = span.startsWith('ferry ') ? [expanded] : [expanded, [...group.slice(0, 1), ...expanded], [...group, ...expanded]];
        const best = forms.reduce((a, b) => (resolve(b).used > resolve(a).used ? b : a));
        usages.push({ text: span, words: best, flags });
      }
    }
    // Flags the row's description gives (`-r`, `--version ID`) belong to one of the row's commands.
    const description = row.slice(row.indexOf(' | ', 2) + 3);
    const described = [...description.matchAll(/`(--?[a-zA-Z][\w-]*)/g)].map((m) => m[1]);
    const rowUsages = usages.filter((u) => spans.includes(u.text));
    usages.push({ text: `${spans[0]} (description)`, words: [], flags: described, of: rowUsages.map((u) => u.words) } as Usage);
  }
  return usages;
}

/** `user ls/show/rm` and `trash ls|restore|empty`: one usage per alternative. */
function alternatives(words: string[]): string[][] {
  const i = words.findIndex((w) => /[|/]/.test(w));
  if (i < 0) return [words];
  return words[i].split(/[|/]/).flatMap((alt) => alternatives([...words.slice(0, i), alt, ...words.slice(i + 1)]));
}

describe('README: the command table', () => {
  const usages = tableUsages();

  it('is read whole: every row, and the short forms after a row first usage', () => {
    expect(usages.length).toBeGreaterThan(50);
    expect(usages.map((u) => u.words.join(' '))).toEqual(expect.arrayContaining(['token ls', 'user grant', 'admin webhook log', 'trash empty', 'remote types']));
  });

  it('names only commands that exist, each with --help', () => {
    const missing = usages
      .filter((u) => !u.of)
      .filter((u) => {
        const names = u.words.filter((w) => /^[a-z][a-z-]*$/.test(w) && !['ferry'].includes(w));
        const { cmd, used } = resolve(names);
        // Words after the command are arguments (NAME, PATH...) written in lower case only where
        // the command takes arguments.
        return used === 0 || (used < names.length && cmd.commands.length > 0 && cmd.registeredArguments.length === 0);
      })
      .map((u) => u.text);
    expect(missing).toEqual([]);
    for (const u of usages.filter((x) => !x.of)) expect(resolve(u.words).cmd.helpInformation(), u.text).toMatch(/^Usage: ferry /);
  });

  it('gives each command only flags it takes', () => {
    const wrong: string[] = [];
    for (const u of usages) {
      const commands = (u.of ?? [u.words]).map((words) => resolve(words).cmd);
      // `ferry share PATH` is `ferry share create PATH`: a group's default subcommand takes the flags.
      const defaults = commands.flatMap((cmd) => cmd.commands.filter((c) => (cmd as unknown as { _defaultCommandName?: string })._defaultCommandName === c.name()));
      const taken = new Set([...commands, ...defaults].flatMap((c) => [...flagsOf(c)]));
      for (const f of u.flags) if (!taken.has(f)) wrong.push(`${u.text}: ${f}`);
    }
    expect(wrong).toEqual([]);
  });

  it('can fail: a flag no command takes is caught', () => {
    const { cmd } = resolve(['put']);
    expect(flagsOf(cmd).has('--ttl')).toBe(true);
    expect(flagsOf(cmd).has('--no-such-flag')).toBe(false);
    expect(resolve(['no-such-command']).used).toBe(0);
  });
});

describe('every `ferry …` line of README.md and docs/*.md, in code or prose', () => {
  /** `ferry WORDS… --flag…` of a line: the command the words lead to and the flags after them. */
  function commandLines(text: string): { line: number; text: string; cmd: Command; flags: string[] }[] {
    const found: { line: number; text: string; cmd: Command; flags: string[] }[] = [];
    for (const [i, line] of text.split('\n').entries()) {
      for (const m of line.matchAll(/(?:^|[`\s$(|;&])(?:npx )?ferry ([a-z][a-z-]*(?: [a-z][a-z-]*)*)([^`|;&#)]*)/g)) {
        const words = m[1].split(' ');
        const { cmd, used } = resolve(words);
        if (used === 0) continue;
        const rest = `${words.slice(used).join(' ')} ${m[2]}`;
        found.push({ line: i + 1, text: m[0].trim(), cmd, flags: [...rest.matchAll(/(?:^|\s)(--?[a-zA-Z][a-zA-Z0-9-]*)/g)].map((f) => f[1]) });
      }
    }
    return found;
  }
  const taken = (cmd: Command): Set<string> => {
    // `ferry share PATH` is `ferry share create PATH`: a group's default subcommand takes the flags.
    const defaults = cmd.commands.filter((c) => (cmd as unknown as { _defaultCommandName?: string })._defaultCommandName === c.name());
    return new Set([cmd, ...defaults].flatMap((c) => [...flagsOf(c)]));
  };
  const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

  it('gives each command only flags it takes', () => {
    const wrong: string[] = [];
    let seen = 0;
    for (const file of files) {
      for (const u of commandLines(readFileSync(join(root, file), 'utf8'))) {
        seen += u.flags.length;
        for (const f of u.flags) if (!taken(u.cmd).has(f)) wrong.push(`${file}:${u.line}: ${u.text}: ${f}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(seen).toBeGreaterThan(80); // the lines are read (99 flags when written)
  });

  it('can fail: a line with a flag its command does not take is caught', () => {
    const [u] = commandLines('run `ferry get --ttl 7d /x ./x` then');
    expect(u.cmd.name()).toBe('get');
    expect(u.flags).toEqual(['--ttl']);
    expect(taken(u.cmd).has('--ttl')).toBe(false);
    expect(taken(resolve(['share']).cmd).has('--expires')).toBe(true);
  });
});

describe('README: the "Flags" paragraph', () => {
  const text = section('The command line').replace(/\s+/g, ' ');

  it('-n/--dry-run is on every command it lists, --parallel on put and get', () => {
    const list = /`-n\/--dry-run` \(show what would happen, change nothing: ([^)]*)\)/.exec(text)?.[1];
    const names = [...(list ?? '').matchAll(/`([a-z]+)`/g)].map((m) => m[1]);
    expect(names).toEqual(['put', 'get', 'sync', 'copy', 'move', 'bisync', 'rm', 'mv', 'cp', 'mkdir']);
    for (const name of names) expect(flagsOf(resolve([name]).cmd).has('--dry-run'), name).toBe(true);
    for (const name of ['put', 'get']) expect(flagsOf(resolve([name]).cmd).has('--parallel'), name).toBe(true);
  });

  it('--transfers (default 4) on sync, copy, move and bisync, --checkers (default 8) on those and check; put and get take the filters', () => {
    expect(text).toContain('`--transfers N` (files at once, default 4: `sync`, `copy`, `move`, `bisync`), `--checkers N` (comparisons at once, default 8: those and `check`)');
    const defaultOf = (name: string, flag: string) => resolve([name]).cmd.options.find((o) => o.long === flag)?.defaultValue as unknown;
    for (const name of ['sync', 'copy', 'move', 'check', 'bisync']) {
      expect(flagsOf(resolve([name]).cmd).has('--transfers'), name).toBe(name !== 'check');
      expect(flagsOf(resolve([name]).cmd).has('--checkers'), name).toBe(true);
      if (name !== 'check') expect(Number(defaultOf(name, '--transfers')), name).toBe(4);
      expect(Number(defaultOf(name, '--checkers')), name).toBe(8);
    }
    for (const name of ['put', 'get']) expect(Number(defaultOf(name, '--parallel')), name).toBe(4);
    for (const name of ['put', 'get'])
      for (const f of ['--include', '--exclude', '--filter', '--filter-from', '--min-size', '--max-size', '--min-age', '--max-age'])
        expect(flagsOf(resolve([name]).cmd).has(f), `${name} ${f}`).toBe(true);
  });
});

/** The commands (leaves of the tree, `help` left out) that take a flag. */
function takers(flag: string): string[] {
  const out: string[] = [];
  const walk = (cmd: Command, path: string[]) => {
    for (const c of cmd.commands) {
      if (c.name() === 'help') continue;
      const p = [...path, c.name()];
      if (c.options.some((o) => o.long === flag || o.short === flag)) out.push(p.join(' '));
      walk(c, p);
    }
  };
  walk(program, []);
  return out.sort();
}

describe('docs/client.md: the CLI section', () => {
  const client = readFileSync(join(root, 'docs', 'client.md'), 'utf8');
  const cli = client.slice(client.indexOf('\n## CLI\n')).replace(/\s+/g, ' ');

  it('names the commands that take --parallel, --bwlimit, -q, -c and -I', () => {
    const listed = (after: string) =>
      [...(new RegExp(`${after.replace(/[()[\]\\/.*+?|-]/g, '\\$&')} \\(([^)]*)\\)`).exec(cli)?.[1] ?? '').matchAll(/`([a-z]+(?: [a-z]+)?)`/g)].map((m) => m[1]).sort();
    expect(listed('`--parallel N`')).toEqual(takers('--parallel'));
    expect(listed('`--bwlimit RATE`')).toEqual(takers('--bwlimit'));
    expect(listed('`-q`')).toEqual(takers('-q'));
    expect(takers('-c')).toEqual(['bisync', 'check', 'copy', 'get', 'move', 'put', 'sync']);
    expect(takers('-I')).toEqual(takers('-c'));
  });

  it('--retries and --server: every command that talks to a server, login and logout aside', () => {
    expect(cli).toContain('`--retries N` (every command that talks to a server; `login` takes the URL as its argument, and `logout` ends a saved login, named with `--name`)');
    expect(takers('--retries')).toEqual(takers('--server'));
    for (const name of ['put', 'ls', 'share create', 'admin stats', 'user add', 'sync']) expect(takers('--retries'), name).toContain(name);
    expect(takers('--retries')).not.toContain('login');
    expect(takers('--retries')).not.toContain('logout');
    expect(takers('--name')).toContain('logout');
  });
});

describe('exit codes', () => {
  /** The numbers a text gives, in order, from "Exit codes:" to the end of that list. */
  const codesIn = (text: string, end: string) => {
    const at = text.indexOf('Exit codes: ');
    const list = text.slice(at, text.indexOf(end, at)).replace(/\s+/g, ' ');
    return [...list.matchAll(/(?:: |; )(\d+) /g)].map((m) => Number(m[1]));
  };

  it('the README and docs/client.md list every exit code the CLI has, in order', async () => {
    const { EXIT } = await import('../../src/cli/exit.js');
    const all = Object.values(EXIT);
    expect(codesIn(readme, 'Names are kept')).toEqual(all);
    expect(codesIn(readFileSync(join(root, 'docs', 'client.md'), 'utf8'), 'SIGPIPE does')).toEqual(all);
  });

  it('the README gives the error codes behind 9, 10 and 11', async () => {
    const { exitCodeOf } = await import('../../src/cli/exit.js');
    const { FerryError } = await import('../../src/core/errors.js');
    for (const [code, exit] of [['FERRY_ERR_HOST_UNKNOWN', 9], ['FERRY_ERR_TLS_MISMATCH', 10], ['FERRY_ERR_TLS_UNTRUSTED', 11]] as const) {
      expect(readme.replace(/\s+/g, ' ')).toMatch(new RegExp(`; ${exit} [^;(]*\\(\`${code}\``));
      expect(exitCodeOf(new FerryError(code, 'x')), code).toBe(exit);
    }
  });
});

describe('README: the quick start through npx', () => {
  it('`npx ferry --help` and `npx ferry --version` are ferry\'s own, in the repository', { timeout: 120_000 }, () => {
    // npx installs this folder into its cache the first time (a `file:` dependency), and npm runs
    // a folder's `prepare` (`npm run build`) as it does: the build rewrote dist/bundle in the middle
    // of the test run, and a CLI started in those seconds failed ("Cannot find module …part-….js",
    // exit 70: seen in three clean-clone CI runs). The tests run on the build `npm test` made.
    const npx = (...args: string[]) => execFileSync('npx', args, { cwd: root, encoding: 'utf8', env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false', npm_config_ignore_scripts: 'true' } });
    const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
    expect(npx('ferry', '--version').trim()).toBe(version);
    expect(npx('ferry', '--help')).toMatch(/^Usage: ferry \[options\] \[command\]/);
    expect(readme).toContain('`npx ferry --help` lists the\ncommands.');
  });
});
