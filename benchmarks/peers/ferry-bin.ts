/**
 * Paths of the ferry CLI and of the compiled benchmarks, whether this module runs compiled
 * (dist/benchmarks/peers/) or from source under vitest (benchmarks/peers/).
 */
import { fileURLToPath } from 'node:url';

const compiled = import.meta.url.includes('/dist/benchmarks/');
const repo = new URL(compiled ? '../../../' : '../../', import.meta.url);

export const FERRY_BIN = fileURLToPath(new URL('bin/ferry.js', repo));

/** A compiled benchmark module by its path under benchmarks/ (`tools/ferry-load.js`); always from dist/. */
export function benchScript(rel: string): string {
  return fileURLToPath(new URL(`dist/benchmarks/${rel}`, repo));
}

export const REPO_ROOT = fileURLToPath(repo);
