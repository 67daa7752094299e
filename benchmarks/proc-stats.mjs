/**
 * What the scripts that run builds of `ferry serve` side by side (ingest-rss.mjs,
 * sftp-ingest-rss.mjs, sftp-small-files.mjs) share: their `--name N` options, a process's CPU
 * and memory from /proc, and the median of runs.
 */
import { readFileSync } from 'node:fs';

/** Takes `--name N` out of args (a number), or returns def when absent. */
export function takeOpt(args, name, def) {
  const at = args.indexOf(`--${name}`);
  if (at < 0) return def;
  const v = Number(args[at + 1]);
  args.splice(at, 2);
  return v;
}

/** User + system CPU of a process so far, in ms. */
export const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const statusKb = (pid, field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
/** Resident memory now, in KiB. */
export const rssKb = (pid) => statusKb(pid, 'VmRSS');
/** The high-water mark of resident memory, in KiB. */
export const hwmKb = (pid) => statusKb(pid, 'VmHWM');

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Runs `run(root)` for each build, PAIRS times, the order reversed every other pair, and
 * prints each run and then, per build, the median of each of `keys`.
 */
export async function alternate(pairs, roots, run, keys) {
  const results = new Map(roots.map((r) => [r, []]));
  for (let p = 0; p < pairs; p++) {
    for (const root of p % 2 ? [...roots].reverse() : roots) {
      const r = await run(root);
      results.get(root).push(r);
      console.log(JSON.stringify({ root, ...r }));
    }
  }
  for (const [root, rs] of results) {
    const m = {};
    for (const k of keys) m[k] = Number(median(rs.map((r) => r[k])).toFixed(2));
    console.log(`median ${root}: ${JSON.stringify(m)} ok=${rs.map((r) => r.ok).join(',')}`);
  }
}
