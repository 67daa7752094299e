/**
 * Where Ferry keeps its per-user configuration: one rule for every file of it (the client's
 * server/token file, the named remotes of the storage library).
 *
 * `$FERRY_CONFIG_DIR`, else the directory of `$FERRY_CONFIG` (the client's explicit config
 * file), else `$XDG_CONFIG_HOME/ferry` (only when absolute, as the XDG spec says), else
 * `~/.config/ferry`.
 */
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

type Env = Readonly<Record<string, string | undefined>>;

export function configDir(env: Env = process.env): string {
  if (env.FERRY_CONFIG_DIR) return env.FERRY_CONFIG_DIR;
  if (env.FERRY_CONFIG) return dirname(env.FERRY_CONFIG);
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config');
  return join(base, 'ferry');
}

/**
 * Where Ferry keeps per-user state that is not configuration (bisync's pair states, the
 * upload sessions `ferry put` continues): `$XDG_STATE_HOME/ferry` (only when absolute), else
 * `~/.local/state/ferry`.
 */
export function stateDir(env: Env = process.env): string {
  const base = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'ferry');
}
