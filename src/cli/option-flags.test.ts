import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { refuseEncryptedWithoutKey } from '../backends/decorators/key-ring.js';
import { MemoryBackend } from '../backends/memory/index.js';
import { AlreadyExistsError, AuthInvalidError, NetworkError } from '../core/errors.js';
import { explainAuth } from '../client/api.js';
import { FerryClient } from '../client/client.js';
import { userKeyOf } from '../client/e2e/kdf.js';
import { lazySecret } from '../client/e2e/node-keys.js';
import { refuseClobber } from '../client/get.js';
import { untrustedCertificateError } from '../client/tls.js';
import { connectFailure } from '../client/wire.js';
import { inCliTerms } from './option-flags.js';

describe('inCliTerms: the library names options, the CLI prints flags', () => {
  it('replaces each known option in backquotes by its flag', () => {
    expect(inCliTerms('bisync: 3 of 4 files (75%) were deleted on one, more than `maxDelete` 50%; nothing was changed (check the side, or run with `force: true`)')).toBe(
      'bisync: 3 of 4 files (75%) were deleted on one, more than --max-delete 50%; nothing was changed (check the side, or run with --force)',
    );
    expect(inCliTerms('a.txt exists on the destination (`noOverwrite`)')).toBe('a.txt exists on the destination (--no-clobber)');
    expect(inCliTerms('bisync: 1 conflict (changed on both sides): f; nothing was changed (settle by hand, or run with another `conflict` strategy: keep-both, newer, path1, path2, ...)')).toBe(
      'bisync: 1 conflict (changed on both sides): f; nothing was changed (settle by hand, or run with another --conflict strategy: keep-both, newer, path1, path2, ...)',
    );
    expect(inCliTerms('no bisync state for a and b (looked in /s): run once with `resync: true`')).toBe('no bisync state for a and b (looked in /s): run once with --resync');
    expect(inCliTerms('the newer keeps the name (`resyncMode` chooses another rule)')).toBe('the newer keeps the name (--resync-mode chooses another rule)');
    expect(inCliTerms('/d is a directory (use `putTree` to upload a tree)')).toBe('/d is a directory (use -r to upload a tree)');
    expect(inCliTerms("`compare: 'ignore-times'`")).toBe('--ignore-times');
    expect(inCliTerms("pass `ca` or `fingerprint: 'SHA256:…'`")).toBe('pass --ca FILE or --fingerprint SHA256:…');
    expect(inCliTerms('pass `server` or `token`')).toBe('pass --server or --token');
    expect(inCliTerms('give `passphraseFile` or `keyFile`; `encryptionKeyFile`')).toBe('give --passphrase-file FILE or --e2e-key-file FILE; --encryption-key-file');
  });

  it('leaves other backquoted text and text without backquotes alone', () => {
    expect(inCliTerms('run `ferry login URL --token T` or set FERRY_TOKEN')).toBe('run `ferry login URL --token T` or set FERRY_TOKEN');
    expect(inCliTerms('`unknownOption` and maxDelete')).toBe('`unknownOption` and maxDelete');
  });
});

describe('the SDK speaks in option names', () => {
  it('a download that would replace a local file names noOverwrite, not --no-clobber', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-option-terms-'));
    try {
      writeFileSync(join(dir, 'a.txt'), 'here');
      const err = await refuseClobber(join(dir, 'a.txt')).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(AlreadyExistsError);
      expect((err as Error).message).toBe(`${join(dir, 'a.txt')} exists (\`noOverwrite\`)`);
      expect(inCliTerms((err as Error).message)).toBe(`${join(dir, 'a.txt')} exists (--no-clobber)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The message `promise` rejects with (undefined if it resolves). */
async function messageOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (err: unknown) => (err as Error).message,
  );
}

/** `message` names no flag (`--x`) outside backquotes, and the CLI prints `cli` for it. */
function speaksOptions(message: string | undefined, cli: string): void {
  expect(message?.replace(/`[^`\n]+`/g, '')).not.toMatch(/(^|[\s(])--[a-z]/);
  expect(inCliTerms(message ?? '')).toBe(cli);
}

describe('the SDK names options for connection, token and key hints; the CLI prints them as before', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('an untrusted certificate: `ca` and `fingerprint`', () => {
    const err = untrustedCertificateError(Object.assign(new Error('self-signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'https://h.example:7373');
    speaksOptions(
      err?.message,
      "the TLS certificate of https://h.example:7373 is not trusted: it is self-signed. If this is your server, pass --ca FILE (a self-signed server's DATA/tls/ca.crt) or --fingerprint SHA256:… (printed by `ferry serve`)",
    );
    expect(err?.message).toContain("pass `ca` (a self-signed server's DATA/tls/ca.crt) or `fingerprint: 'SHA256:…'`");
  });

  it('fromConfig without a server or a token: `server` and `token`', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-option-terms-'));
    try {
      const file = join(dir, 'none.json');
      vi.stubEnv('FERRY_CONFIG', file);
      vi.stubEnv('FERRY_SERVER', '');
      vi.stubEnv('FERRY_TOKEN', '');
      const noServer = await messageOf(FerryClient.fromConfig());
      speaksOptions(noServer, `no server configured: run \`ferry login URL -u NAME\` (or \`--token T\`), set FERRY_SERVER or pass --server (config file: ${file})`);
      expect(noServer).toContain('pass `server`');
      vi.stubEnv('FERRY_SERVER', 'http://127.0.0.1:1');
      const noToken = await messageOf(FerryClient.fromConfig());
      // The server is known: the login line names it (after `ferry logout`, the saved one).
      speaksOptions(noToken, 'no token configured for http://127.0.0.1:1: run `ferry login http://127.0.0.1:1 -u NAME` (or `--token T`), set FERRY_TOKEN or pass --token');
      expect(noToken).toContain('pass `token`');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a refused token given as an option, and a server that does not answer: `token`, `server`', () => {
    speaksOptions(explainAuth(new AuthInvalidError('the token was revoked'), 'option').message, 'the server refused the token (--token): the token was revoked; check --token');
    const refused = connectFailure(new NetworkError('fetch failed', { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) }), 'http://127.0.0.1:1', true);
    speaksOptions(refused?.message, 'cannot connect to http://127.0.0.1:1: connection refused (is the server running, on that port? check --server, FERRY_SERVER or the saved login (ferry login URL))');
  });

  it('end-to-end data without its secret: `passphraseFile`, `keyFile`', async () => {
    speaksOptions(
      await messageOf(lazySecret({ env: {} })()),
      'end-to-end encrypted: give --passphrase-file FILE, FERRY_E2E_PASSPHRASE or --e2e-key-file FILE (or type the passphrase at a terminal)',
    );
    speaksOptions(
      await messageOf(userKeyOf({ passphrase: 'p' }, { name: 'key-file' }, async () => new Uint8Array(32))),
      'this end-to-end data was encrypted with a key file: give it with --e2e-key-file FILE',
    );
    speaksOptions(
      await messageOf(userKeyOf({ keyFile: new Uint8Array(32) }, { name: 'scrypt', N: 2 ** 14, r: 8, p: 1, salt: 'AAAAAAAAAAAAAAAAAAAAAA' }, async () => new Uint8Array(32))),
      'this end-to-end data was encrypted with a passphrase, not a key file: give that passphrase (a user has one end-to-end key: a new vault takes the one of the marker above it, or of the root)',
    );
  });

  it('an encrypted store opened without its key: `encryptionKeyFile`', async () => {
    const backend = new MemoryBackend();
    await backend.write('ferry-keyring/master-0123456789abcdef', Buffer.from('ring'));
    const message = await messageOf(refuseEncryptedWithoutKey(backend));
    speaksOptions(message, `${backend.name} is encrypted (key id 0123456789abcdef): give its key with --encryption-key-file or FERRY_ENCRYPTION_KEY`);
    expect(message).toContain('`encryptionKeyFile`');
  });
});
