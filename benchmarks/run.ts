/**
 * `npm run bench`: ferry side by side with curl→nginx, scp, sftp, rsync over ssh and rclone
 * to sftp, on the same files, in one run (issue 6), plus the physical limits and the
 * micro-benchmarks of the hot paths. Writes benchmarks/results/latest.md and latest.json and
 * puts the summary table in the README.
 *
 *   npm run bench                                   # defaults: a few minutes per run, 3 runs
 *   npm run bench -- --runs 5                       # on a quiet machine
 *   npm run bench -- --quick                        # minute sizes, 1 run: does it all work?
 *   npm run bench -- --tools ferry,rsync --workloads tree,tree-noop
 *   npm run bench -- --pin                          # clients on core 0, servers on core 1
 *
 * Options: --size 1GiB (workloads 1-4), --edit 1MiB, --files 10000, --min-file 1KiB,
 * --max-file 64KiB, --clients 200, --client-size 4MiB, --archive-size 128MiB (workload 8: node_modules
 * packages in the tar), --runs 3, --tools (DEFAULT_TOOLS;
 * also rclone-webdav and tus: Ferry's WebDAV and tus fronts),
 * --workloads (issue 6's: upload,download,reupload,edit,tree,tree-noop,many; issue 15's
 * edit-scattered, text, archive, archive-update; `all` adds
 * download-delta, tree-download, tree-download-noop), --no-limits, --no-micro, --no-web,
 * --no-cluster (benchmarks/cluster.ts: --clients clients against one node and three), --out DIR (default benchmarks/results),
 * --no-readme, --work DIR (where the temporary files go; default the OS temp dir),
 * --render FILE (no run: re-render latest.md and the README from a saved latest.json),
 * --pin ("two machines": clients and servers pinned to separate cores with taskset),
 * --help (this text). Any other option is refused before anything runs.
 *
 * Needs root (sshd switches users; apt-get installs missing peers) on Debian.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Args } from './lib/args.js';
import { renderMarkdown, renderReadmeSection, summarize, type MicroResults } from './lib/report.js';
import { ALL_TOOLS, DEFAULT_TOOLS, isInterrupted, runSuite, type SuiteResult, type ToolId } from './lib/suite.js';
import { DEFAULT_WORKLOADS, WORKLOADS, type WorkloadId } from './lib/workloads.js';
import { REPO_ROOT, benchScript } from './peers/ferry-bin.js';
import { enablePinning } from './lib/pin.js';

const args = new Args().only([
  ...['archive-size', 'client-size', 'clients', 'edit', 'files', 'max-file', 'min-file', 'out', 'render', 'runs', 'size', 'tools', 'work', 'workloads'],
  ...['no-cluster', 'no-limits', 'no-micro', 'no-readme', 'no-web', 'pin', 'quick'],
]);
const quick = args.flag('quick');
const log = (line: string) => process.stderr.write(line + '\n');
// --pin: "two machines" mode, clients and servers on separate cores (./lib/pin.ts).
if (args.flag('pin')) {
  const p = enablePinning();
  log(`pinned: clients on core(s) ${p.client}, servers on core(s) ${p.server}`);
}

const tools = (args.list('tools') ?? [...DEFAULT_TOOLS]) as ToolId[];
for (const t of tools) if (!(ALL_TOOLS as readonly string[]).includes(t)) throw new Error(`unknown tool ${t}; known: ${ALL_TOOLS.join(', ')}`);
const asked = args.list('workloads');
const workloads = (asked?.includes('all') ? WORKLOADS.map((w) => w.id) : (asked ?? DEFAULT_WORKLOADS)) as WorkloadId[];
for (const w of workloads) if (!WORKLOADS.some((x) => x.id === w)) throw new Error(`unknown workload ${w}; known: ${WORKLOADS.map((x) => x.id).join(', ')}`);

const options = {
  size: args.size('size', quick ? '32MiB' : '1GiB'),
  edit: args.size('edit', '1MiB'),
  files: args.number('files', quick ? 200 : 10_000),
  minFile: args.size('min-file', '1KiB'),
  maxFile: args.size('max-file', '64KiB'),
  clients: args.number('clients', quick ? 10 : 200),
  clientSize: args.size('client-size', quick ? '256KiB' : '4MiB'),
  archiveSize: args.size('archive-size', quick ? '8MiB' : '128MiB'),
  runs: args.number('runs', quick ? 1 : 3),
  tools,
  workloads,
  limits: !args.flag('no-limits'),
  workDir: args.string('work', '') || undefined,
  log,
};
const outDir = args.string('out', join(REPO_ROOT, 'benchmarks', 'results'));
const command = `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`;

// --render FILE: only re-render latest.md and the README from a saved latest.json.
const renderFrom = args.string('render', '');
const saved = renderFrom ? (JSON.parse(await readFile(renderFrom, 'utf8')) as { raw: SuiteResult; micro?: MicroResults; command: string }) : undefined;
// After Ctrl-C the killed clients make the run fail; the interrupt handler cleans up and exits.
const result = saved ? saved.raw : await runSuite(options).catch((err: unknown) => (isInterrupted() ? new Promise<never>(() => {}) : Promise.reject(err)));

let micro: MicroResults | undefined = saved?.micro;
if (!saved && !args.flag('no-micro')) {
  // The micro-benchmarks are their own scripts (runnable alone); here they run with --json.
  const runMicro = (script: string, extra: string[]) => {
    log(`micro-benchmark ${script}`);
    return JSON.parse(execFileSync(process.execPath, [benchScript(script), '--json', ...extra], { encoding: 'utf8', maxBuffer: 16 << 20 })) as unknown;
  };
  micro = {
    chunking: runMicro('micro/chunking.js', quick ? ['--size', '64MiB', '--mem-size', '32MiB', '--runs', '1'] : ['--size', '512MiB', '--mem-size', '256MiB', '--runs', '3']),
    chunkStore: runMicro('micro/chunk-store.js', quick ? ['--size', '32MiB', '--runs', '1'] : ['--size', '512MiB', '--runs', '3']),
    storage: storageThroughput(quick ? 32 : 256),
  } as MicroResults;
}

/** The storage engineer's backend benchmark (SFTP over sshd, S3 over s3rver): one JSON line per measure. */
function storageThroughput(mib: number): MicroResults['storage'] {
  log(`storage backends (storage-throughput.js ${mib})`);
  try {
    const out = execFileSync(process.execPath, [benchScript('storage-throughput.js'), String(mib)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 16 << 20 });
    return out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { what: string; MiB: number; ms: number; MBps: number });
  } catch (err) {
    log(`storage-throughput failed, left out: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

/**
 * The web app in headless Chromium against the CLI and curl (benchmarks/web/browser.ts:
 * upload, download, first-load JavaScript); its table goes below the others. Skipped with
 * --no-web; left out (with a note) when it fails, e.g. without /usr/bin/chromium.
 */
function webApp(): string | undefined {
  if (saved || args.flag('no-web')) return undefined;
  log('web app in Chromium (web/browser.js)');
  try {
    return execFileSync(process.execPath, [benchScript('web/browser.js'), '--size', quick ? '32MiB' : '256MiB', '--runs', quick ? '1' : '3'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 });
  } catch (err) {
    log(`the web app benchmark failed, left out: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}
const web = webApp();

/**
 * The 200-clients workload against one node and three behind nginx, on PostgreSQL
 * (benchmarks/cluster.ts; issue 17); its table goes below the others. Skipped with
 * --no-cluster; left out (with a note) when it fails.
 */
function cluster(): string | undefined {
  if (saved || args.flag('no-cluster')) return undefined;
  log('several nodes (cluster.js)');
  try {
    const sizes = ['--clients', String(options.clients), '--client-size', String(options.clientSize), '--runs', String(options.runs)];
    return execFileSync(process.execPath, [benchScript('cluster.js'), ...sizes], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 });
  } catch (err) {
    log(`the cluster benchmark failed, left out: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}
const nodes = cluster();

const summary = summarize(result, micro, saved ? saved.command : command);
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'latest.json'), JSON.stringify({ ...summary, raw: result, micro }, null, 2) + '\n');
const md = renderMarkdown(summary, micro) + (web ? `\n## Web app\n\n${web}\n` : '') + (nodes ? `\n## Several nodes (PostgreSQL, nginx)\n\n\`\`\`\n${nodes}\`\`\`\n` : '');
await writeFile(join(outDir, 'latest.md'), md);
log(`wrote ${join(outDir, 'latest.md')} and latest.json`);

if (!args.flag('no-readme')) {
  const readme = join(REPO_ROOT, 'README.md');
  const text = await readFile(readme, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const section = `${start}\n${renderReadmeSection(summary)}\n${end}`;
  const next = text.includes(start) && text.includes(end) ? text.replace(new RegExp(`${start}[\\s\\S]*${end}`), () => section) : `${text.trimEnd()}\n\n## Benchmarks\n\n${section}\n`;
  await writeFile(readme, next);
  log('updated the README');
}
process.stdout.write(md);
