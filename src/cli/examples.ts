/**
 * Examples for the subcommands whose modules define none inline (groups and their small
 * subcommands), added after registration so that every `--help` shows some; the test
 * test/cli/help.test.ts fails for any command or subcommand without examples.
 */
import type { Command } from 'commander';

const EXAMPLES: Record<string, string[]> = {
  share: ['ferry share /reports/q3.pdf --expires 24h', 'ferry share ls', 'ferry share revoke sh_3f9c2a7d1e4b5a6f'],
  'share ls': ['ferry share ls', 'ferry share ls --all --json | jq .[].url'],
  'share revoke': ['ferry share revoke sh_3f9c2a7d1e4b5a6f'],
  quota: ['ferry quota', 'ferry quota ana --json'],
  token: ['ferry token create --read-only --expires 30d', 'ferry token ls', 'ferry token revoke 7d1e3f9c2a4b5a6f'],
  'token ls': ['ferry token ls', 'ferry token ls --all --json'],
  'token revoke': ['ferry token revoke 7d1e3f9c2a4b5a6f', 'ferry token revoke --keep-shares 7d1e3f9c2a4b5a6f'],
  user: ['ferry user add ana --password --quota 50G', 'ferry user ls', 'ferry user passwd'],
  'user ls': ['ferry user ls', 'ferry user ls --json | jq .[].name'],
  'user show': ['ferry user show ana', 'ferry user show ana --json'],
  'user set': ['ferry user set ana --quota 100G', 'ferry user set ana --quota none --disable'],
  'user rm': ['ferry user rm ana'],
  'user passwd': ['ferry user passwd            # your own password', 'ferry user passwd ana        # as an admin'],
  admin: ['ferry admin audit --since 24h', 'ferry admin bans', 'ferry admin unban 203.0.113.7'],
  'admin bans': ['ferry admin bans', 'ferry admin bans --json'],
  'admin unban': ['ferry admin unban 203.0.113.7'],
  config: ['ferry config show', 'ferry config check /etc/ferry/ferry.yaml', 'ferry config docs > settings.md', 'ferry config example > ferry.yaml'],
  trash: ['ferry trash ls /projects', 'ferry trash restore 17', 'ferry trash empty --older-than 30d'],
  'admin webhook': ['ferry admin webhook add https://hooks.example/ferry --events upload,delete', 'ferry admin webhook ls', 'ferry admin webhook log'],
  'remote ls': ['ferry remote ls', 'ferry remote ls --json'],
  'remote rm': ['ferry remote rm nas'],
  'remote types': ['ferry remote types'],
  'config encryption': ['ferry config encryption set', 'ferry config encryption check', 'FERRY_CONFIG_PASS="$(pass ferry)" ferry config encryption remove'],
  'config encryption remove': ['ferry config encryption remove              # asks for the passphrase', 'FERRY_CONFIG_PASS="$(pass ferry)" ferry config encryption remove'],
  'config encryption check': ['ferry config encryption check', 'ferry config encryption check --json'],
  'user key': ['ferry user key add ana ~/.ssh/id_ed25519.pub', 'ferry user key ls ana', 'ferry user key rm ana 3f2a9c0d1e4b5a6f'],
};

/** The command path of `cmd` below the program: `share ls`. */
function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Adds the examples above to the commands they name. */
export function addExamples(program: Command): void {
  const visit = (cmd: Command) => {
    const lines = EXAMPLES[pathOf(cmd)];
    if (lines) cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`);
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
}
