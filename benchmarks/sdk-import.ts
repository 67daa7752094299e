/**
 * Time to import the library's entries in a fresh Node process (issue 12: `ferry/client`
 * under 150 ms here; `ferry` may be heavier), and the CLI's time to fail against a port where
 * nothing listens. Medians of several runs, each its own process (module caches cold in
 * Node, warm in the OS). Usage: node dist/benchmarks/sdk-import.js [runs]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './peers/ferry-bin.js';
import { Args } from './lib/args.js';

const runs = new Args().only([], 1).countAt(0, 'runs', 9);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function importMs(entry: string): number {
  const program = `const t0 = performance.now(); await import(${JSON.stringify(entry)}); process.stdout.write(String(performance.now() - t0));`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', program], { cwd: REPO_ROOT, encoding: 'utf8' }));
}

const out: Record<string, { medianMs: number; minMs: number; maxMs: number }> = {};
for (const entry of ['ferry/client', 'ferry', 'ferry/server']) {
  const xs = Array.from({ length: runs }, () => importMs(entry));
  out[`import ${entry}`] = { medianMs: Math.round(median(xs)), minMs: Math.round(Math.min(...xs)), maxMs: Math.round(Math.max(...xs)) };
}
const fails: number[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  spawnSync(process.execPath, [join(REPO_ROOT, 'bin/ferry.js'), 'ls', '/', '--server', 'http://127.0.0.1:1', '--token', 'x'], { stdio: 'ignore' });
  fails.push(performance.now() - t0);
}
out['ferry ls against a closed port (whole process)'] = { medianMs: Math.round(median(fails)), minMs: Math.round(Math.min(...fails)), maxMs: Math.round(Math.max(...fails)) };
console.table(out);
