/**
 * Smoke test of the benchmark harness (`npm run bench`), so it cannot rot unnoticed: minute
 * sizes, ferry against one peer (rsync over ssh, which counts its bytes too), every
 * workload (the extra ones too), one run. It asserts what the figures must say whatever the machine's speed
 * (bytes sent by dedup and delta, every cell filled, the report rendered), never timings.
 *
 * Needs root (as CI runs it): sshd switches to the logging-in user; the harness installs missing packages.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { enablePinning, pinned, pinning } from '../../benchmarks/lib/pin.js';
import { renderMarkdown, renderReadmeSection, summarize } from '../../benchmarks/lib/report.js';
import { runSuite } from '../../benchmarks/lib/suite.js';
import { benchScript } from '../../benchmarks/peers/ferry-bin.js';
import { textSize, WORKLOADS, type Sizes } from '../../benchmarks/lib/workloads.js';
import { DEFAULT_CHUNKING } from '../../src/core/chunk-refs.js';
import { CHUNK_FRAME_HEADER_BYTES } from '../../src/core/protocol.js';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('benchmark harness', () => {
  it('runs every workload for ferry and rsync and reports what each sent', async () => {
    const size = 3 * MiB;
    const r = await runSuite({
      size,
      edit: 64 * KiB,
      files: 40,
      minFile: KiB,
      maxFile: 8 * KiB,
      clients: 3,
      clientSize: 64 * KiB,
      archiveSize: 2 * MiB,
      runs: 1,
      tools: ['ferry', 'rsync'],
      workloads: WORKLOADS.map((w) => w.id),
      limits: true,
      log: () => {},
    });
    expect(r.samples).toHaveLength(WORKLOADS.length * 2);
    for (const s of r.samples) {
      expect(s.wallSeconds, `${s.tool} ${s.workload}`).toBeGreaterThan(0);
      expect(s.serverPeakRssBytes, `${s.tool} ${s.workload}`).toBeGreaterThan(0);
      expect(s.bytesSent, `${s.tool} ${s.workload} bytes sent`).toBeTypeOf('number');
    }
    const sent = (tool: string, workload: string) => r.samples.find((s) => s.tool === tool && s.workload === workload)!.bytesSent!;
    // ferry's counters: new data travels in full, identical data not at all, an edit only in part.
    // (plus a frame header per chunk at most: chunks sent several per request carry a 40-byte
    // header each, a small last chunk in a pack a 36-byte one; where random bytes are cut varies)
    expect(sent('ferry', 'upload')).toBeGreaterThanOrEqual(size);
    expect(sent('ferry', 'upload')).toBeLessThanOrEqual(size + CHUNK_FRAME_HEADER_BYTES * Math.ceil(size / DEFAULT_CHUNKING.minSize));
    expect(sent('ferry', 'download')).toBe(size);
    expect(sent('ferry', 'reupload')).toBe(0);
    expect(sent('ferry', 'edit')).toBeGreaterThan(0);
    expect(sent('ferry', 'edit')).toBeLessThan(size);
    expect(sent('ferry', 'download-delta')).toBeLessThan(size);
    // (small files travel in packs and batches: a 36-byte frame header each; random bytes do not compress)
    expect(sent('ferry', 'tree')).toBeGreaterThanOrEqual(r.treeBytes);
    expect(sent('ferry', 'tree')).toBeLessThanOrEqual(r.treeBytes + 36 * 40);
    expect(sent('ferry', 'tree-download')).toBeGreaterThanOrEqual(r.treeBytes);
    expect(sent('ferry', 'tree-download')).toBeLessThanOrEqual(r.treeBytes + 36 * 40);
    // Scattered small edits travel as deltas; compressible text compressed (issue 15).
    expect(sent('ferry', 'edit-scattered')).toBeLessThan(size / 4);
    expect(sent('ferry', 'text')).toBeLessThan(textSize({ size } as Sizes) / 3);
    expect(sent('rsync', 'edit-scattered')).toBeLessThan(size / 2);
    // Workload 8: a tar of node_modules packages, then the same after 36 edits and a package added.
    expect(r.archiveBytes!.before).toBeGreaterThan(MiB);
    expect(r.archiveBytes!.after).toBeGreaterThan(r.archiveBytes!.before);
    expect(sent('ferry', 'archive')).toBeGreaterThan(0);
    expect(sent('ferry', 'archive-update')).toBeGreaterThan(0);
    expect(sent('ferry', 'archive-update')).toBeLessThan(r.archiveBytes!.after / 2);
    expect(sent('rsync', 'archive')).toBeGreaterThanOrEqual(r.archiveBytes!.before);
    expect(sent('rsync', 'archive-update')).toBeLessThan(r.archiveBytes!.after / 2);
    expect(sent('ferry', 'tree-download-noop')).toBe(0);
    expect(sent('ferry', 'tree-noop')).toBe(0);
    expect(sent('ferry', 'many')).toBeGreaterThanOrEqual(3 * 64 * KiB);
    expect(sent('ferry', 'many')).toBeLessThanOrEqual(3 * (64 * KiB + 36));
    // rsync --stats: the delta algorithm sends less than the file for the edit.
    expect(sent('rsync', 'upload')).toBeGreaterThanOrEqual(size);
    expect(sent('rsync', 'edit')).toBeLessThan(size / 2);
    expect(sent('rsync', 'tree-noop')).toBeLessThan(r.treeBytes / 10);
    expect(sent('rsync', 'download-delta')).toBeLessThan(size / 2);
    // Client CPU comes from /usr/bin/time: a Node process always uses some.
    const ferryUpload = r.samples.find((s) => s.tool === 'ferry' && s.workload === 'upload')!;
    expect(ferryUpload.clientCpu.user + ferryUpload.clientCpu.sys).toBeGreaterThan(0);
    expect(ferryUpload.serverPeakRssHow).toBe('vmhwm');
    expect(r.starts.map((s) => s.server).sort()).toEqual(['ferry', 'sshd']);
    expect(r.limits.map((l) => l.id).sort()).toEqual(['disk-write', 'loopback-http', 'loopback-http-sha256', 'sha256-file', 'sha256-memory']);

    const summary = summarize(r, undefined, 'test');
    const md = renderMarkdown(summary);
    for (const w of WORKLOADS) expect(md).toContain(`### ${w.number}. `);
    expect(md).toMatch(/\| rsync over ssh \| \d/);
    expect(summary.goals.some((g) => g.goal.startsWith('3. identical re-upload'))).toBe(true);
    expect(summary.goals.find((g) => g.goal.startsWith('5a. first sync'))?.met).toBeTypeOf('boolean');
    expect(summary.goals.find((g) => g.goal.startsWith('8b. update of a real archive'))?.met).toBeTypeOf('boolean');
    expect(renderReadmeSection(summary)).toContain('| workload | ferry | rsync over ssh |');
  }, 180_000);

  it('"two machines" mode (--pin): clients and servers run on separate cores, and the report says so', async () => {
    const p = enablePinning();
    try {
      expect(p.client).not.toBe(p.server);
      // What taskset really gives a process started on each side.
      const allowed = (side: 'client' | 'server') => execFileSync(...pinned(side, 'sh', ['-c', 'grep Cpus_allowed_list /proc/self/status']), { encoding: 'utf8' }).split(':')[1].trim();
      expect(allowed('client')).toBe(p.client);
      expect(allowed('server')).toBe(p.server);
      const r = await runSuite({
        size: MiB,
        edit: 64 * KiB,
        files: 20,
        minFile: KiB,
        maxFile: 8 * KiB,
        clients: 2,
        clientSize: 64 * KiB,
        runs: 1,
        tools: ['ferry', 'rsync'],
        workloads: ['upload', 'tree', 'tree-noop'],
        limits: false,
        log: () => {},
      });
      expect(r.pinning).toEqual(p);
      expect(r.samples).toHaveLength(6);
      expect(r.samples.find((s) => s.tool === 'ferry' && s.workload === 'upload')!.bytesSent).toBeGreaterThanOrEqual(MiB);
      expect(renderMarkdown(summarize(r, undefined, 'test --pin'))).toContain(`every client pinned to core(s) ${p.client}, every server (ferry, nginx, sshd and their children) to core(s) ${p.server}`);
    } finally {
      delete process.env.FERRY_BENCH_PIN;
    }
    expect(pinning()).toBeUndefined();
  }, 180_000);
});

describe('npm run bench options', () => {
  // A question must never start a 20-minute run, nor a misspelt option run the defaults.
  const bench = (...argv: string[]) => spawnSync(process.execPath, [benchScript('run.js'), ...argv], { encoding: 'utf8', timeout: 30_000 });

  it('--help prints the usage and exits 0 without running anything', () => {
    const r = bench('--help', '--tools', 'ferry');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('npm run bench -- --quick');
    expect(r.stdout).toContain('--pin');
    expect(r.stderr).not.toContain('pinned');
    expect(r.stderr).not.toMatch(/upload|download/);
  });

  it('an unknown option is refused before anything runs', () => {
    const r = bench('--no-micros', '--quick');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown option --no-micros');
    expect(r.stderr).not.toMatch(/ferry upload|rsync/);
  });
});
