/** `ferry admin keygen|rekey`: the master key of encryption at rest (README, "Encryption"). */
import type { Command } from 'commander';
import { EXIT, ExitError } from '../exit.js';

interface RekeyOpts {
  data: string;
  store?: string[];
  keyFile?: string;
  newKeyFile?: string;
  reencrypt?: boolean;
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
    .option('--new-key-file <file>', 'the new master key (from ferry admin keygen)')
    .option('--key-file <file>', 'the master key in use (default: FERRY_ENCRYPTION_KEY)')
    .option('--reencrypt', 'also make a new data key: the server re-encrypts every object under it in the background, then retires the old data keys')
    .option('--data <dir>', 'the data directory (its store/ is the default chunk store)', './ferry-data')
    .option('--store <spec...>', 'the chunk stores, as given to ferry serve --store (default: local)')
    .option('--json', 'print the report as JSON')
    .description('rotate the keys of encrypted chunk stores: re-wrap their key rings (no chunk rewritten), optionally re-encrypt in the background')
    .addHelpText(
      'after',
      `
Each store's key ring (a small object, ferry-keyring/master-<id>) is written again wrapped
by the new key, read back and checked, and only then is the old wrapping deleted. Chunk
bodies are not touched, so this takes a moment whatever the store's size. It may run while
the server runs (a running server keeps its keys in memory); restart the server with the new
key afterwards. Interrupted at any point (even kill -9), run the same command again: it
finishes the work. The old key can be retired once this reports 0 wrappings left.

With --reencrypt the ring also gets a new random data key, made current, and the old data
keys are marked retiring (--new-key-file may then be left out: the master key stays). At its
next start the server re-encrypts, in the background, every object written under a retiring
key (reads and writes go on; its log reports progress: "re-encryption progress"), and once a
whole pass over the store finds none left it logs "re-encryption finished: 0 objects left
under the old data keys" and drops them from the ring. Killed (even kill -9), it carries on
at the next start without redoing what is done.

Examples:
  $ ferry admin keygen /etc/ferry/store-2027.key
  $ ferry admin rekey --key-file /etc/ferry/store.key --new-key-file /etc/ferry/store-2027.key --data /var/lib/ferry
  $ ferry admin rekey --key-file old.key --new-key-file new.key --store s3:bucket/ferry
  $ ferry admin rekey --key-file old.key --new-key-file new.key --reencrypt --data /var/lib/ferry
  $ ferry admin rekey --key-file store.key --reencrypt --data /var/lib/ferry   # new data key, same master key`,
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
        if (r.retiringDataKeys > 0) {
          process.stdout.write(`${r.store}: data keys retiring: ${r.retiringDataKeys}; the server re-encrypts their objects in the background at its next start\n`);
        }
      }
    });
}
