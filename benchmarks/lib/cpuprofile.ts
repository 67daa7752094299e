/**
 * Reads V8 `.cpuprofile` files (what `node --cpu-prof` writes) and says where the time went:
 * self time by function and by source (a ferry file, a package, Node's internals, V8 itself).
 */
import { readFile } from 'node:fs/promises';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  /** Share of the thread's busy (non-idle) time. */
  share: number;
}

export interface ProfileSummary {
  file: string;
  /** Wall time the profile covers, ms. */
  totalMs: number;
  /** Sampled time not in (idle), ms. */
  busyMs: number;
  /** (garbage collector) time, ms. */
  gcMs: number;
  functions: SelfTime[];
  sources: SelfTime[];
  /**
   * Ferry's own functions (src/) by inclusive time: the function and everything it called,
   * each sample counted once per function however deep the recursion. Says which of our
   * calls the self time of libraries (kysely, undici, ...) is spent for.
   */
  ferryInclusive: SelfTime[];
}

/** Makes a script URL short and stable: `src/client/put.ts`-like for ours, `pkg:undici` for packages. */
export function sourceOf(url: string, functionName: string): string {
  if (!url) {
    // Native code has no URL: V8's pseudo-frames, or C++ builtins called from JavaScript.
    return functionName.startsWith('(') ? functionName : '(native)';
  }
  if (url.startsWith('node:')) return url;
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return `pkg:${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const dist = path.indexOf('/dist/');
  if (dist >= 0) return path.slice(dist + '/dist/'.length);
  const bin = path.indexOf('/bin/');
  return bin >= 0 ? path.slice(bin + 1) : path;
}

/**
 * Only the window [skipMs, untilMs) of the profile counts (a server's start-up left out when
 * the workload after it is of interest; or only its start-up).
 */
export async function summarizeProfile(file: string, top = 20, skipMs = 0, untilMs = Infinity): Promise<ProfileSummary> {
  const p = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time between sample i-1 and sample i: charge it to sample i-1,
  // the frame that was running during that interval.
  let at = 0;
  let firstUs = -1;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0;
    if (at < skipMs * 1000) continue;
    if (at >= untilMs * 1000) break;
    if (firstUs < 0) firstUs = at;
    const dt = i + 1 < p.timeDeltas.length ? p.timeDeltas[i + 1] : 0;
    selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + Math.max(0, dt));
  }
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  const frameName = (cf: CallFrame) => `${cf.functionName || '(anonymous)'} ${sourceOf(cf.url, cf.functionName)}:${cf.lineNumber + 1}`;
  const fn = new Map<string, number>();
  const src = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  let sampled = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    sampled += us;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    if (cf.functionName === '(garbage collector)') gc += us;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (!sourceOf(f.url, f.functionName).startsWith('src/')) continue;
      const name = frameName(f);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
    const source = sourceOf(cf.url, cf.functionName);
    const name = cf.url ? `${cf.functionName || '(anonymous)'} ${source}:${cf.lineNumber + 1}` : cf.functionName || '(anonymous native)';
    fn.set(name, (fn.get(name) ?? 0) + us);
    src.set(source, (src.get(source) ?? 0) + us);
  }
  const busy = sampled - idle;
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: busy > 0 ? us / busy : 0 }));
  return { file, totalMs: Math.min((p.endTime - p.startTime) / 1000, untilMs) - Math.max(0, firstUs) / 1000, busyMs: busy / 1000, gcMs: gc / 1000, functions: rank(fn), sources: rank(src), ferryInclusive: rank(inclusive) };
}
