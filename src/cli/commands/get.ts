import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { IsADirectoryError, UsageError, isFerryError } from '../../core/errors.js';
import { baseName, normalizePath } from '../../core/path.js';
import { addOutputOptions, addTransferOptions, printJson, withClient, withInterrupt, type OutputOpts, type TransferOpts } from '../options.js';
import { createProgressBar } from '../progress-bar.js';
import { E2E_HELP, addE2eOptions, getEndToEnd, getTarget, type E2eOpts } from '../e2e-flags.js';
import { describeResult, summarize } from './put.js';
import type { TransferResult } from '../../client/transfer.js';

interface GetOpts extends TransferOpts, OutputOpts, E2eOpts {
  recursive?: boolean;
  reuse?: boolean;
  checksum?: boolean;
  ignoreTimes?: boolean;
}

async function isLocalDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export function registerGet(program: Command): void {
  const cmd = program
    .command('get')
    .description('download a file, a tree (-r) or a file to stdout (-); resumable, only missing chunks travel')
    .argument('<src>', 'remote path, e.g. /isos/big.iso')
    .argument('<dest>', 'local destination, or - for stdout')
    .option('-r, --recursive', 'download a directory (its contents go into DEST)')
    .option('--no-reuse', 'do not reuse chunks of an older local copy at DEST')
    .option('-c, --checksum', 'trees: skip files whose content is already there (reads them), not size and mtime')
    .option('-I, --ignore-times', 'trees: do not skip files that have the same size and mtime');
  addE2eOptions(cmd);
  addTransferOptions(cmd);
  addOutputOptions(cmd);
  cmd.addHelpText(
    'after',
    `
A file goes to DEST, or into DEST when DEST is a local directory or ends with '/'.
A directory's contents go into DEST; files already there with the same size and mtime
are skipped (-c compares content). The file appears only when complete and verified;
an interrupted download keeps DEST.ferry-part and the next run continues from it. When
DEST holds an older version, only the chunks that differ are fetched.

Examples:
  $ ferry get /isos/big.iso ./big.iso
  $ ferry get /isos/big.iso ~/Downloads/
  $ ferry get -r /backup/photos ./photos
  $ ferry get /backups/src.tar - | tar x
${E2E_HELP}
An end-to-end encrypted file is found by its plain name (or its stored one) and
decrypted; a wrong passphrase stops before anything is written (FERRY_ERR_CRYPTO_KEY_WRONG).
  $ ferry get /vault/diary.txt ./                  (asks for the passphrase)
  $ ferry get --passphrase-file ~/.ferry-pass /docs/taxes.pdf ./taxes.pdf`,
  );
  cmd.action(async (src: string, destArg: string, opts: GetOpts) => {
    const remote = normalizePath(src);
    let result: TransferResult | undefined;
    const bar = createProgressBar(opts);
    try {
      result = await withClient(opts, (client) => withInterrupt(async (signal) => {
        const common = { parallel: opts.parallel, signal, onProgress: bar.onProgress, noReuse: opts.reuse === false };
        const target = await getTarget(client, remote, opts, signal);
        if (target.kind === 'e2e') return getEndToEnd(client, target.serverPath, destArg, opts, common);
        const entry = target.entry;
        if (destArg === '-') {
          if (entry.type === 'dir') throw new IsADirectoryError(`${remote} is a directory: cannot write it to stdout`);
          // A reader that goes away (`| head`) aborts the signal: see ../stdout.ts.
          return await client.getStream(remote, process.stdout, common);
        }
        if (entry.type === 'dir') {
          if (!opts.recursive) throw new UsageError(`${remote} is a directory: use -r to download it`);
          return client.getTree(remote, destArg, {
            ...common,
            compare: opts.ignoreTimes ? 'ignore-times' : opts.checksum ? 'checksum' : 'default',
            onFileError: (p, err) => process.stderr.write(`ferry: ${p}: ${err instanceof Error ? err.message : String(err)}\n`),
          });
        }
        const dest = destArg.endsWith('/') || (await isLocalDir(destArg)) ? join(destArg, baseName(remote)) : destArg;
        return client.getFile(remote, dest, common);
      }));
    } catch (err) {
      bar.stop();
      if (opts.json && isFerryError(err)) printJson({ ok: false, error: err.toJSON() });
      throw err;
    } finally {
      bar.stop();
    }
    const total = summarize([result]);
    if (opts.json) printJson({ ok: true, ...total });
    else if (!opts.quiet && destArg !== '-') process.stderr.write(describeResult('got', total) + '\n');
  });
}
