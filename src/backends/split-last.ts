import { trimTrailingSlashes } from '../core/path.js';

/**
 * `a/b/c` -> `{parent: 'a/b', name: 'c'}`, `/srv/x` -> `{parent: '/srv', name: 'x'}`,
 * `c` -> `{parent: '', name: 'c'}`; undefined when there is no last segment (``, `/`).
 * Trailing slashes are ignored. For BackendDefinition.parentOf.
 */
export function splitLast(path: string): { parent: string; name: string } | undefined {
  const p = trimTrailingSlashes(path);
  const slash = p.lastIndexOf('/');
  const name = p.slice(slash + 1);
  if (name === '' || name === '.' || name === '..' || name === '~') return undefined;
  return { parent: slash === -1 ? '' : slash === 0 ? '/' : p.slice(0, slash), name };
}
