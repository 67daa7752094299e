import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, E2eNeedsKeyError, E2ePlainInVaultError, NotFoundError } from '../core/errors.js';
import { cliMessage, exitCodeOf, exitCodeOfSyncErrors } from './exit.js';

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

describe('the exit code of a tree command whose files failed', () => {
  it("is the failures' own code when they share one, else 1", () => {
    const tree = (codes: string[]) => new AlreadyExistsError('2 of 3 files failed; first: a: exists', { details: { failed: codes.length, failedCodes: codes } });
    expect(exitCodeOf(tree(['FERRY_ERR_ALREADY_EXISTS']))).toBe(6);
    expect(exitCodeOf(tree(['FERRY_ERR_ALREADY_EXISTS', 'FERRY_ERR_IS_A_DIRECTORY']))).toBe(6); // both conflicts
    expect(exitCodeOf(tree(['FERRY_ERR_ALREADY_EXISTS', 'FERRY_ERR_NOT_FOUND']))).toBe(1);
    expect(exitCodeOf(new AlreadyExistsError('one file'))).toBe(6);
    expect(exitCodeOfSyncErrors([{ path: 'a', code: 'FERRY_ERR_NOT_FOUND' }, { path: 'b', code: 'FERRY_ERR_NOT_FOUND' }])).toBe(3);
    expect(exitCodeOfSyncErrors([{ path: 'a', code: 'FERRY_ERR_NOT_FOUND' }, { path: 'b', code: 'FERRY_ERR_HASH_MISMATCH' }])).toBe(1);
    // A refusal of the whole run (--max-delete) is no file's failure.
    expect(exitCodeOfSyncErrors([{ path: '', code: 'FERRY_ERR_USAGE' }])).toBe(1);
  });
});
