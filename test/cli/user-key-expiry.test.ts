/**
 * `ferry user key add` with a token that expires says the key expires with it, and `ferry
 * user key ls` shows when (EXPIRES; `-` for a key that never does), against a real server.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { when } from '../../src/cli/table.js';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

function newPublicKey(name: string): string {
  const key = join(w.dir, `key-${name}`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@cli`, '-f', key]);
  return key + '.pub';
}

describe('ferry user key with an expiring token', () => {
  it('add says until when; ls shows the expiry, and - for a key added with a lasting token', async () => {
    ok(await w.ferry(['user', 'add', 'kim']));
    const hourly = JSON.parse(ok(await w.ferry(['token', 'create', '--user', 'kim', '--expires', '1h', '--json'])).stdout) as { token: string; expiresAt: number };
    const added = ok(await w.ferry(['user', 'key', 'add', 'kim', newPublicKey('brief')], { env: { FERRY_TOKEN: hourly.token } }));
    expect(added.stderr).toContain(`expiring ${when(hourly.expiresAt)} with this token`);
    ok(await w.ferry(['user', 'key', 'add', 'kim', newPublicKey('kept')]));

    const lines = ok(await w.ferry(['user', 'key', 'ls', 'kim'])).stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/LAST USED +EXPIRES$/);
    expect(lines.find((l) => l.includes('brief@cli'))).toMatch(new RegExp(`${when(hourly.expiresAt)}$`));
    expect(lines.find((l) => l.includes('kept@cli'))).toMatch(/ -$/);
  });
});
