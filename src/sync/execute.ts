/**
 * The executor: runs a {@link Plan} on remotes wrapped in the backend decorators
 * (decorated.ts), for sync, copy, move and bisync alike. It decides nothing the plan did not:
 * it runs the phases in order (a phase that `requires` no errors is skipped after one, a
 * `refused` one is reported), the tasks of a phase concurrently, the steps of a task in
 * order, and reports each step's event, its counters and its progress. A failing task is
 * recorded against its path and the others go on; aborts end the run.
 *
 * There is no dry-run branch here: a dry run's remotes are dry-run remotes, which change
 * nothing and see their own changes. What a dry run cannot do is verify a copy that was
 * never written, nor is it worth batching small files whose bytes would be read for nothing:
 * `simulated` says so, once, for those two.
 */
import { forEachConcurrent } from '../client/concurrency.js';
import { HashMismatchError, isFerryError, type FerryError } from '../core/errors.js';
import type { ProgressTracker } from '../core/progress.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import { canSetMtime, hasDirectories, moveObject, type ObjectInfo } from '../core/storage.js';
import type { HashKind, HashLookup } from './hashes.js';
import { plannedTransfers, type Phase, type Plan, type Side, type Step, type StepEvent, type Task } from './plan.js';
import { keyOf, sameBackend, type Remote } from './remote.js';
import { batchLimits, copyBatch, copyFile, hashesOf, type BatchFile, type CopyContext } from './transfer.js';

/** Files up to this size are "small": latency-bound, so {@link SMALL_FILE_FACTOR} times more travel at once. */
const SMALL_FILE = 256 * 1024;
const SMALL_FILE_FACTOR = 4;

export interface Execution {
  /** The plan's remotes, decorated. */
  remotes: Partial<Record<Side, Remote>>;
  progress: ProgressTracker;
  /** Retries of what the decorators cannot repeat (see CopyContext.retry). */
  retry: RetryPolicy;
  /** Modify window of the two sides (ms). */
  windowMs: number;
  durable: boolean;
  /** `--transfers`. */
  transfers: number;
  signal?: AbortSignal;
  /** move: the common hash kind and each side's hashes, to verify a copy before its source goes. */
  hashKind?: HashKind;
  hashes: Partial<Record<Side, HashLookup>>;
  /** A dry run: nothing is written, so copies are not verified and small files not batched. */
  simulated: boolean;
  /** The result's counters, added to as steps succeed. */
  counters: Record<string, number>;
  emit(e: StepEvent): void;
  /** Records a failure of `path` (aborts are rethrown). */
  fail(path: string, err: unknown): void;
  errors(): number;
  onRetry?: (path: string, err: unknown, attempt: number, delayMs: number) => void;
  /** A phase that did not run: after errors, or refused. */
  onSkipped?: (phase: Phase, why: { errors: number } | { refused: string }) => void;
}

/** Progress counters the result counters of a step stand for. */
const PROGRESS_OF: Record<string, 'filesDone' | 'deletes' | 'renames'> = {
  transferred: 'filesDone',
  copied1to2: 'filesDone',
  copied2to1: 'filesDone',
  deleted: 'deletes',
  deleted1: 'deletes',
  deleted2: 'deletes',
  renamed: 'renames',
};

function remote(x: Execution, side: Side): Remote {
  const r = x.remotes[side];
  if (r === undefined) throw new Error(`the plan names the ${side} remote, which the run does not have`);
  return r;
}

function copyContext(x: Execution, from: Side, to: Side): CopyContext {
  return { src: remote(x, from), dst: remote(x, to), progress: x.progress, retry: x.retry, windowMs: x.windowMs, signal: x.signal, durable: x.durable, onRetry: x.onRetry };
}

/** move: the source may go only once its copy holds the same bytes (size was checked on the way; here the common hash). */
async function verifyCopy(x: Execution, step: Extract<Step, { op: 'delete-source' }>, copied: ObjectInfo | undefined): Promise<void> {
  const kind = x.hashKind;
  if (kind === undefined) return;
  const copyEntry = copied ? { size: copied.size, mtime: copied.mtime, hashes: hashesOf(copied) } : { ...step.entry, hashes: {} };
  const [a, b] = await Promise.all([x.hashes[step.on]!.hash(step.path, step.entry, kind, x.signal), x.hashes[step.copy]!.hash(step.path, copyEntry, kind, x.signal)]);
  if (a !== b) throw new HashMismatchError(`${step.path}: the copy's ${kind} differs from the source's; the source is kept`);
}

/** To another remote: server-side within one backend, else copy (retried as a whole) then delete. */
async function moveAcross(x: Execution, from: Remote, to: Remote, rel: string): Promise<void> {
  const { signal } = x;
  if (sameBackend(from, to)) {
    await moveObject(from.backend, keyOf(from, rel), keyOf(to, rel), { signal });
    return;
  }
  await retry(
    async () => {
      const info = await from.backend.stat(keyOf(from, rel), { signal });
      const body = await from.backend.read(keyOf(from, rel), { signal });
      await to.backend.write(keyOf(to, rel), body, { size: info.size, mtime: info.mtime, signal, durable: false });
    },
    { policy: x.retry, signal, onRetry: (err, attempt, delayMs) => x.onRetry?.(rel, err, attempt + 1, delayMs) },
  );
  await from.backend.delete(keyOf(from, rel), { signal });
}

/** Runs one step; returns what a copy stored (for the step after it). */
async function runStep(x: Execution, step: Step, previous: ObjectInfo | undefined): Promise<ObjectInfo | undefined> {
  const { signal } = x;
  switch (step.op) {
    case 'copy':
      return copyFile(copyContext(x, step.from, step.to), step.path, step.entry, step.toPath);
    case 'move-file': {
      const [src, dst] = [remote(x, step.from), remote(x, step.to)];
      const info = await moveObject(src.backend, keyOf(src, step.path), keyOf(dst, step.path), { signal });
      x.progress.done(step.entry.size);
      return info;
    }
    case 'rename': {
      const r = remote(x, step.on);
      const info = await moveObject(r.backend, keyOf(r, step.path), keyOf(r, step.to), { signal });
      const off = step.mtime !== undefined && r.backend.features().mtime && (info.mtime === undefined || Math.abs(info.mtime - step.mtime) >= x.windowMs);
      if (off && canSetMtime(r.backend)) await r.backend.setMtime(keyOf(r, step.to), step.mtime!, { signal });
      return info;
    }
    case 'set-mtime': {
      const r = remote(x, step.on);
      if (canSetMtime(r.backend)) await r.backend.setMtime(keyOf(r, step.path), step.mtime, { signal });
      return undefined;
    }
    case 'delete': {
      const r = remote(x, step.on);
      await r.backend.delete(keyOf(r, step.path), { signal });
      return undefined;
    }
    case 'move-across':
      await moveAcross(x, remote(x, step.from), remote(x, step.to), step.path);
      return undefined;
    case 'delete-source': {
      if (!x.simulated) await verifyCopy(x, step, previous);
      const r = remote(x, step.on);
      await r.backend.delete(keyOf(r, step.path), { signal });
      return undefined;
    }
    case 'rmdir': {
      const r = remote(x, step.on);
      try {
        if (hasDirectories(r.backend)) await r.backend.rmdir(keyOf(r, step.path), { signal });
      } catch (err) {
        // Not empty (excluded files stay in it) or already gone: both fine.
        if (!isFerryError(err, 'FERRY_ERR_DIRECTORY_NOT_EMPTY') && !isFerryError(err, 'FERRY_ERR_NOT_FOUND')) throw err as FerryError;
      }
      return undefined;
    }
  }
}

/** Adds a succeeded step's counters to the result and the progress. */
function tally(x: Execution, step: Step): void {
  for (const [name, n] of Object.entries(step.count ?? {})) {
    x.counters[name] = (x.counters[name] ?? 0) + n;
    const p = PROGRESS_OF[name];
    if (p) x.progress.count(p, n);
  }
}

/** The steps of a task from `from` on, in order; the first failure ends it. */
async function runTask(x: Execution, task: Task, from = 0, previous?: ObjectInfo): Promise<void> {
  let last = previous;
  for (let i = from; i < task.steps.length; i++) {
    const step = task.steps[i];
    try {
      x.emit(step.event);
      last = await runStep(x, step, last);
      tally(x, step);
    } catch (err) {
      x.fail(task.path, err);
      return;
    }
  }
}

/** The bytes a task moves (its copy's size), to sort it into a lane. */
function sizeOf(task: Task): number {
  for (const s of task.steps) if (s.op === 'copy' || s.op === 'move-file') return s.entry.size;
  return 0;
}

/**
 * A transfers phase. Tasks that begin with a copy between two backends, where a side has a
 * batch ability and the file fits, have their copies go in batches (copyBatch), the rest of
 * each task once its copy landed; the other tasks go one by one (runLanes) beside them.
 */
async function runTransfers(x: Execution, tasks: Task[]): Promise<void> {
  const first = tasks[0]?.steps[0];
  if (x.simulated || first === undefined || first.op !== 'copy') return runLanes(x, tasks);
  const ctx = copyContext(x, first.from, first.to);
  const limits = sameBackend(ctx.src, ctx.dst) ? undefined : await batchLimits(ctx.src, ctx.dst, x.signal);
  if (limits === undefined) return runLanes(x, tasks);
  const batched = new Map<string, Task>();
  const rest: Task[] = [];
  for (const t of tasks) {
    const s = t.steps[0];
    const fits = s.op === 'copy' && s.from === first.from && s.to === first.to && s.path === s.toPath && s.entry.size <= limits.maxObjectSize;
    if (fits) batched.set(s.path, t);
    else rest.push(t);
  }
  const files: BatchFile[] = [...batched.values()].map((t) => ({ rel: t.path, entry: (t.steps[0] as Extract<Step, { op: 'copy' }>).entry }));
  const followUps: Array<Promise<void>> = [];
  const run = files.length === 0 ? Promise.resolve() : copyBatch(ctx, files, (f, err, info) => {
    const task = batched.get(f.rel)!;
    x.emit(task.steps[0].event);
    if (err !== undefined) return x.fail(f.rel, err);
    tally(x, task.steps[0]);
    followUps.push(runTask(x, task, 1, info));
  });
  await Promise.all([run, runLanes(x, rest)]);
  await Promise.all(followUps);
}

/** Tasks one by one: `--transfers` at once, small files (latency-bound) in a wider lane of their own. */
async function runLanes(x: Execution, tasks: Task[]): Promise<void> {
  const small = tasks.filter((t) => sizeOf(t) <= SMALL_FILE);
  const big = tasks.filter((t) => sizeOf(t) > SMALL_FILE);
  await Promise.all([
    forEachConcurrent(big, x.transfers, (t) => runTask(x, t), x.signal),
    forEachConcurrent(small, x.transfers * SMALL_FILE_FACTOR, (t) => runTask(x, t), x.signal),
  ]);
}

/** Runs the plan's phases in order (see the module comment). */
/** What a run's options and result give every execution alike (sync, copy, move, check, bisync). */
export interface RunSettings {
  fsync?: boolean;
  transfers?: number;
  dryRun?: boolean;
}

/**
 * Counts the plan's transfers into the progress totals, then executes it with the settings
 * every run shares: durability, `--transfers`, dry run, and the result's counters and errors.
 */
export async function executePlan(
  plan: Plan,
  o: RunSettings,
  result: { errors: readonly unknown[] },
  x: Omit<Execution, 'durable' | 'transfers' | 'simulated' | 'counters' | 'errors'>,
): Promise<void> {
  const planned = plannedTransfers(plan);
  x.progress.addTotals(planned.bytes, planned.files);
  await execute(plan, {
    ...x,
    durable: o.fsync === true,
    transfers: o.transfers ?? 4,
    simulated: o.dryRun === true,
    counters: result as unknown as Record<string, number>,
    errors: () => result.errors.length,
  });
}

export async function execute(plan: Plan, x: Execution): Promise<void> {
  for (const phase of plan.phases) {
    if (phase.tasks.length === 0) continue;
    x.progress.phase(phase.progress);
    if (phase.requires === 'no-errors' && x.errors() > 0) {
      x.onSkipped?.(phase, { errors: x.errors() });
      continue;
    }
    if (phase.refused !== undefined) {
      x.onSkipped?.(phase, { refused: phase.refused });
      continue;
    }
    if (phase.lanes === 'transfers') await runTransfers(x, phase.tasks);
    else await forEachConcurrent(phase.tasks, phase.lanes, (t) => runTask(x, t), x.signal);
  }
}
