/**
 * The figures README's Benchmarks prose quotes hold against the run they say they come from.
 * `npm run bench` replaces the table between `<!-- bench:start -->` and `<!-- bench:end -->`,
 * but the paragraphs after it ("What bounds each figure") are written by hand, and their
 * figures drifted after each bench ("1.68× in the full bench above" where the table said 1.26).
 *
 * The rule, for the prose from `<!-- bench:end -->` to the next section:
 * - A figure from the latest run carries a tag right after it, `<!--bench: EXPR-->` (invisible
 *   once rendered), and must equal benchmarks/results/latest.json's value at the precision it
 *   is printed with (`1.26` is the value rounded to 2 decimals). EXPR is one of
 *   `WORKLOAD.TOOL.FIELD` (a workload's row: `archive-update.rsync.wallSeconds`; `serverCpu` and
 *   `clientCpu` are user + system), `server.NAME.FIELD` (`server.ferry.idleRssMB`), `limit.ID.FIELD` (a physical limit of the run:
 *   `limit.sha256-file.seconds`), `A / B` (a
 *   ratio of two of those), and `runs WORKLOAD.TOOL.FIELD` for a printed range `a–b` (the
 *   lowest and highest of the runs, from `raw.samples`), `slowest WORKLOAD.TOOL.FIELD` (the
 *   field of the run that took longest). A field `…MiB` is the `…MB` one in MiB.
 * - Any other figure (seconds, ms, ×, MB, MiB, MB/s, GB/s, %) must say where it comes from:
 *   its sentence names a date, a time of day (`that of 01:41`), a branch or a results file
 *   (issue-15-speed.md). A figure in a clause about "the full bench above" without a tag fails:
 *   that is the latest run, and the tag is how the test checks it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../benchmarks/peers/ferry-bin.js';

type Json = Record<string, unknown>;

interface Latest {
  workloads: Array<{ id: string; rows: Array<Json & { tool: string }> }>;
  servers: Array<Json & { server: string }>;
  limits?: Array<Json & { id: string }>;
  raw: { samples: Array<Json & { tool: string; workload: string }> };
}

const TAG = /<!--bench:\s*([^>]*?)\s*-->/g;
const NUMBER = String.raw`\d+(?:,\d{3})*(?:\.\d+)?`;
const UNIT = String.raw`(?:×|ms\b|s\b|MB\/s|GB\/s|MB\b|MiB\b|%)`;
/** A figure with a tag: the number (or range) printed, its unit, the tag's expression. */
const TAGGED = new RegExp(String.raw`(${NUMBER})(?:\s*–\s*(${NUMBER}))?\s*${UNIT}?\s*<!--bench:\s*([^>]*?)\s*-->`, 'g');
/** A figure without one. */
const FIGURE = new RegExp(String.raw`(?<![\w.])${NUMBER}(?:\s*–\s*${NUMBER})?\s*${UNIT}`, 'g');
/** What says where a figure comes from other than the latest run. */
const SOURCE = /\b20\d\d-\d\d-\d\d\b|\b\d\d:\d\d\b|\bbranch(?:es)?\b|[\w-]+\.md\b|alternating|targeted runs|on a quiet machine|bare `node`/;

/** The hand-written prose after the generated table: up to the next `## ` heading. */
export function benchProse(readme: string): string {
  const start = readme.indexOf('<!-- bench:end -->');
  if (start < 0) throw new Error('README has no <!-- bench:end --> marker');
  const end = readme.indexOf('\n## ', start);
  return readme.slice(start + '<!-- bench:end -->'.length, end < 0 ? undefined : end);
}

/** A field of a row or sample, `serverCpu`/`clientCpu` summed; a sample's `…RssMB` from its bytes. */
function field(record: Json, path: string): number {
  if (!(path in record) && path.endsWith('RssMB')) return field(record, path.replace(/MB$/, 'Bytes')) / 1e6;
  if (!(path in record) && path.endsWith('MiB')) return (field(record, path.replace(/MiB$/, 'MB')) * 1e6) / 2 ** 20;
  let value: unknown = record;
  for (const key of path.split('.')) value = (value as Json | undefined)?.[key];
  if (value !== null && typeof value === 'object' && 'user' in value && 'sys' in value) return Number(value.user) + Number(value.sys);
  if (typeof value !== 'number') throw new Error(`latest.json has no number at ${path}`);
  return value;
}

/** The value (or [lowest, highest] of the runs) an expression names in latest.json. */
export function evaluate(latest: Latest, expr: string): number | [number, number] {
  const ratio = expr.split(' / ');
  if (ratio.length === 2) return (evaluate(latest, ratio[0]) as number) / (evaluate(latest, ratio[1]) as number);
  const [, over, path] = /^(?:(runs|slowest) )?(.+)$/.exec(expr)!;
  const [first, second, ...rest] = path.split('.');
  const name = rest.join('.');
  if (first === 'limit') {
    const limit = (latest.limits ?? []).find((l) => l.id === second);
    if (!limit) throw new Error(`latest.json has no limit ${second}`);
    return field(limit, name);
  }
  if (first === 'server') {
    const server = latest.servers.find((s) => s.server === second);
    if (!server) throw new Error(`latest.json has no server ${second}`);
    return field(server, name);
  }
  if (over) {
    const samples = latest.raw.samples.filter((s) => s.workload === first && s.tool === second);
    if (samples.length === 0) throw new Error(`latest.json has no runs of ${first}/${second}`);
    if (over === 'slowest') return field(samples.reduce((a, b) => (field(b, 'wallSeconds') > field(a, 'wallSeconds') ? b : a)), name);
    const values = samples.map((s) => field(s, name));
    return [Math.min(...values), Math.max(...values)];
  }
  const row = latest.workloads.find((w) => w.id === first)?.rows.find((r) => r.tool === second);
  if (!row) throw new Error(`latest.json has no row ${first}/${second}`);
  return field(row, name);
}

const decimals = (printed: string): number => printed.split('.')[1]?.length ?? 0;
/** `value` as it would be printed with as many decimals as `printed`. */
const atPrecision = (value: number, printed: string): string => value.toFixed(decimals(printed));
const plain = (printed: string): string => printed.replace(/,/g, '');

/** Every way the prose disagrees with latest.json or does not say where a figure comes from. */
export function problems(prose: string, latest: Latest): string[] {
  const out: string[] = [];
  for (const m of prose.matchAll(TAGGED)) {
    const [, low, high, expr] = m;
    let value: number | [number, number];
    try {
      value = evaluate(latest, expr);
    } catch (err) {
      out.push(`"${m[0]}": ${(err as Error).message}`);
      continue;
    }
    const shown = Array.isArray(value) ? `${atPrecision(value[0], low)}–${atPrecision(value[1], high ?? low)}` : atPrecision(value, low);
    const printed = high === undefined ? plain(low) : `${plain(low)}–${plain(high)}`;
    if (Array.isArray(value) !== (high !== undefined)) out.push(`"${m[0]}": a range needs \`runs …\`, and \`runs …\` a range`);
    else if (shown !== printed) out.push(`"${m[0]}": latest.json says ${shown}`);
  }
  // The untagged figures: each sentence, the tagged figures taken out.
  const untagged = prose.replace(TAGGED, '‹tagged›').replace(TAG, '');
  for (const sentence of untagged.replace(/\n\s*/g, ' ').split(/(?<=[.!?])\s+(?=[A-Z*(`]|- )|\s-\s(?=\*\*)/)) {
    for (const m of sentence.matchAll(FIGURE)) {
      const before = sentence.slice(0, m.index);
      const after = sentence.slice(m.index + m[0].length);
      const clause = before.slice(Math.max(before.lastIndexOf('('), before.lastIndexOf(';'), before.lastIndexOf(')')) + 1) + m[0] + after.split(/[();]/)[0];
      if (/\babove\b/.test(clause) && !SOURCE.test(clause)) out.push(`"${m[0]}" in "${clause.trim()}": a figure of the latest run needs a <!--bench: …--> tag`);
      else if (!SOURCE.test(clause) && !SOURCE.test(sentence)) out.push(`"${m[0]}" in "${sentence.trim().slice(0, 160)}": say where it comes from (a date, a branch, a results file) or tag it`);
    }
  }
  return out;
}

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const latest = JSON.parse(readFileSync(join(REPO_ROOT, 'benchmarks/results/latest.json'), 'utf8')) as Latest;

describe("README's benchmark prose against benchmarks/results/latest.json", () => {
  it('quotes every figure of the latest run as latest.json has it, and says where the others come from', () => {
    expect(problems(benchProse(readme), latest)).toEqual([]);
  });

  it('checks figures of the latest run: the prose holds some, tagged', () => {
    expect([...benchProse(readme).matchAll(TAGGED)].length).toBeGreaterThan(10);
  });

  it('fails when one tagged figure is changed, or a range printed where one value is', () => {
    const prose = benchProse(readme);
    const m = [...prose.matchAll(TAGGED)].find((t) => t[2] === undefined)!;
    const changed = `${m[1].slice(0, -1)}${m[1].endsWith('9') ? '0' : String(Number(m[1].slice(-1)) + 1)}`;
    const edited = prose.slice(0, m.index) + m[0].replace(m[1], changed) + prose.slice(m.index + m[0].length);
    const found = problems(edited, latest);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(`latest.json says ${m[1].replace(/,/g, '')}`);
  });

  it('fails on an untagged figure of "the full bench above", on one with no source, and on a tag naming nothing', () => {
    expect(problems('\n- **X.** It took 1.40× rsync\'s time in the full bench above.\n', latest)).toEqual([
      expect.stringContaining('needs a <!--bench: …--> tag'),
    ]);
    expect(problems('\n- **X.** It took 2.5 s.\n', latest)).toEqual([expect.stringContaining('say where it comes from')]);
    expect(problems('\n- **X.** It took 2.5 s (2026-12-05, branch x).\n', latest)).toEqual([]);
    expect(problems('\n- **X.** It took 2.5 s<!--bench: nowhere.ferry.wallSeconds-->.\n', latest)).toEqual([expect.stringContaining('no row nowhere/ferry')]);
  });
});
