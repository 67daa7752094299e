/**
 * `ferry remote add|ls|rm|types|import`: named remotes, as rclone's config. Secrets given here
 * are stored (mode 0600) and never printed back: `ls` shows them as `***`. `add` takes
 * rclone's option names too (access_key_id, key_file, an obscured pass, ...) and `import`
 * brings the s3 and sftp remotes of an rclone.conf (../../backends/rclone.ts).
 */
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { readRemotes, remotesPath, removeRemote } from '../../backends/remotes.js';
import { addRemote, defaultRegistry, redactOptions } from '../../remotes/index.js';
import { registerRemoteImport } from './remote-import.js';

/** `key=value` words -> options (values stay strings; the type's schema coerces them). */
export function parseAssignments(words: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected key=value, not ${JSON.stringify(word.includes('=') ? word : word.slice(0, 40))}`);
    out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}

export function registerRemote(program: Command): void {
  const remote = program
    .command('remote')
    .description('manage named remotes (NAME:path): S3 buckets, SFTP servers, directories')
    .addHelpText(
      'after',
      `
Remotes live in remotes.json in the config directory ($FERRY_CONFIG_DIR, else the
directory of $FERRY_CONFIG, else $XDG_CONFIG_HOME/ferry, else ~/.config/ferry), mode 0600.
Options left out may come from the environment as FERRY_<TYPE>_<OPTION>
(FERRY_S3_SECRET_ACCESS_KEY) or, for S3, AWS_*.

Examples:
  ferry remote add photos s3 bucket=pics region=eu-west-1
  ferry remote add minio s3 endpoint=http://127.0.0.1:9000 accessKeyId=... secretAccessKey=...
  ferry remote add nas sftp host=nas.local user=me keyFile=~/.ssh/id_ed25519 root=/srv/ferry
  ferry serve --store photos:ferry-chunks
  ferry remote ls`,
    );

  remote
    .command('add <name> <type> [options...]')
    .description("add or replace a remote; options are key=value, Ferry's names (see `ferry remote types`) or rclone's")
    .option('--json', 'print {name, type, options, file, notSaved} as JSON (secrets as ***; notSaved: the rclone options Ferry does not need)')
    .addHelpText(
      'after',
      `
rclone's option names work too: for s3 access_key_id, secret_access_key, session_token,
endpoint, region, force_path_style, chunk_size, upload_concurrency, list_chunk, copy_cutoff
(provider and env_auth are accepted and not needed); for sftp host, port, user, pass (in
rclone's obscured form, as rclone.conf holds it and \`rclone obscure\` prints it), key_file,
key_file_pass (obscured), key_pem, known_hosts_file.

Examples:
  $ ferry remote add photos s3 bucket=pics region=eu-west-1
  $ ferry remote add minio s3 provider=Minio endpoint=http://127.0.0.1:9000 access_key_id=AK secret_access_key=SK
  $ ferry remote add nas sftp host=nas.local user=me key_file=~/.ssh/id_ed25519 known_hosts_file=~/.ssh/known_hosts`,
    )
    .action(async (name: string, type: string, words: string[], opts: { json?: boolean }) => {
      const file = remotesPath();
      const { translateRcloneOptions } = await import('../../backends/rclone.js');
      const { options, dropped } = translateRcloneOptions(type, parseAssignments(words));
      const stored = await addRemote(file, name, type, options);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ name, type, options: redactOptions(type, stored.options), file, notSaved: dropped }) + '\n');
        return;
      }
      process.stdout.write(`remote ${name} (${type}) saved in ${file}: ${JSON.stringify(redactOptions(type, stored.options))}\n`);
      if (dropped.length > 0) process.stderr.write(`ferry: not needed by Ferry, not saved: ${dropped.join(', ')}\n`);
    });

  registerRemoteImport(remote);

  remote
    .command('ls')
    .alias('list')
    .description('list the remotes (secrets shown as ***)')
    .option('--json', 'print a JSON array of {name, type, options}, as other list commands print arrays (ferry config show --json has them by name)')
    .action(async (opts: { json?: boolean }) => {
      const remotes = await readRemotes(remotesPath());
      const shown = Object.entries(remotes).map(([name, r]) => ({ name, type: r.type, options: redactOptions(r.type, r.options) }));
      if (opts.json) {
        process.stdout.write(JSON.stringify(shown) + '\n');
        return;
      }
      if (shown.length === 0) process.stderr.write('no named remotes (ferry remote add NAME TYPE key=value…, or ferry remote import)\n');
      for (const r of shown) {
        const options = Object.entries(r.options).map(([k, v]) => `${k}=${String(v)}`).join(' ');
        process.stdout.write(`${r.name}: ${r.type}${options ? ' ' + options : ''}\n`);
      }
    });

  remote
    .command('rm <name>')
    .alias('remove')
    .description('remove a remote')
    .option('--json', 'print {removed: NAME} as JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      await removeRemote(remotesPath(), name);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ removed: name }) + '\n');
        return;
      }
      process.stdout.write(`remote ${name} removed\n`);
    });

  remote
    .command('types')
    .description('the backend types and their options')
    .action(() => {
      for (const d of defaultRegistry.types()) {
        process.stdout.write(`${d.type}: ${d.description}\n`);
        for (const o of d.options) {
          const flags = [o.type, o.required ? 'required' : undefined, o.secret ? 'secret' : undefined, o.default !== undefined && o.default !== '' ? `default ${String(o.default)}` : undefined]
            .filter(Boolean)
            .join(', ');
          process.stdout.write(`  ${o.name} (${flags}): ${o.description}\n`);
        }
      }
    });
}
