/**
 * `ferry admin users`, `ferry admin verify`: names an operator tries under `admin` whose
 * command lives elsewhere get a usage error naming it (exit 2, JSON under --json); other
 * unknown names keep commander's own error and suggestion.
 */
import { describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';

describe('an admin command that lives elsewhere', () => {
  it('names the right command: exit 2, one line and the usage hint', async () => {
    for (const [typed, meant] of [
      ['users', 'ferry user ls'],
      ['verify', 'ferry admin check'],
      ['fsck', 'ferry admin check'],
      ['tokens', 'ferry token ls'],
    ] as const) {
      const r = await runFerry(['admin', typed]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`error: unknown command '${typed}' (did you mean ${meant}?)\n(run with --help for usage)\n`);
      expect(r.stdout).toBe('');
    }
  });

  it('under --json: the same words as FERRY_ERR_USAGE', async () => {
    const r = await runFerry(['admin', 'users', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr)).toEqual({ error: { code: 'FERRY_ERR_USAGE', message: "unknown command 'users' (did you mean ferry user ls?) (run with --help for usage)" } });
  });

  it('other unknown names keep commander\'s error, and its suggestion for a near name', async () => {
    const near = await runFerry(['admin', 'stat']);
    expect(near.code).toBe(2);
    expect(near.stderr).toBe("error: unknown command 'stat'\n(Did you mean stats?)\n(run with --help for usage)\n");
    const far = await runFerry(['admin', 'bogus']);
    expect(far.code).toBe(2);
    expect(far.stderr).toBe("error: unknown command 'bogus'\n(run with --help for usage)\n");
    // The commands themselves are untouched.
    const help = await runFerry(['admin', 'stats', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: ferry admin stats/);
  });
});
