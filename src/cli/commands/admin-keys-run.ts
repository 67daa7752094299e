/** The work of `ferry admin rekey`, loaded only when it runs (start-up rule of commands/index.ts). */
import { join, resolve } from 'node:path';
import { ConfigError } from '../../core/errors.js';
import type { StorageBackend } from '../../core/storage.js';
import { masterKeyFromText, readMasterKeyFile, rekeyRing, type MasterKey, type RekeyStep } from '../../backends/decorators/key-ring.js';
import { LocalBackend } from '../../backends/local/local-backend.js';
import { openBackend } from '../../remotes/index.js';
import { readRemotes, remotesPath } from '../../backends/remotes.js';
import { parseStoreSpec } from '../../server/config.js';

export interface RekeyStoreReport {
  store: string;
  oldWrappings: number;
  alreadyDone: boolean;
  retiringDataKeys: number;
}

async function oldKey(opts: { keyFile?: string }): Promise<MasterKey> {
  if (opts.keyFile !== undefined) return readMasterKeyFile(opts.keyFile);
  const env = process.env.FERRY_ENCRYPTION_KEY;
  if (env) return masterKeyFromText(env, 'FERRY_ENCRYPTION_KEY');
  throw new ConfigError('give the key in use: --key-file FILE or FERRY_ENCRYPTION_KEY');
}

/**
 * Test hook: FERRY_TEST_REKEY_HOLD=<step> makes the run stop after that step and wait to be
 * killed, so that a test can kill -9 it at a known point.
 */
async function hold(step: RekeyStep): Promise<void> {
  if (process.env.FERRY_TEST_REKEY_HOLD !== step) return;
  process.stderr.write(`holding after ${step}\n`);
  await new Promise(() => undefined);
}

export async function rekeyStores(opts: { data: string; store?: string[]; keyFile?: string; newKeyFile?: string; reencrypt?: boolean }): Promise<RekeyStoreReport[]> {
  const from = await oldKey(opts);
  if (opts.newKeyFile === undefined && !opts.reencrypt) throw new ConfigError('give the new master key (--new-key-file FILE), or --reencrypt to re-encrypt under a new data key');
  // Without a new master key, --reencrypt keeps the one in use and only adds a data key.
  const to = opts.newKeyFile === undefined ? from : await readMasterKeyFile(opts.newKeyFile);
  const specs = (opts.store ?? ['local']).flatMap((s) => s.split(',')).map(parseStoreSpec);
  const remotes = specs.some((s) => s.remote !== 'local') ? await readRemotes(remotesPath()) : {};
  const reports: RekeyStoreReport[] = [];
  for (const spec of specs) {
    const backend: StorageBackend = spec.remote === 'local' ? new LocalBackend({ root: join(resolve(opts.data), 'store') }) : await openBackend(spec.remote, { remotes });
    try {
      const r = await rekeyRing(backend, from, to, hold, { reencrypt: opts.reencrypt ?? false });
      reports.push({ store: spec.prefix === '/' ? backend.name : `${spec.prefix}=${backend.name}`, ...r });
    } finally {
      await backend.close?.();
    }
  }
  return reports;
}
