/**
 * `ferry remote import [RCLONE_CONF]`: the s3 and sftp remotes of an rclone.conf become
 * Ferry's named remotes of the same names (options translated, obscured passwords revealed,
 * options Ferry has no use for left out and named). Remotes of other types, names Ferry does
 * not allow and names already taken are skipped with the reason; `--force` replaces existing
 * remotes of the same name, `-n` shows what would be imported.
 */
import type { Command } from 'commander';
import { printJson } from '../options.js';

interface ImportOpts {
  force?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

interface Imported {
  name: string;
  type: string;
  options: Record<string, unknown>;
  /** rclone options left out: not needed by Ferry, or not supported by it. */
  leftOut: string[];
}

export function registerRemoteImport(remote: Command): void {
  remote
    .command('import')
    .argument('[rclone_conf]', "rclone's config file (default: as rclone finds it: RCLONE_CONFIG, else ~/.config/rclone/rclone.conf)")
    .description("import the s3 and sftp remotes of an rclone.conf as named remotes of the same names")
    .option('--force', 'replace a Ferry remote of the same name (default: skip it)')
    .option('-n, --dry-run', 'show what would be imported; save nothing')
    .option('--json', 'print {imported, skipped} as JSON')
    .addHelpText(
      'after',
      `
Each s3 or sftp remote keeps its name (mys3: in rclone is mys3: in Ferry, an s3 remote
without a bucket takes it from the path as in rclone: mys3:bucket/dir). Obscured passwords
are revealed and stored as Ferry stores secrets (mode 0600; ferry config encryption set
seals them). An encrypted rclone.conf is refused: decrypt it first.

Examples:
  $ ferry remote import
  $ ferry remote import ~/.config/rclone/rclone.conf --dry-run
  $ ferry remote import ./rclone.conf --force --json`,
    )
    .action(async (file: string | undefined, opts: ImportOpts) => {
      const { readFile } = await import('node:fs/promises');
      const { defaultRcloneConf, parseRcloneConf, translateRcloneOptions, IMPORTABLE_TYPES } = await import('../../backends/rclone.js');
      const { readRemotes, remotesPath } = await import('../../backends/remotes.js');
      const { addRemote, defaultRegistry, redactOptions } = await import('../../remotes/index.js');
      const { ConfigError } = await import('../../core/errors.js');
      const path = file ?? defaultRcloneConf();
      const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new ConfigError(`cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file (rclone config file shows where rclone keeps it)' : err.message}`);
      });
      const existing = await readRemotes(remotesPath());
      const imported: Imported[] = [];
      const skipped: Array<{ name: string; type: string | null; reason: string }> = [];
      for (const section of parseRcloneConf(text, path)) {
        const type = section.type === undefined ? undefined : IMPORTABLE_TYPES[section.type];
        if (type === undefined) {
          skipped.push({ name: section.name, type: section.type ?? null, reason: section.type ? 'not imported: Ferry imports the s3 and sftp remotes of an rclone.conf' : 'no type' });
          continue;
        }
        if (Object.hasOwn(existing, section.name) && !opts.force) {
          skipped.push({ name: section.name, type, reason: 'a Ferry remote of that name exists (--force replaces it)' });
          continue;
        }
        try {
          const { options, dropped } = translateRcloneOptions(type, section.options);
          // Options neither Ferry nor the translation knows (acl, shell_type, ...) are left out, named.
          const known = new Set(defaultRegistry.get(type)!.options.map((o) => o.name));
          const kept = Object.fromEntries(Object.entries(options).filter(([k]) => known.has(k)));
          const leftOut = [...dropped, ...Object.keys(options).filter((k) => !known.has(k))];
          defaultRegistry.checkRemoteName(section.name);
          let stored: Record<string, unknown> = kept;
          // An rclone s3 remote has no bucket (it comes with the path): checked with a stand-in.
          if (opts.dryRun) defaultRegistry.validateOptions(type, { ...(type === 's3' ? { bucket: 'stand-in' } : {}), ...kept });
          else stored = (await addRemote(remotesPath(), section.name, type, kept)).options;
          imported.push({ name: section.name, type, options: redactOptions(type, stored), leftOut });
        } catch (err) {
          skipped.push({ name: section.name, type, reason: (err as Error).message });
        }
      }
      if (opts.json) return printJson({ file: path, dryRun: opts.dryRun === true, imported, skipped });
      for (const r of imported) {
        const options = Object.entries(r.options).map(([k, v]) => `${k}=${String(v)}`).join(' ');
        process.stdout.write(`${opts.dryRun ? 'would import' : 'imported'} ${r.name}: ${r.type} ${options}${r.leftOut.length ? ` (left out: ${r.leftOut.join(', ')})` : ''}\n`);
      }
      for (const s of skipped) process.stderr.write(`skipped ${s.name}${s.type ? ` (${s.type})` : ''}: ${s.reason}\n`);
      if (imported.length === 0 && skipped.length === 0) process.stderr.write(`no remotes in ${path}\n`);
    });
}
