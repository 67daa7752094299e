/**
 * The side-by-side run: every tool through every workload, several runs, raw samples out.
 *
 * Each run starts every server afresh (timing its start and reading its idle RSS), then
 * runs the workloads in order; within a workload the tools take turns, in an order that
 * rotates from run to run, so that load from other processes on this shared machine and
 * page-cache effects fall on all of them alike. Before each step: memory warmed for it (see
 * {@link warmFreeMemory}), `sync` (so one tool's dirty pages are not written back during the
 * next one's step) and a snapshot of the server's CPU and counters; after it: the deltas, the
 * client's rusage, the server's peak RSS.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, open, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { freemem, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { generateMasterKeyText } from '../../src/backends/decorators/key-ring.js';
import { startFerryServer, type FerryServer, type FerryServerOptions } from '../peers/ferry.js';
import { startNginx, type Nginx } from '../peers/nginx.js';
import type { PeerServer } from '../peers/server.js';
import { startSshd, type Sshd } from '../peers/sshd.js';
import { curlTool } from '../tools/curl.js';
import { ferryTool, ferryTreeCommand, type TreeCommand } from '../tools/ferry.js';
import { rcloneWebdavTool, tusTool } from '../tools/fronts.js';
import { rcloneTool, rsyncTool, scpFerryTool, scpTool, sftpFerryTool, sftpTool } from '../tools/ssh.js';
import type { StepKind, Tool } from '../tools/tool.js';
import { makeMany, makeTree, scribble, writeRandomFile, writeTextFile } from './data.js';
import { diskWrite, loopbackHttp, sha256File, sha256Memory } from './limits.js';
import { cleanupMeasure, cpuDelta, killClients, peakRss, resetPeakRss, runClient, runClients, sampleRss, treeCpu, treeRss, waitForChildren, type ClientCost, type Command, type Cpu } from './measure.js';
import { describeMachine, ensurePackages, loadAverage, type Machine } from './system.js';
import { makeArchives } from './archive.js';
import { ARCHIVE_SIZE, SCATTERED_EDIT_BYTES, SCATTERED_EDITS, textSize, WORKLOADS, type Sizes, type WorkloadId } from './workloads.js';
import { pinning, type Pinning } from './pin.js';

/** Bytes of `zstd -3` of a whole file (the reference for stored and sent bytes); undefined without zstd. */
function zstdSize(file: string): number | undefined {
  try {
    return execFileSync('zstd', ['-3', '-c', '-q', file], { maxBuffer: 1 << 30 }).length;
  } catch {
    return undefined;
  }
}

export const ALL_TOOLS = ['ferry', 'ferry-nofsync', 'ferry-encrypted', 'curl', 'scp', 'sftp', 'rsync', 'rclone', 'rclone-webdav', 'tus', 'sftp-ferry', 'scp-ferry'] as const;
export type ToolId = (typeof ALL_TOOLS)[number];
/**
 * What `npm run bench` runs without --tools: ferry's own client against the peers. Ferry's
 * other doors (rclone → ferry webdav, tus-js-client → ferry; tools/fronts.ts) are asked for
 * by name: `--tools rclone,rclone-webdav,ferry,tus`.
 */
export const DEFAULT_TOOLS: ToolId[] = ['ferry', 'ferry-nofsync', 'ferry-encrypted', 'curl', 'scp', 'sftp', 'rsync', 'rclone'];

export interface SuiteOptions extends Sizes {
  runs: number;
  tools: ToolId[];
  workloads: WorkloadId[];
  /** Measure the physical limits in each run (SHA-256, disk write, loopback HTTP). */
  limits: boolean;
  /** Parent of the run directories (default: the OS temp dir). */
  workDir?: string;
  log: (line: string) => void;
}

export interface Sample {
  run: number;
  tool: ToolId;
  workload: WorkloadId;
  bytes: number;
  wallSeconds: number;
  clientCpu: Cpu;
  serverCpu: Cpu;
  clientPeakRssBytes: number;
  serverPeakRssBytes: number;
  /** ferry: VmHWM after a reset (exact); peers: the largest sampled RSS of the server's tree. */
  serverPeakRssHow: 'vmhwm' | 'sampled';
  bytesSent?: number;
  load1: number;
}

export interface ServerStart {
  run: number;
  server: string;
  readySeconds: number;
  /** Ferry only: start to ready again on the data directory the first start created. */
  restartSeconds?: number;
  idleRssBytes: number;
}

export interface LimitSample {
  run: number;
  id: 'sha256-memory' | 'sha256-file' | 'disk-write' | 'loopback-http' | 'loopback-http-sha256';
  bytes: number;
  seconds: number;
  load1: number;
}

export interface SuiteResult {
  options: Omit<SuiteOptions, 'log'>;
  machine: Machine;
  startedAt: string;
  finishedAt: string;
  treeCommand: TreeCommand;
  treeBytes: number;
  /** Workload 8's two tars (when it ran). */
  archiveBytes?: { before: number; after: number };
  loadAtStart: number[];
  loadAtEnd: number[];
  samples: Sample[];
  starts: ServerStart[];
  limits: LimitSample[];
  /** Tool/workload pairs not run: the tool has no such mode (curl has no tree). */
  skipped: { tool: ToolId; workload: WorkloadId; why: string }[];
  /** "Two machines" mode (--pin, ./pin.ts). */
  pinning?: Pinning;
}

interface Servers {
  nginx?: Nginx;
  sshd?: Sshd;
  ferry?: FerryServer;
  ferryNoFsync?: FerryServer;
  /** Ferry with its SFTP front on, for `sftp` against it (a server of its own: no dedup with the ferry rows). */
  ferrySftp?: FerryServer;
  /** Chunk store encrypted at rest (`--encryption-key-file`): compared with `ferry`, same fsync. */
  ferryEncrypted?: FerryServer;
  /** One each for the WebDAV and tus tools (tools/fronts.ts). */
  ferryDav?: FerryServer;
  ferryTus?: FerryServer;
}

const SSH_TOOLS: ToolId[] = ['scp', 'sftp', 'rsync', 'rclone'];

/**
 * The concurrent clients of workload 6 share the admin token (the peers' clients share one
 * ssh key too); the per-user limit of live upload sessions (100 by default) would refuse
 * half of them, so it is raised: they stand for 200 users, each with one session. They
 * also share one address (127.0.0.1), where 200 users would come from 200: the per-address
 * connection cap (128 by default; each client opens up to 8) is lifted as in ../cluster.ts.
 */
const FERRY_ARGS = ['--max-upload-sessions', '1000', '--max-connections-per-ip', '0'];

/** Servers and temporary files to remove if the run is interrupted (Ctrl-C, SIGTERM). */
const onInterrupt = new Set<() => Promise<void>>();
let interruptHandlers = false;
let interrupted = false;

/** True once Ctrl-C or SIGTERM arrived: the failures that follow are the interruption's doing. */
export function isInterrupted(): boolean {
  return interrupted;
}
function cleanUpOnInterrupt(fn: () => Promise<void>): () => void {
  if (!interruptHandlers) {
    interruptHandlers = true;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        interrupted = true;
        process.stderr.write(`\n${sig}: stopping the servers and removing the temporary files\n`);
        // Last registered first: servers stop before their directories go.
        void (async () => {
          killClients();
          for (const f of [...onInterrupt].reverse()) await f().catch(() => {});
          await cleanupMeasure().catch(() => {});
          process.exit(130);
        })();
      });
    }
  }
  onInterrupt.add(fn);
  return () => onInterrupt.delete(fn);
}

async function settleAndMeasureIdle(server: PeerServer): Promise<number> {
  // Give a just-started server a moment to finish lazy start-up work before calling it idle.
  await new Promise((r) => setTimeout(r, 1000));
  return treeRss([server.pid]);
}

async function startServers(dir: string, tools: ToolId[], run: number, starts: ServerStart[]): Promise<Servers> {
  const s: Servers = {};
  const record = async (server: PeerServer, restartSeconds?: number) =>
    starts.push({ run, server: server.name, readySeconds: server.readySeconds, ...(restartSeconds === undefined ? {} : { restartSeconds }), idleRssBytes: await settleAndMeasureIdle(server) });
  // A ferry server's first start creates its database (and fsyncs it); every later start
  // opens it. Both are timed: the first, then a stop and the restart the workloads use.
  const startFerryTwice = async (o: FerryServerOptions) => {
    const first = await startFerryServer(o);
    await first.stop();
    const again = await startFerryServer(o);
    await record({ ...again, readySeconds: first.readySeconds }, again.readySeconds);
    return again;
  };
  try {
    if (tools.includes('ferry')) s.ferry = await startFerryTwice({ dataDir: join(dir, 'ferry-data'), args: FERRY_ARGS, name: 'ferry' });
    if (tools.includes('ferry-nofsync')) {
      s.ferryNoFsync = await startFerryTwice({ dataDir: join(dir, 'ferry-nofsync-data'), args: [...FERRY_ARGS, '--no-fsync'], name: 'ferry --no-fsync' });
    }
    if (tools.includes('ferry-encrypted')) {
      const keyFile = join(dir, 'ferry-encryption.key');
      await writeFile(keyFile, generateMasterKeyText() + '\n', { mode: 0o600 });
      s.ferryEncrypted = await startFerryTwice({ dataDir: join(dir, 'ferry-enc-data'), args: [...FERRY_ARGS, '--encryption-key-file', keyFile], name: 'ferry --encryption-key-file' });
    }
    if (tools.includes('rclone-webdav')) {
      s.ferryDav = await startFerryServer({ dataDir: join(dir, 'ferry-dav-data'), args: FERRY_ARGS, name: 'ferry (webdav)' });
      await record(s.ferryDav);
    }
    if (tools.includes('tus')) {
      s.ferryTus = await startFerryServer({ dataDir: join(dir, 'ferry-tus-data'), args: FERRY_ARGS, name: 'ferry (tus)' });
      await record(s.ferryTus);
    }
    if (tools.includes('sftp-ferry') || tools.includes('scp-ferry')) {
      s.ferrySftp = await startFerryTwice({ dataDir: join(dir, 'ferry-sftp-data'), args: [...FERRY_ARGS, '--sftp-addr', '127.0.0.1:0'], name: 'ferry (sftp)' });
    }
    if (tools.includes('curl')) {
      s.nginx = await startNginx(join(dir, 'nginx'));
      await record(s.nginx);
    }
    if (tools.some((t) => SSH_TOOLS.includes(t))) {
      s.sshd = await startSshd(join(dir, 'sshd'));
      await record(s.sshd);
    }
  } catch (err) {
    await stopServers(s);
    throw err;
  }
  return s;
}

async function stopServers(s: Servers): Promise<void> {
  await Promise.all([s.ferry?.stop(), s.ferryNoFsync?.stop(), s.ferryEncrypted?.stop(), s.ferryDav?.stop(), s.ferryTus?.stop(), s.ferrySftp?.stop(), s.nginx?.stop(), s.sshd?.stop()]);
}

async function makeTools(s: Servers, dir: string, tools: ToolId[], treeCommand: TreeCommand): Promise<Tool[]> {
  const sshRoot = join(dir, 'ssh-files');
  await mkdir(sshRoot, { recursive: true });
  const out: Tool[] = [];
  for (const id of tools) {
    switch (id) {
      case 'ferry':
        out.push(ferryTool({ id, label: 'ferry', server: s.ferry!, workDir: dir, treeCommand }));
        break;
      case 'ferry-nofsync':
        out.push(ferryTool({ id, label: 'ferry (server --no-fsync)', server: s.ferryNoFsync!, workDir: dir, treeCommand }));
        break;
      case 'ferry-encrypted':
        out.push(ferryTool({ id, label: 'ferry (store encrypted at rest)', server: s.ferryEncrypted!, workDir: dir, treeCommand }));
        break;
      case 'curl':
        out.push(curlTool(s.nginx!));
        break;
      case 'scp':
        out.push(scpTool(s.sshd!, sshRoot));
        break;
      case 'sftp':
        out.push(sftpTool(s.sshd!, sshRoot));
        break;
      case 'rsync':
        out.push(rsyncTool(s.sshd!, sshRoot));
        break;
      case 'rclone':
        out.push(await rcloneTool(s.sshd!, sshRoot, dir));
        break;
      case 'sftp-ferry':
        out.push(await sftpFerryTool(s.ferrySftp!, dir));
        break;
      case 'scp-ferry':
        out.push(await scpFerryTool(s.ferrySftp!, dir));
        break;
      case 'rclone-webdav':
        out.push(await rcloneWebdavTool(s.ferryDav!, dir));
        break;
      case 'tus':
        out.push(await tusTool(s.ferryTus!));
        break;
    }
  }
  return out;
}

/** Bytes per write of {@link warmFreeMemory}: aligned 4 MiB writes fill the largest page-cache folios. */
const WARM_WRITE_BYTES = 4 * 1024 * 1024;

/**
 * Writes `bytes` to a scratch file in `dir` and deletes it, unmeasured, so that the step that
 * follows finds that much free memory the host backs.
 *
 * Why: in a VM whose balloon reports free memory to the host (Firecracker here, QEMU with
 * free-page-reporting), memory left free for a few seconds is handed back, and the first
 * touch of each page of it costs a fault in the host, charged as system time to whichever
 * process touches it: writing 1 GiB into the page cache cost 2.0 s of system time after 30 s
 * of quiet and 0.15-0.45 s right after a gigabyte was freed (`dd bs=4M`). A tool's download
 * frees its output right after its step, so the tool after it found warm memory, while the
 * first tool of each workload in a run that followed a quiet spell (ferry, the first of the
 * list, in run 1) paid for the cold memory: ferry's download in the first run spent 2.0-3.5 s
 * of system time against 0.5-1.5 s in the others, and the tool after it up to 2.0 s against
 * curl's usual 1.0 (benchmarks/results/issue-15-speed.md, "Cold pages"). Deleting the scratch
 * file drops its dirty pages unwritten: no disk I/O. Capped at half the free memory;
 * `FERRY_BENCH_NO_WARM=1` leaves it out (to compare).
 */
async function warmFreeMemory(dir: string, bytes: number): Promise<void> {
  const size = Math.min(bytes, Math.floor(freemem() / 2));
  const scratch = join(dir, 'warm-memory.tmp');
  const fh = await open(scratch, 'w');
  try {
    const block = Buffer.alloc(WARM_WRITE_BYTES, 0x5a);
    for (let at = 0; at < size; at += block.length) await fh.write(block, 0, Math.min(block.length, size - at), at);
  } finally {
    await fh.close();
    await rm(scratch, { force: true });
  }
}

/** Flush dirty pages so one step's writes are not written back during the next step. */
function syncDisks(): void {
  execFileSync('sync');
}

/** A downloaded tree must hold the same files with the same sizes. */
async function checkTree(src: string, dst: string): Promise<void> {
  const list = async (root: string) => {
    const out = new Map<string, number>();
    for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) {
        const p = join(e.parentPath, e.name);
        out.set(relative(root, p), (await stat(p)).size);
      }
    }
    return out;
  };
  const [a, b] = await Promise.all([list(src), list(dst)]);
  if (a.size !== b.size) throw new Error(`downloaded tree ${dst}: ${b.size} files, expected ${a.size}`);
  for (const [k, n] of a) if (b.get(k) !== n) throw new Error(`downloaded tree ${dst}: ${k} is ${b.get(k)} bytes, expected ${n}`);
}

/** Sets a file's mtime to now, and at least 2 s past what it was (no tool may take it for unchanged). */
async function bumpMtime(path: string): Promise<void> {
  const t = new Date(Math.max(Date.now(), (await stat(path)).mtimeMs + 2000));
  await utimes(path, t, t);
}

/** A download must have produced the source's bytes: size, and three sampled blocks. */
async function checkSameBytes(a: string, b: string): Promise<void> {
  const [sa, sb] = await Promise.all([stat(a), stat(b)]);
  if (sa.size !== sb.size) throw new Error(`downloaded ${b}: ${sb.size} bytes, expected ${sa.size}`);
  const fa = await open(a);
  const fb = await open(b);
  try {
    for (const at of [0, Math.floor(sa.size / 2), Math.max(0, sa.size - 65536)]) {
      const n = Math.min(65536, sa.size - at);
      const ba = Buffer.alloc(n);
      const bb = Buffer.alloc(n);
      await fa.read(ba, 0, n, at);
      await fb.read(bb, 0, n, at);
      if (!ba.equals(bb)) throw new Error(`downloaded ${b} differs from ${a} near byte ${at}`);
    }
  } finally {
    await fa.close();
    await fb.close();
  }
}

export async function runSuite(o: SuiteOptions): Promise<SuiteResult> {
  ensurePackages(undefined, o.log);
  const startedAt = new Date().toISOString();
  const loadAtStart = loadAverage();
  const treeCommand = o.tools.some((t) => t.startsWith('ferry')) ? ferryTreeCommand() : 'put -r';
  const root = await mkdtemp(join(o.workDir ?? tmpdir(), 'ferry-bench-'));
  const forgetRoot = cleanUpOnInterrupt(() => rm(root, { recursive: true, force: true }));
  const samples: Sample[] = [];
  const starts: ServerStart[] = [];
  const limits: LimitSample[] = [];
  const skipped: SuiteResult['skipped'] = [];
  let treeBytes = 0;
  let archiveBytes: { before: number; after: number } | undefined;
  try {
    // Inputs, made once: every run starts its servers empty, so nothing dedups across runs.
    const input = join(root, 'input');
    await mkdir(input);
    const big = join(input, 'big.bin');
    const wants = (w: WorkloadId) => o.workloads.includes(w);
    const needBig = o.workloads.some((w) => ['upload', 'download', 'reupload', 'edit', 'edit-scattered', 'download-delta'].includes(w));
    o.log(`making inputs in ${input}`);
    if (needBig || o.limits) await writeRandomFile(big, o.size);
    const tree = join(input, 'tree');
    if (o.workloads.some((w) => w.startsWith('tree'))) treeBytes = await makeTree(tree, o.files, o.minFile, o.maxFile);
    const many = wants('many') ? await makeMany(join(input, 'many'), o.clients, o.clientSize) : [];
    const text = join(input, 'text.jsonl');
    const archive = o.workloads.some((w) => w.startsWith('archive')) ? await makeArchives(input, o.archiveSize ?? ARCHIVE_SIZE) : undefined;
    if (archive) {
      archiveBytes = { before: (await stat(archive.before)).size, after: (await stat(archive.after)).size };
      o.log(`archive input: ${archive.packages} packages, ${archiveBytes.before} bytes; then ${archive.edited} files edited and ${archive.added} added: ${archiveBytes.after} bytes`);
    }
    let zstdBytes: number | undefined;
    if (wants('text')) {
      await writeTextFile(text, textSize(o));
      zstdBytes = zstdSize(text);
      o.log(`text input: ${textSize(o)} bytes, zstd -3 of the whole file: ${zstdBytes ?? 'zstd not installed'} bytes`);
    }

    for (let run = 0; run < o.runs; run++) {
      const dir = join(root, `run${run}`);
      await mkdir(dir);
      // A fresh copy of the big file per run: workloads 3 and 4 touch and edit it.
      if (needBig && run > 0) await writeRandomFile(big, o.size);
      const servers = await startServers(dir, o.tools, run, starts);
      const forget = cleanUpOnInterrupt(() => stopServers(servers));
      try {
        const tools = await makeTools(servers, dir, o.tools, treeCommand);
        // Rotate the order each run.
        const order = tools.map((_, i) => tools[(i + run) % tools.length]);
        if (o.limits) await measureLimits(run, big, dir, o, limits);
        for (const w of WORKLOADS) {
          if (!wants(w.id)) continue;
          // Same bytes, new mtime: tools that trust size+mtime cannot skip it; they must compare content or send it.
          if (w.id === 'reupload') await bumpMtime(big);
          if (w.id === 'edit') {
            await scribble(big, Math.floor(o.size / 2 - o.edit / 2), Math.min(o.edit, o.size));
            // The edit may land in the same second as the touch before it (small sizes run fast),
            // and rsync compares whole seconds: a same-size file with the same mtime is "unchanged".
            await bumpMtime(big);
          }
          // Workload 8: each run's local archive starts as the first tar and becomes the second (same path, as a user's file would).
          const archiveLocal = join(dir, 'node_modules.tar');
          if (w.id === 'archive' && archive) await copyFile(archive.before, archiveLocal);
          if (w.id === 'archive-update' && archive) {
            await copyFile(archive.after, archiveLocal);
            await bumpMtime(archiveLocal);
          }
          if (w.id === 'edit-scattered') {
            for (let i = 0; i < SCATTERED_EDITS; i++) await scribble(big, Math.floor(((i + 0.5) * (o.size - SCATTERED_EDIT_BYTES)) / SCATTERED_EDITS), SCATTERED_EDIT_BYTES);
            await bumpMtime(big);
          }
          const bytes = w.bytes({ ...o, treeBytes, archiveBytes });
          for (const tool of order) {
            const missing = (w.needs ?? []).filter((n) => !wants(n));
            if (missing.length) {
              skipped.push({ tool: tool.id as ToolId, workload: w.id, why: `needs workload ${missing.join(', ')}` });
              continue;
            }
            if ((w.kind === 'tree' && !tool.uploadTree) || (w.kind === 'tree-download' && !tool.downloadTree)) {
              skipped.push({ tool: tool.id as ToolId, workload: w.id, why: 'no tree mode' });
              continue;
            }
            o.log(`run ${run + 1}/${o.runs}  ${w.number}. ${w.id.padEnd(9)} ${tool.label}`);
            // Each tool's local copies: the big file's (kept from 2 for 4b) and the tree's.
            const download = join(dir, `download-${tool.id}.bin`);
            const treeDown = join(dir, `down-${tool.id}`, 'tree');
            const s = await measureStep(tool, w.kind, dir, bytes, async () => {
              switch (w.kind) {
                case 'upload':
                  if (w.id === 'archive' || w.id === 'archive-update') {
                    await tool.prepare?.('node_modules.tar');
                    return { commands: [tool.upload(archiveLocal, 'node_modules.tar')] };
                  }
                  if (w.id === 'text') {
                    await tool.prepare?.('text.jsonl');
                    return { commands: [tool.upload(text, 'text.jsonl')] };
                  }
                  await tool.prepare?.('big.bin');
                  return { commands: [tool.upload(big, 'big.bin')] };
                case 'download':
                  return { commands: [tool.download('big.bin', download)] };
                case 'tree':
                  await tool.prepare?.('tree');
                  return { commands: [tool.uploadTree!(tree, 'tree')] };
                case 'tree-download':
                  await mkdir(dirname(treeDown), { recursive: true });
                  return { commands: [tool.downloadTree!('tree', treeDown)] };
                case 'many':
                  await tool.prepare?.('many/x');
                  return { commands: tool.uploadMany(many, 'many'), concurrent: true };
              }
            });
            if (w.kind === 'download') {
              try {
                await checkSameBytes(big, download);
              } catch (err) {
                // Ferry's copy must be right the first time. A peer's (rsync's, a few times in many
                // suite runs on a loaded machine, cause not found) is fetched once more, unmeasured.
                // Once, in the full test suite, rsync's second copy of 4b differed too, near its
                // first scattered edit: the remote copy its upload of workload 4c left was not the
                // file. That is the peer's result, not Ferry's, and not the harness's to fail on:
                // the log says so and the run goes on.
                if (tool.isFerry) throw err;
                const again = tool.download('big.bin', download);
                await rm(download, { force: true });
                execFileSync(again.cmd, again.args, { env: again.env, cwd: again.cwd, input: again.input, stdio: ['pipe', 'ignore', 'ignore'] });
                const second = await checkSameBytes(big, download).then(
                  () => 'a second download matched',
                  (e: unknown) => `a second download differed too (${(e as Error).message}): its remote copy is not the file`,
                );
                o.log(`  note: ${tool.label}'s download differed from the source (${(err as Error).message}); ${second}`);
              }
              // 4b downloads the edited file over this copy.
              if (w.id === 'download-delta' || !wants('download-delta')) await rm(download, { force: true });
            }
            if (w.kind === 'tree-download') await checkTree(tree, treeDown);
            samples.push({ run, tool: tool.id as ToolId, workload: w.id, bytes, ...s });
            if (w.id === 'text' && s.bytesSent !== undefined) o.log(`    sent ${s.bytesSent} bytes of ${bytes} (zstd -3 of the file: ${zstdBytes ?? '?'})`);
            o.log(
              `    ${s.wallSeconds.toFixed(2)} s  ${(bytes / 1e6 / s.wallSeconds).toFixed(0)} MB/s  cpu client ${(s.clientCpu.user + s.clientCpu.sys).toFixed(2)} s server ${(s.serverCpu.user + s.serverCpu.sys).toFixed(2)} s  load ${s.load1.toFixed(2)}`,
            );
          }
          if (w.id === 'reupload' && o.limits) {
            // The goal for workload 3 is relative to hashing the file locally: measure it now, under this load.
            const load1 = loadAverage()[0];
            limits.push({ run, id: 'sha256-file', bytes: o.size, seconds: await sha256File(big), load1 });
          }
        }
      } finally {
        forget();
        await stopServers(servers);
      }
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    forgetRoot();
    await rm(root, { recursive: true, force: true });
    await cleanupMeasure();
  }
  const { log: _log, ...options } = o;
  return {
    options,
    machine: describeMachine(),
    startedAt,
    finishedAt: new Date().toISOString(),
    treeCommand,
    treeBytes,
    ...(archiveBytes ? { archiveBytes } : {}),
    loadAtStart,
    loadAtEnd: loadAverage(),
    samples,
    starts,
    limits,
    skipped: dedupeSkipped(skipped),
    ...(pinning() ? { pinning: pinning() } : {}),
  };
}

function dedupeSkipped(s: SuiteResult['skipped']): SuiteResult['skipped'] {
  const seen = new Set<string>();
  return s.filter((x) => {
    const k = `${x.tool}/${x.workload}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

async function measureLimits(run: number, big: string, dir: string, o: SuiteOptions, out: LimitSample[]): Promise<void> {
  const push = async (id: LimitSample['id'], fn: () => Promise<number>) => {
    syncDisks();
    const load1 = loadAverage()[0];
    out.push({ run, id, bytes: o.size, seconds: await fn(), load1 });
  };
  o.log(`run ${run + 1}/${o.runs}  physical limits`);
  await push('sha256-memory', () => sha256Memory(o.size));
  await push('disk-write', () => diskWrite(dir, o.size));
  await push('loopback-http', () => loopbackHttp(big, false));
  await push('loopback-http-sha256', () => loopbackHttp(big, true));
}

type StepCost = Omit<Sample, 'run' | 'tool' | 'workload' | 'bytes'>;

async function measureStep(tool: Tool, kind: StepKind, dir: string, bytes: number, setup: () => Promise<{ commands: Command[]; concurrent?: boolean }>): Promise<StepCost> {
  const { commands, concurrent } = await setup();
  if (process.env.FERRY_BENCH_NO_WARM !== '1') await warmFreeMemory(dir, bytes);
  syncDisks();
  const pid = tool.server.pid;
  const before = await tool.snapshot?.();
  const exact = tool.isFerry && (await resetPeakRss(pid));
  const sampler = sampleRss([pid], 100);
  const cpu0 = treeCpu([pid]);
  const load1 = loadAverage()[0];
  let client: ClientCost;
  let sampled: number;
  try {
    client = concurrent ? await runClients(commands) : await runClient(commands[0]);
  } finally {
    sampled = sampler.stop();
  }
  // sshd's per-connection processes must be gone (reaped into its counters) before we read them.
  if (tool.server.name === 'sshd') await waitForChildren(pid);
  const serverCpu = cpuDelta(treeCpu([pid]), cpu0);
  const bytesSent = await tool.bytesSent?.(kind, client, before);
  return {
    wallSeconds: client.wallSeconds,
    clientCpu: client.cpu,
    serverCpu,
    clientPeakRssBytes: client.peakRssBytes,
    serverPeakRssBytes: exact ? Math.max(peakRss(pid), sampled) : sampled,
    serverPeakRssHow: exact ? 'vmhwm' : 'sampled',
    ...(bytesSent === undefined ? {} : { bytesSent }),
    load1,
  };
}
