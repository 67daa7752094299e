/** `ferry config encryption set|remove|check`: the client's secret files sealed with a passphrase. */
import type { Command } from 'commander';

interface SealOpts {
  json?: boolean;
}

/** The client's files that may hold secrets: config.json (token) and remotes.json (credentials). */
async function secretFiles(): Promise<string[]> {
  const { configPath } = await import('../../client/config.js');
  const { remotesPath } = await import('../../backends/remotes.js');
  return [configPath(), remotesPath()];
}

async function existing(files: string[]): Promise<string[]> {
  const { access } = await import('node:fs/promises');
  const out: string[] = [];
  for (const f of files) if (await access(f).then(() => true, () => false)) out.push(f);
  return out;
}

/** FERRY_CONFIG_PASS, else asked (twice on a terminal when it is a new one). */
async function passphrase(fresh: boolean): Promise<string> {
  if (process.env.FERRY_CONFIG_PASS) return process.env.FERRY_CONFIG_PASS;
  const { promptNewPassword, promptSecret } = await import('../prompt.js');
  return fresh ? promptNewPassword('New config passphrase: ') : promptSecret('Config passphrase: ');
}

export function registerConfigEncryption(config: Command): void {
  const enc = config.command('encryption').description("encrypt the client's config.json and remotes.json with a passphrase (FERRY_CONFIG_PASS)");
  enc
    .command('set')
    .description("encrypt the files that hold tokens and remote credentials (decrypt with remove first to change the passphrase)")
    .addHelpText(
      'after',
      `
The files are sealed with AES-256-GCM under a key derived from the passphrase by scrypt
(N=2^15, r=8, p=1). Every later command that reads them needs FERRY_CONFIG_PASS (an
environment variable: never a flag, which other users could read in ps); without it, or with
a wrong one, it stops with FERRY_ERR_CRYPTO_KEY_MISSING or FERRY_ERR_CRYPTO_KEY_WRONG.
Files that change stay encrypted.

Examples:
  $ ferry config encryption set                 # asks for a new passphrase twice
  $ FERRY_CONFIG_PASS="$(pass ferry)" ferry ls /`,
    )
    .action(async () => {
      const { readJsonObjectFile, writePrivateJsonFile } = await import('../../core/private-file.js');
      const files = await existing(await secretFiles());
      // Read everything first (with the old passphrase, if sealed), then seal with the new one.
      const contents = await Promise.all(files.map((f) => readJsonObjectFile(f)));
      const pass = await passphrase(true);
      for (let i = 0; i < files.length; i++) await writePrivateJsonFile(files[i], contents[i], { passphrase: pass });
      process.stdout.write(files.length === 0 ? 'no config files yet: nothing to encrypt\n' : files.map((f) => `encrypted ${f}\n`).join(''));
    });
  enc
    .command('remove')
    .description('decrypt the files again (needs FERRY_CONFIG_PASS or the passphrase at the prompt)')
    .action(async () => {
      const { isSealedFile, readJsonObjectFile, writePrivateJsonFile } = await import('../../core/private-file.js');
      const files = await existing(await secretFiles());
      if (!process.env.FERRY_CONFIG_PASS && (await Promise.all(files.map(isSealedFile))).some(Boolean)) process.env.FERRY_CONFIG_PASS = await passphrase(false);
      for (const f of files) await writePrivateJsonFile(f, await readJsonObjectFile(f), false);
      process.stdout.write(files.map((f) => `decrypted ${f}\n`).join(''));
    });
  enc
    .command('check')
    .option('--json', 'JSON output')
    .description('say which files are encrypted, and whether FERRY_CONFIG_PASS opens them')
    .action(async (opts: SealOpts) => {
      const { isSealedFile, readJsonObjectFile } = await import('../../core/private-file.js');
      const rows: { file: string; encrypted: boolean }[] = [];
      for (const f of await existing(await secretFiles())) {
        const encrypted = await isSealedFile(f);
        if (encrypted) await readJsonObjectFile(f); // throws when the passphrase is missing or wrong
        rows.push({ file: f, encrypted });
      }
      if (opts.json) process.stdout.write(JSON.stringify(rows) + '\n');
      else process.stdout.write(rows.map((r) => `${r.file}: ${r.encrypted ? 'encrypted, the passphrase opens it' : 'not encrypted'}\n`).join(''));
    });
}
