/**
 * The library's messages name its options (`` `noOverwrite` ``, `` `force: true` ``), in
 * backquotes, as a program calling it writes them; the CLI prints the flag that sets each
 * instead (`--no-clobber`, `--force`). A backquoted name not in this table is printed as it
 * is: a hint in the library's terms is still a hint.
 */
const FLAG_OF_OPTION: Readonly<Record<string, string>> = {
  'noOverwrite': '--no-clobber',
  'noOverwrite: true': '--no-clobber',
  'force: true': '--force',
  'resync: true': '--resync',
  'resyncMode': '--resync-mode',
  'maxDelete': '--max-delete',
  'conflict': '--conflict',
  'backupDir': '--backup-dir',
  'ignoreExisting': '--ignore-existing',
  'update': '--update',
  "compare: 'ignore-times'": '--ignore-times',
  'trackRenames': '--track-renames',
  'recursive: true': '-r',
  'putTree': '-r',
  'server': '--server',
  'token': '--token',
  'ca': '--ca FILE',
  "fingerprint: 'SHA256:…'": '--fingerprint SHA256:…',
  'passphraseFile': '--passphrase-file FILE',
  'keyFile': '--e2e-key-file FILE',
  'encryptionKeyFile': '--encryption-key-file',
};

/** `message` with the library's option names replaced by the CLI's flags. */
export function inCliTerms(message: string): string {
  return message.replace(/`([^`\n]+)`/g, (quoted, name: string) => FLAG_OF_OPTION[name] ?? quoted);
}
