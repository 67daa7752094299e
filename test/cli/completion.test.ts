/** `ferry completion`: the bash script completes commands, subcommands and flags in a real bash. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';

function complete(script: string, words: string[]): string[] {
  const program = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _ferry; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', program], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

describe('ferry completion', () => {
  it('bash: commands, subcommands and the flags of the command typed', async () => {
    const r = await runFerry(['completion', 'bash']);
    expect(r.code).toBe(0);
    expect(complete(r.stdout, ['ferry', 'sy'])).toEqual(['sync']);
    expect(complete(r.stdout, ['ferry', 'share', 're'])).toEqual(['revoke']);
    expect(complete(r.stdout, ['ferry', 'put', '--no-'])).toEqual(['--no-clobber', '--no-progress']);
    expect(complete(r.stdout, ['ferry', 'sync', './a', '--dry'])).toEqual(['--dry-run']);
  });

  it('zsh and fish scripts name the commands; another shell is a usage error', async () => {
    expect((await runFerry(['completion', 'zsh'])).stdout).toMatch(/^#compdef ferry[\s\S]*bashcompinit[\s\S]*complete -o default -F _ferry ferry/);
    const fish = (await runFerry(['completion', 'fish'])).stdout;
    expect(fish).toContain("complete -c ferry -n '__fish_use_subcommand' -a 'sync'");
    expect(fish).toContain("complete -c ferry -n '__fish_seen_subcommand_from put' -l 'dry-run'");
    expect((await runFerry(['completion', 'tcsh'])).code).toBe(2);
  });
});
