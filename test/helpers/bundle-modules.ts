/**
 * Which modules a run of the CLI loaded: the URLs a preload recorded (record-loads.mjs),
 * bundle files expanded into the modules they hold by dist/bundle/chunks.json (written by
 * scripts/bundle.mjs), other files as their path from node_modules/ on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bundle = join(root, 'dist/bundle') + '/';

export function modulesOf(urls: string[]): string[] {
  const chunks = JSON.parse(readFileSync(join(bundle, 'chunks.json'), 'utf8')) as Record<string, string[]>;
  const out = new Set<string>();
  for (const url of urls) {
    if (!url.startsWith('file:')) continue;
    const file = fileURLToPath(url);
    if (file.startsWith(bundle)) for (const m of chunks[file.slice(bundle.length)] ?? []) out.add(m);
    else out.add(file.slice(file.indexOf('node_modules/') >= 0 ? file.indexOf('node_modules/') : 0));
  }
  return [...out];
}

/** The modules whose path contains one of `fragments`. */
export const hits = (modules: string[], fragments: string[]): string[] => modules.filter((m) => fragments.some((f) => m.includes(f)));
