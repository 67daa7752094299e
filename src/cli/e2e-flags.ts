/**
 * The CLI's end-to-end flags (docs/e2e.md): the key options shared by put, get, ls, mkdir,
 * mv, cp, rm and share, their help, and the secret they name. Light on purpose: every
 * command's definition imports it, so it is in what `ferry --help` loads; the work itself
 * is in e2e-run.ts, imported when a command runs.
 */
import type { Command } from 'commander';
import type { E2eSecret } from '../client/e2e/kdf.js';
import { lazySecret } from '../client/e2e/node-keys.js';
import { promptSecret } from './prompt.js';
export interface E2eOpts {
  passphraseFile?: string;
  e2eKeyFile?: string;
}

export const E2E_HELP = `
End to end: files are encrypted on this machine before they leave it, with a key made
from a passphrase (scrypt) or a key file; the server stores only ciphertext and
encrypted names. The passphrase comes from --passphrase-file FILE, FERRY_E2E_PASSPHRASE,
or a prompt that does not echo; never from the command line.`;

export function addE2eOptions(cmd: Command): Command {
  return cmd
    .option('--passphrase-file <file>', 'end-to-end passphrase: the first line of FILE (else FERRY_E2E_PASSPHRASE, else asked)')
    .option('--e2e-key-file <file>', 'end-to-end key file (`ferry admin keygen FILE`) instead of a passphrase');
}

/** The secret of the options, the environment or (on a terminal, or a line of stdin) a prompt, read once. */
export function secretOf(opts: E2eOpts): () => Promise<E2eSecret> {
  let s = secrets.get(opts);
  if (!s) secrets.set(opts, (s = lazySecret({ keyFile: opts.e2eKeyFile, passphraseFile: opts.passphraseFile, prompt: promptSecret })));
  return s;
}

/** One secret per command (its options): asked once, and its derived keys reused (client/e2e/transfer.ts). */
const secrets = new WeakMap<E2eOpts, () => Promise<E2eSecret>>();

