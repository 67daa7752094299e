/** `ferry admin keygen|rekey`: the master key of encryption at rest (README, "Encryption"). */
import type { Command } from 'commander';
import { EXIT, ExitError } from '../exit.js';

interface RekeyOpts {
  data: string;
  store?: string[];
  keyFile?: string;
  newKeyFile: string;
  json?: boolean;
}

export function registerKeys(admin: Command): void {
  admin
    .command('keygen')
    .argument('<file>', 'where to write the new key (must not exist; written readable by you only)')
    .description('make a master key for encryption at rest (ferry serve --encryption-key-file FILE)')
    .addHelpText(
      'after',
      `
The key is 32 random bytes, written as one line "ferry-key-1:...". Keep a copy somewhere
other than the store: without it the store cannot be read by anyone, you included.

Examples:
  $ ferry admin keygen /etc/ferry/store.key
  $ ferry serve --encryption-key-file /etc/ferry/store.key`,
    )
    .action(async (file: string) => {
      const { writeFile } = await import('node:fs/promises');
      const { generateMasterKeyText, masterKeyFromText } = await import('../../backends/decorators/key-ring.js');
      const text = generateMasterKeyText();
      await writeFile(file, text + '\n', { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
        throw new ExitError(EXIT.USAGE, err.code === 'EEXIST' ? `${file} exists already: keygen never overwrites a key` : `cannot write ${file}: ${err.message}`);
      });
      process.stdout.write(`wrote a new key (id ${masterKeyFromText(text, file).id}) to ${file}\n`);
    });

  admin
    .command('rekey')
    .requiredOption('--new-key-file <file>', 'the new master key (from ferry admin keygen)')
    .option('--key-file <file>', 'the master key in use (default: FERRY_ENCRYPTION_KEY)')
    .option('--data <dir>', 'the data directory (its store/ is the default chunk store)', './ferry-data')
    .option('--store <spec...>', 'the chunk stores, as given to ferry serve --store (default: local)')
    .option('--json', 'print the report as JSON')
    .description('rotate the master key of encrypted chunk stores: re-wrap their key rings, no chunk rewritten')
    .addHelpText(
      'after',
      `
Each store's key ring (a small object, ferry-keyring/master-<id>) is written again wrapped
by the new key, read back and checked, and only then is the old wrapping deleted. Chunk
bodies are not touched, so this takes a moment whatever the store's size. It may run while
the server runs (a running server keeps its keys in memory); restart the server with the new
key afterwards. Interrupted at any point (even kill -9), run the same command again: it
finishes the work. The old key can be retired once this reports 0 wrappings left.

Examples:
  $ ferry admin keygen /etc/ferry/store-2027.key
  $ ferry admin rekey --key-file /etc/ferry/store.key --new-key-file /etc/ferry/store-2027.key --data /var/lib/ferry
  $ ferry admin rekey --key-file old.key --new-key-file new.key --store s3:bucket/ferry`,
    )
    .action(async (opts: RekeyOpts) => {
      const { rekeyStores } = await import('./admin-keys-run.js');
      const reports = await rekeyStores(opts);
      if (opts.json) {
        process.stdout.write(JSON.stringify(reports, null, 2) + '\n');
        return;
      }
      for (const r of reports) {
        process.stdout.write(`${r.store}: ${r.alreadyDone ? 'already under the new key' : 'rekeyed'}; wrappings by the old key left: ${r.oldWrappings}\n`);
      }
    });
}
