/** The local backend and its registry entry: `./dir`, `/abs/dir`, `~/dir`, `dir` or `local:/dir`. */
import { homedir } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { ConfigError } from '../../core/errors.js';
import type { BackendDefinition } from '../definition.js';
import { LocalBackend } from './local-backend.js';
import { trimTrailingSlashes } from '../../core/path.js';

export { dropSpareStaging, LocalBackend, mkdirDurable, syncDir, TEMP_PREFIX, type LocalBackendOptions } from './local-backend.js';

/** `~` and `~/x` name the home directory, as a shell would (remote strings often skip the shell: config files, URLs). */
function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return homedir() + path.slice(1);
  return path;
}

export const localBackendDefinition: BackendDefinition = {
  type: 'local',
  description: 'files in a directory of this machine',
  options: [
    { name: 'root', type: 'string', required: true, description: 'the directory holding the objects (created on the first write)' },
    {
      name: 'followSymlinks',
      type: 'boolean',
      default: false,
      description: 'follow symbolic links that stay inside the root (default: links are skipped, like rclone)',
    },
  ],
  parseSpec(rest) {
    if (rest === '') throw new ConfigError('local: needs a directory (local:/path, or just the path)');
    return { root: expandHome(rest) };
  },
  subPath: (options, sub) => ({ ...options, root: `${trimTrailingSlashes(String(options.root))}/${sub}` }),
  parentOf(options) {
    const root = resolve(String(options.root));
    return root === dirname(root) ? undefined : { options: { ...options, root: dirname(root) }, name: basename(root) };
  },
  factory: (options) => new LocalBackend({ root: options.root as string, followSymlinks: options.followSymlinks as boolean }),
};
