/** Every command and subcommand's --help shows examples (issue 12), read from the program the CLI runs. */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';

function helpOf(cmd: Command): string {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  cmd.outputHelp();
  return text;
}

function* allCommands(cmd: Command, path: string[] = []): Generator<[string, Command]> {
  for (const sub of cmd.commands) {
    const p = [...path, sub.name()];
    yield [p.join(' '), sub];
    yield* allCommands(sub, p);
  }
}

describe('--help', () => {
  it('every command and subcommand has one list of examples, with ferry in it', async () => {
    const missing: string[] = [];
    const twice: string[] = [];
    let seen = 0;
    for (const [path, cmd] of allCommands(await buildProgram())) {
      if (path.endsWith('help')) continue;
      seen++;
      const text = helpOf(cmd);
      if (!/\nExamples?:\n(\s+\$ .*\n)*\s+\$?\s*ferry /.test(text)) missing.push(path);
      // One list: a command with examples inline gets none from examples.ts as well.
      if ((text.match(/\nExamples?:\n/g) ?? []).length > 1) twice.push(path);
    }
    expect(seen).toBeGreaterThan(40);
    expect(missing).toEqual([]);
    expect(twice).toEqual([]);
  });

  it('examples that name an id give it the shape the server makes (copied from `ls`, it must look the same)', async () => {
    // The shapes of src/server/routes/shares.ts, auth.ts, webhooks.ts, ssh-keys and src/store/upload-sessions.ts.
    const shapes: [string, RegExp][] = [
      ['share revoke', /\$ ferry share revoke (\S+)/],
      ['token revoke', /\$ ferry token revoke (\S+)/],
      ['admin webhook log', /ferry admin webhook log (wh_\S+)/],
      ['admin uploads abort', /\$ ferry admin uploads abort (\S+)/],
      ['user key rm', /ferry user key rm ana ([0-9a-f]\S+)/],
    ];
    const want: Record<string, RegExp> = {
      'share revoke': /^sh_[0-9a-f]{16}$/,
      'token revoke': /^[0-9a-f]{16}$/,
      'admin webhook log': /^wh_[0-9a-f]{16}$/,
      'admin uploads abort': /^[A-Za-z0-9_-]{22}$/,
      'user key rm': /^[0-9a-f]{16}$/,
    };
    const program = await buildProgram();
    const found: Record<string, string> = {};
    for (const [path, cmd] of allCommands(program)) {
      for (const [name, pattern] of shapes) if (path === name) found[name] = pattern.exec(helpOf(cmd))?.[1] ?? '(no example)';
    }
    for (const [name] of shapes) expect(found[name], name).toMatch(want[name]);
    // The check can fail: the shape of a share id is not a token's.
    expect('sh_3f9c2a').not.toMatch(want['share revoke']);
  });

  it("check's help promises no transfer: -c and -I say they change nothing there", async () => {
    const program = await buildProgram();
    const text = helpOf(program.commands.find((c) => c.name() === 'check')!);
    expect(text).not.toMatch(/transfer every file/);
    expect(text).toMatch(/-I, --ignore-times +no effect: check never compares times/);
    expect(helpOf(program.commands.find((c) => c.name() === 'sync')!)).toMatch(/-I, --ignore-times +transfer every file/);
  });

  it('a group whose default subcommand takes the options says where they are (ferry share PATH is share create)', async () => {
    const share = (await buildProgram()).commands.find((c) => c.name() === 'share')!;
    const text = helpOf(share).replace(/\s+/g, ' ');
    for (const flag of ['--expires', '--password', '--max-downloads', '--upload', '--max-bytes']) expect(text, flag).toContain(flag);
    expect(text).toContain('ferry share create --help');
  });

  it("share create says how a folder's link is fetched whole (curl -OJ URL saves its listing; test/server/shares.test.ts runs both)", async () => {
    const create = (await buildProgram()).commands.find((c) => c.name() === 'share')!.commands.find((c) => c.name() === 'create')!;
    expect(helpOf(create)).toContain("a folder:  curl -OJ 'URL?zip=1'");
  });
});

describe('a group says what it holds', () => {
  it("admin, user, token and trash name every subcommand in `ferry --help` (admin's left out stats, gc, uploads and restore)", async () => {
    const program = await buildProgram();
    for (const group of ['admin', 'user', 'token', 'trash']) {
      const cmd = program.commands.find((c) => c.name() === group)!;
      const words = new Set(cmd.description().split(/[^a-z]+/));
      const missing = cmd.commands.map((c) => c.name()).filter((n) => n !== 'help' && !words.has(n));
      expect({ group, missing }).toEqual({ group, missing: [] });
    }
  });
});

describe('ferry serve --help', () => {
  it('says what each value-taking flag is when not given, and names other settings by their flags', async () => {
    const { SETTINGS, flagOf } = await import('../../src/server/settings.js');
    const serve = (await buildProgram()).commands.find((c) => c.name() === 'serve')!;
    const text = helpOf(serve).replace(/\n\s+/g, ' ');
    const withDefault = SETTINGS.filter((s) => flagOf(s) && s.kind.name !== 'boolean' && s.default !== undefined);
    expect(withDefault.length).toBeGreaterThan(20);
    for (const s of withDefault) {
      const line = new RegExp(`${flagOf(s)} <[^>]+> .*?\\(FERRY_[A-Z_0-9]+; default ${s.default!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[;)]`);
      expect(text, s.key).toMatch(line);
    }
    expect(text).toMatch(/--log-level <value> .*default info; one of fatal, error, warn, info, debug, trace\)/);
    // `tlsKey` in a doc is --tls-key here: the help speaks in flags.
    expect(text).toMatch(/--tls-key <string>\s+the PEM private key of --tls-cert \(FERRY_TLS_KEY\)/);
    for (const s of SETTINGS) if (flagOf(s) && /[A-Z]/.test(s.key)) expect(text, s.key).not.toMatch(new RegExp(`[ (]${s.key}[ ),;]`));
  });
});
