// Writes test/durations.json from the output of a whole `npm test` run (vitest's default
// reporter): each test file's duration, for the files that took at least MIN_MS. vitest starts
// the longest first (test/longest-first.ts). Usage: node scripts/test-durations.mjs RUN.LOG [OUT.json]
import { readFileSync, writeFileSync } from 'node:fs';

const MIN_MS = 5_000;
const [log, out] = process.argv.slice(2);
if (!log) {
  console.error('usage: node scripts/test-durations.mjs RUN.LOG (the output of a whole npm test)');
  process.exit(2);
}
const text = readFileSync(log, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
const durations = {};
for (const m of text.matchAll(/^ [✓❯×] +\S+ +(\S+\.test\.ts) \(\d+ tests?[^)]*\) (\d+)ms$/gm)) {
  if (Number(m[2]) >= MIN_MS) durations[m[1]] = Number(m[2]);
}
const sorted = Object.fromEntries(Object.entries(durations).sort(([, a], [, b]) => b - a));
writeFileSync(out ?? new URL('../test/durations.json', import.meta.url), JSON.stringify(sorted, null, 2) + '\n');
console.log(`${out ?? 'test/durations.json'}: ${Object.keys(sorted).length} files of ${MIN_MS / 1000} s or more`);
