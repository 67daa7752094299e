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
  it('every command and subcommand has examples that start with ferry', () => {
    const missing: string[] = [];
    let seen = 0;
    for (const [path, cmd] of allCommands(buildProgram())) {
      if (path.endsWith('help')) continue;
      seen++;
      const text = helpOf(cmd);
      if (!/\nExamples?:\n(\s+\$?\s*ferry .*\n?)+/.test(text)) missing.push(path);
    }
    expect(seen).toBeGreaterThan(40);
    expect(missing).toEqual([]);
  });
});
