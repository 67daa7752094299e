/**
 * `a:/x` on Linux (one letter, a colon): neither a remote (no remote name has one letter) nor,
 * silently, a local folder named `a:`. Every command that takes locations refuses it, says
 * what to write instead, and leaves nothing behind; `./a:/x` is the local folder.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-letter-colon-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'f'), 'hello\n');
mkdirSync(join(dir, 'd'));
writeFileSync(join(dir, 'd', 'g'), 'in d\n');
// No server and no saved remotes: the refusal must come before anything is looked up.
const env = { FERRY_CONFIG: join(dir, 'config.json'), FERRY_SERVER: 'http://127.0.0.1:9', FERRY_TOKEN: 'unused' };

const COMMANDS: string[][] = [
  ['put', 'f', 'a:/x'],
  ['get', '/f', 'a:/x'],
  ['cp', 'a:/x', '/y'],
  ['mv', '/y', 'a:/x'],
  ['mkdir', 'a:/x'],
  ['sync', 'd', 'a:/x'],
  ['copy', 'd', 'a:/x'],
  ['move', 'a:/x', 'd'],
  ['check', 'd', 'a:/x'],
  ['bisync', 'd', 'a:/x'],
];

describe('a one-letter NAME: on a system without drive letters', () => {
  for (const args of COMMANDS) {
    it(`ferry ${args.join(' ')} is refused with what to write instead, and makes no folder a:`, async () => {
      const r = await runFerry(args, { cwd: dir, env });
      expect({ code: r.code, stderr: r.stderr }).toEqual({
        code: 2,
        stderr: 'ferry: no remote named a; `ferry remote ls` lists them, or write ./a:/x for a local folder (FERRY_ERR_CONFIG)\n',
      });
      expect(existsSync(join(dir, 'a:'))).toBe(false);
    });
  }

  it('--json says it as an error object with its stable code', async () => {
    const r = await runFerry(['put', '--json', 'f', 'b:/x'], { cwd: dir, env });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: 'FERRY_ERR_CONFIG', message: expect.stringContaining('write ./b:/x for a local folder') } });
  });

  it('./a:/x is the local folder, as the message says', async () => {
    const r = await runFerry(['copy', 'd', './a:/x'], { cwd: dir, env });
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
    expect(readdirSync(join(dir, 'a:', 'x'))).toEqual(['g']);
  });
});
