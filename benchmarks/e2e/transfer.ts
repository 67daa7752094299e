/**
 * Ferry alone through the bench's workloads (the CLI against a real server on loopback,
 * process start included): the quick way to see what a change to the client or server did,
 * without the peers. Same engine as `npm run bench` (benchmarks/lib/suite.ts).
 *
 *   node dist/benchmarks/e2e/transfer.js [--size 1GiB] [--files 10000] [--runs 3] [--json] [--no-fsync]
 *
 * Scenarios: put and get of one big random file; the identical file put again (all dedup);
 * a 1 MiB edit in the middle put again (delta) and fetched over the older local copy (delta
 * download); a tree of small files (1-64 KiB) put, put again (no-op), got, got again (no-op);
 * 200 concurrent clients of 4 MiB. Prints a Markdown table of medians with the load average.
 */
import { Args } from '../lib/args.js';
import { summarize } from '../lib/report.js';
import { runSuite } from '../lib/suite.js';
import { WORKLOADS } from '../lib/workloads.js';

const args = new Args().only(['size', 'edit', 'files', 'min-file', 'max-file', 'clients', 'client-size', 'runs', 'json', 'no-fsync']);
const tool = args.flag('no-fsync') ? 'ferry-nofsync' : 'ferry';
const result = await runSuite({
  size: args.size('size', '1GiB'),
  edit: args.size('edit', '1MiB'),
  files: args.number('files', 10_000),
  minFile: args.size('min-file', '1KiB'),
  maxFile: args.size('max-file', '64KiB'),
  clients: args.number('clients', 200),
  clientSize: args.size('client-size', '4MiB'),
  runs: args.number('runs', 3),
  tools: [tool],
  workloads: WORKLOADS.map((w) => w.id),
  limits: false,
  log: (s) => process.stderr.write(s + '\n'),
});
const summary = summarize(result, undefined, process.argv.slice(1).join(' '));
if (args.flag('json')) {
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
} else {
  process.stdout.write(`load average at the start ${summary.loadAtStart.map((l) => l.toFixed(2)).join(' ')}, at the end ${summary.loadAtEnd.map((l) => l.toFixed(2)).join(' ')}\n\n`);
  process.stdout.write('| scenario | median s | MB/s (median) | best s | client CPU s | server CPU s | bytes sent |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n');
  for (const w of summary.workloads) {
    const r = w.rows[0];
    if (!r) continue;
    const cpu = (c: { user: number; sys: number }) => (c.user + c.sys).toFixed(2);
    process.stdout.write(
      `| ${w.number}. ${w.title} | ${r.wallSeconds.toFixed(2)} | ${r.MBps.toFixed(0)} | ${r.bestWallSeconds.toFixed(2)} | ${cpu(r.clientCpu)} | ${cpu(r.serverCpu)} | ${r.bytesSent === undefined ? '—' : (r.bytesSent / 1e6).toFixed(1) + ' MB'} |\n`,
    );
  }
}
