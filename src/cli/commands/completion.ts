/**
 * `ferry completion bash|zsh|fish`: a completion script made from the program's own commands
 * and options, so that it never lists a command or flag the CLI does not have.
 */
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';

interface Entry {
  /** `share ls` */
  path: string;
  subcommands: string[];
  flags: string[];
}

function entries(cmd: Command, path: string[] = []): Entry[] {
  const out: Entry[] = [];
  const flags = cmd.options.flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined));
  out.push({ path: path.join(' '), subcommands: cmd.commands.map((c) => c.name()), flags });
  for (const sub of cmd.commands) out.push(...entries(sub, [...path, sub.name()]));
  return out;
}

function bash(all: Entry[]): string {
  const cases = all
    .map((e) => `    "${e.path}") words="${[...e.subcommands, ...e.flags].join(' ')}" ;;`)
    .join('\n');
  return `# ferry completion for bash: eval "$(ferry completion bash)"
_ferry() {
  local cur path="" w words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$w" in -*) ;; *) case " $(_ferry_words "$path") " in *" $w "*) path="\${path:+$path }$w" ;; esac ;; esac
  done
  words=$(_ferry_words "$path")
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  [ \${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- "$cur"))
}
_ferry_words() {
  local words=""
  case "$1" in
${cases}
  esac
  echo "$words"
}
complete -o default -F _ferry ferry
`;
}

function zsh(all: Entry[]): string {
  return `#compdef ferry
# ferry completion for zsh: eval "$(ferry completion zsh)"
autoload -U bashcompinit && bashcompinit
${bash(all)}`;
}

function fish(all: Entry[]): string {
  const lines = ['# ferry completion for fish: ferry completion fish | source', 'complete -c ferry -f'];
  const top = all.find((e) => e.path === '')!;
  for (const c of top.subcommands) lines.push(`complete -c ferry -n '__fish_use_subcommand' -a '${c}'`);
  for (const e of all) {
    if (e.path === '') continue;
    const words = e.path.split(' ');
    const cond = `__fish_seen_subcommand_from ${words[words.length - 1]}`;
    for (const s of e.subcommands) lines.push(`complete -c ferry -n '${cond}' -a '${s}'`);
    for (const f of e.flags) {
      if (f.startsWith('--')) lines.push(`complete -c ferry -n '${cond}' -l '${f.slice(2)}'`);
      else lines.push(`complete -c ferry -n '${cond}' -s '${f.slice(1)}'`);
    }
  }
  return lines.join('\n') + '\n';
}

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (commands, subcommands, flags)')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText(
      'after',
      `
Examples:
  $ ferry completion bash > ~/.local/share/bash-completion/completions/ferry
  $ ferry completion zsh >> ~/.zshrc
  $ ferry completion fish > ~/.config/fish/completions/ferry.fish`,
    )
    .action((shell: string) => {
      const all = entries(program);
      const make = { bash, zsh, fish }[shell as 'bash' | 'zsh' | 'fish'];
      if (make === undefined) throw new UsageError(`completion for ${JSON.stringify(shell)}: bash, zsh or fish`);
      process.stdout.write(make(all));
    });
}
