import { describe, expect, it } from 'vitest';
import { E2eNeedsKeyError, E2ePlainInVaultError, NotFoundError } from '../core/errors.js';
import { cliMessage } from './exit.js';

describe('cliMessage: the server words a refusal for every front, the CLI adds its own commands', () => {
  it('adds the CLI step a vault refusal leaves out, by its reason', () => {
    const plain = new E2ePlainInVaultError('/v/a.txt: /v is an end-to-end encrypted folder; "a.txt" is not an encrypted name', { details: { path: '/v/a.txt', vault: '/v', reason: 'name' } });
    expect(cliMessage(plain)).toBe('/v/a.txt: /v is an end-to-end encrypted folder; "a.txt" is not an encrypted name (with this CLI: ferry put FILE DIR/ into the folder encrypts with its passphrase (--passphrase-file FILE, or typed at a terminal))');
    const restore = new E2eNeedsKeyError('/v/x: …', { details: { path: '/v/x', vault: '/v', reason: 'restore' } });
    expect(cliMessage(restore)).toContain('with this CLI: ferry restore PLAIN_PATH or ferry trash restore ID --to PLAIN_PATH');
    const rename = new E2eNeedsKeyError('/v/x: …', { details: { path: '/v/x', vault: '/v', reason: 'rename' } });
    expect(cliMessage(rename)).toContain('with this CLI: ferry mv and ferry cp do it by plain paths');
  });

  it('leaves other errors, and refusals whose reason has no CLI step, as they are (in CLI terms)', () => {
    expect(cliMessage(new NotFoundError('/a: no such file or directory', { details: { reason: 'name' } }))).toBe('/a: no such file or directory');
    expect(cliMessage(new E2ePlainInVaultError('its marker goes only with the folder', { details: { reason: 'marker-removal' } }))).toBe('its marker goes only with the folder');
    expect(cliMessage(new E2ePlainInVaultError('no details'))).toBe('no details');
    expect(cliMessage(new NotFoundError('a.txt exists (`noOverwrite`)'))).toBe('a.txt exists (--no-clobber)');
  });
});
