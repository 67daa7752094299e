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
});
