import { placeEntryJson } from '../format.js';
import type { Command } from 'commander';
import type { FerryClient } from '../../client/client.js';
import type { KeyLocation } from '../../client/e2e/transfer.js';
import type { Entry } from '../../core/protocol.js';
import { baseName, joinPath, normalizePath, parentPath } from '../../core/path.js';
import { CryptoKeyMissingError, UsageError, ValidationError, isFerryError } from '../../core/errors.js';
import { isE2eName } from '../../core/e2e-layout.js';
import { addE2eOptions, secretOf, type E2eOpts } from '../e2e-flags.js';
import { endsInDot, resolveLocations, type Location } from '../location.js';
import { addConnectionOptions, withServer, printJson, withInterrupt, type ConnectionOpts } from '../options.js';
import { terminalSafe } from '../terminal-text.js';
import { etagArg, refuseIfMatchWith } from '../if-match.js';

export interface MvCpOpts extends ConnectionOpts, E2eOpts {
  clobber?: boolean;
  targetDirectory?: boolean;
  recursive?: boolean;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
  /** --if-match: replace the file at the target only if it still has this ETag. */
  ifMatch?: string;
}

/**
 * Where SRC lands for mv/cp: into DEST when DEST is an existing directory (like mv(1)),
 * unless -T says DEST is the exact target.
 */
export async function targetOf(client: FerryClient, src: string, destArg: string, opts: MvCpOpts, signal: AbortSignal): Promise<string> {
  const dest = normalizePath(destArg);
  if (opts.targetDirectory === false) return dest;
  if (destArg.endsWith('/')) return joinPath(dest, baseName(src));
  const e = await client.statIfExists(dest, { signal });
  return e?.type === 'dir' ? joinPath(dest, baseName(src)) : dest;
}

/** Both places on one Ferry server: the server moves or copies by reference. */
export function oneServer(a: Location, b: Location): [Extract<Location, { kind: 'server' }>, Extract<Location, { kind: 'server' }>] | undefined {
  return a.kind === 'server' && b.kind === 'server' && a.server === b.server ? [a, b] : undefined;
}

/**
 * mv and cp between different stores (or not on a Ferry server): bytes travel through this
 * process, or the store's own copy/move when both places are in one store.
 */
export async function transferBetween(from: Location, to: Location, destArg: string, opts: MvCpOpts, move: boolean): Promise<Entry> {
  if (move && endsInDot(from.spec)) throw new UsageError(`refusing to move '.' or '..' (${from.label}): name the folder`);
  const { transferPlace, withPlaces } = await import('../remote-fs.js');
  const { placesEnv } = await import('../remote-transfer.js');
  const env = placesEnv(opts);
  return withPlaces(
    [from.spec, to.spec],
    ([a, b]) =>
      withInterrupt((signal) =>
        transferPlace(a, b, {
          move,
          into: opts.targetDirectory === false ? false : destArg.endsWith('/') ? true : undefined,
          recursive: opts.recursive || move,
          noClobber: opts.clobber === false,
          dryRun: opts.dryRun,
          signal,
          onAction: opts.dryRun ? (l) => process.stderr.write(terminalSafe(l) + '\n') : undefined,
        }),
      ),
    env,
  );
}

/**
 * mv and cp on one Ferry server, by reference. Paths in an end-to-end folder are plain and
 * get their new encrypted names here (src/client/e2e/moves.ts); a tree that holds a vault
 * with files is moved with the key when the server asks for it (FERRY_ERR_E2E_NEEDS_KEY).
 */
export async function onServer(op: 'move' | 'copy', client: FerryClient, src: string, destPath: string, opts: MvCpOpts, signal: AbortSignal): Promise<Entry> {
  const overwrite = opts.clobber !== false;
  const secret = secretOf(opts);
  const { encryptedFileNamed, moveInVaults, moveVaultsWithin } = await import('../e2e-run.js');
  const ifMatch = opts.ifMatch;
  const common = { overwrite, ifMatch, targetDirectory: opts.targetDirectory, recursive: opts.recursive, signal, onDryRun: opts.dryRun ? (l: string) => void process.stderr.write(terminalSafe(l) + '\n') : undefined };
  const vaulted = await moveInVaults(client, op, src, destPath, secret, common);
  if (vaulted) return vaulted.entry;
  // A file put with --encrypt named in plain: moved by its stored name, to its plain target's name encrypted for the new folder.
  const encrypted = await encryptedFileNamed(client, normalizePath(src), secret, signal);
  const from = encrypted?.serverPath ?? src;
  const e = await client.stat(from, { signal });
  if (op === 'copy' && e.type === 'dir' && !opts.recursive) throw new UsageError(`${src} is a directory: use -r to copy it`);
  const shown = await targetOf(client, src, destPath, opts, signal);
  // Named by its stored name (`ls` without the key shows it so): still a file put with --encrypt.
  const storedNamed = !encrypted && e.type === 'file' && isE2eName(baseName(from));
  const target = encrypted || storedNamed ? await encryptedTarget(client, src, shown, opts, encrypted?.loc, signal) : shown;
  // The server takes a move onto itself as done (a POSIX rename(a, a), which SFTP needs);
  // asked of `ferry mv`, it is a mistake, refused as cp's is and as mv(1) does.
  if (op === 'move' && target === from) throw new ValidationError(`${src} and ${shown} are the same file`);
  if (opts.dryRun) {
    process.stderr.write(`(dry run) ${op} ${terminalSafe(`${src} -> ${shown}`)}\n`);
    return e;
  }
  const plainEntry = (x: Entry): Entry => (encrypted || storedNamed ? { ...x, path: shown, name: baseName(shown) } : x);
  try {
    return plainEntry(op === 'move' ? await client.move(from, target, { overwrite, ifMatch, signal }) : await client.copy(from, target, { overwrite, ifMatch, signal }));
  } catch (err) {
    if (!isFerryError(err, 'FERRY_ERR_E2E_NEEDS_KEY')) throw err;
    return (await moveVaultsWithin(client, op, src, target, secret, common)).entry;
  }
}

/**
 * The server path a file put with --encrypt goes to under the plain name `shown`: that name
 * encrypted for its folder (src/client/e2e/moves.ts), so that `get` and `ls` find it by that
 * name and decrypt it, never sealed bytes under a plain name that `get` would hand out as they
 * are. A target that is already a stored name (`mv /d/X.fe2e /e/`) keeps it. Encrypting a new
 * name takes the key: without it FERRY_ERR_CRYPTO_KEY_MISSING, saying so, before anything moves.
 */
async function encryptedTarget(client: FerryClient, src: string, shown: string, opts: MvCpOpts, loc: KeyLocation | undefined, signal: AbortSignal): Promise<string> {
  const { encryptedTargetOf } = await import('../e2e-run.js');
  try {
    return await encryptedTargetOf(client, shown, secretOf(opts), loc, signal);
  } catch (err) {
    if (!isFerryError(err, 'FERRY_ERR_CRYPTO_KEY_MISSING')) throw err;
    throw new CryptoKeyMissingError(
      `${src} is a file put with --encrypt: its new name ${shown} is encrypted too, which takes the key: give --passphrase-file FILE or FERRY_E2E_PASSPHRASE (or give a folder, ${parentPath(shown)}/, to keep its stored name)`,
      { cause: err },
    );
  }
}

/** --if-match of mv and cp: the ETag is of the file SRC replaces. */
export function addIfMatchOption(cmd: Command, verb: string): void {
  cmd.option('--if-match <etag>', `${verb} only if the file it replaces still has this ETag (as ferry stat --json gives it; the hash alone works too): fail (exit 6) if it changed or went away meanwhile`, etagArg);
}

export function registerMv(program: Command): void {
  const cmd = program
    .command('mv')
    .description('move or rename a file or directory, on the server (no bytes are copied) or between any remotes')
    .argument('<src>', 'a server path (/x, ferry:/x), NAME:path, s3:bucket/key, ./file')
    .argument('<dest>', 'the same forms; an existing directory receives SRC inside it')
    .option('--no-clobber', 'fail instead of replacing an existing file')
    .option('-T, --no-target-directory', 'treat DEST as the exact new path even if it is a directory')
    .option('-n, --dry-run', 'show what would be moved; move nothing')
    .option('--json', 'print the moved entry as JSON')
    .option('-q, --quiet', 'print nothing but errors');
  addIfMatchOption(cmd, 'move');
  addE2eOptions(cmd);
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
On one Ferry server a move is a rename. Between two stores each file is copied, checked
by the store's write, then removed from the source.

In an end-to-end folder (ferry mkdir --e2e) name files and folders by their plain paths:
the new names are encrypted here (asking for the passphrase), and so are the names of
everything below a moved folder. Moving out of such a folder, or into it from outside,
is refused (use ferry get and ferry put). Moving a vault that holds files, or a folder
holding one, asks for the passphrase too, to encrypt its names for the new path.

Examples:
  $ ferry mv /inbox/report.pdf /archive/2026/
  $ ferry mv /photos/tmp /photos/2026-11
  $ ferry mv /vault/drafts/letter.txt /vault/sent/      (plain names, encrypted here)
  $ ferry mv s3:bucket/upload.bin ferry:/inbox/`,
  );
  cmd.action(async (src: string, destArg: string, opts: MvCpOpts) => {
    const [from, to] = await resolveLocations([src, destArg], 'server');
    if (opts.ifMatch !== undefined) refuseIfMatchWith(oneServer(from, to) !== undefined, opts);
    let entry: Entry;
    const same = oneServer(from, to);
    if (same) {
      const [from, to] = same;
      if (from.path === '/') throw new UsageError('cannot move the root');
      entry = await withServer(from, opts, (client) => withInterrupt((signal) => onServer('move', client, from.path, destArg.endsWith('/') ? to.path + '/' : to.path, opts, signal)));
    } else {
      entry = await transferBetween(from, to, destArg, opts, true);
    }
    if (opts.json) printJson(placeEntryJson(entry)) // mtime null, not 0 (1970), where the store keeps none;
  });
}
