/**
 * A subtree of the namespace as a range of paths: everything strictly below `/a` sorts
 * between `/a/` and `/a0` in byte order, because '0' is the character after '/'. Paths are
 * stored with byte-order collation (see migrations.ts), so a subtree is one index range scan.
 */

/** Lower bound (exclusive) of the paths strictly below `path`. */
export const subtreeStart = (path: string): string => (path === '/' ? '/' : path + '/');

/** Upper bound (exclusive) of the paths strictly below `path`. */
export const subtreeEnd = (path: string): string => (path === '/' ? '0' : path + '0');
