/**
 * Plans: what a sync, copy, move or bisync will do, decided before anything is done.
 *
 * A plan is data. Phases run in order; a phase is a list of tasks, run concurrently; a task
 * is the steps of one path, run in order (the first failure ends the task and is reported
 * against its path); a step is one change on one remote, with the event that describes it
 * and the result counters it adds to. The planners (plan-sync.ts, plan-bisync.ts) build a
 * plan from two listings and the compare options without touching storage (hashes come
 * through the HashSources they are given); the executor (execute.ts) runs it on decorated
 * remotes; `--dry-run` prints it ({@link planLines}) and runs it on dry-run remotes.
 */
import type { FileEntry } from './hashes.js';

/** The remotes a plan names: sync's source, destination and backup dir; bisync's two paths. */
export type Side = 'src' | 'dst' | 'backup' | 'path1' | 'path2';

/** What a step tells the caller (the CLI prints it; `-v` prints every one). */
export interface StepEvent {
  action: string;
  path: string;
  /** Target of a rename, move or backup. */
  to?: string;
  /** bisync: the side the step changes. */
  side?: 1 | 2;
  size?: number;
  reason?: string;
}

/** Result counters a step adds to when it succeeds (`transferred`, `bytes`, `deleted`, ...). */
export type Counts = Readonly<Record<string, number>>;

interface StepBase {
  event: StepEvent;
  count?: Counts;
}

export type Step = StepBase &
  (
    | /** The bytes of `path` on `from` to `toPath` on `to` (server-side copy when they share a backend that has one). */
    { op: 'copy'; from: Side; to: Side; path: string; toPath: string; entry: FileEntry }
    | /** move within one backend: a server-side move, no bytes travel. */
    { op: 'move-file'; from: Side; to: Side; path: string; entry: FileEntry }
    | /** A rename on one remote; the mtime is set afterwards where the move did not keep it. */
    { op: 'rename'; on: Side; path: string; to: string; mtime?: number }
    | { op: 'set-mtime'; on: Side; path: string; mtime: number }
    | { op: 'delete'; on: Side; path: string }
    | /** To another remote (`--backup-dir`): server-side within one backend, else copy then delete. */
    { op: 'move-across'; from: Side; to: Side; path: string }
    | /** move: the source goes, once the copy (the task's previous step) is known to hold its bytes. */
    { op: 'delete-source'; on: Side; copy: Side; path: string; entry: FileEntry }
    | /** An empty directory the source lacks (refused when not empty, which is fine). */
    { op: 'rmdir'; on: Side; path: string }
  );

export interface Task {
  path: string;
  steps: Step[];
}

export interface Phase {
  name: 'renames' | 'times' | 'transfers' | 'sources' | 'deletes' | 'dirs';
  /** The progress phase reported while it runs. */
  progress: 'transferring' | 'deleting';
  tasks: Task[];
  /**
   * 'transfers': `--transfers` tasks at once, small files in a lane of their own and in
   * batches where a side can (see execute.ts); a number: that many at once.
   */
  lanes: 'transfers' | number;
  /** Run only when nothing failed before (sync's deletions). */
  requires?: 'no-errors';
  /** Not run at all, for this reason (`--max-delete`), which is reported as an error. */
  refused?: string;
}

export interface Plan {
  phases: Phase[];
  /** Paths that could not be planned (a hash that could not be computed), with the error. */
  errors: Array<{ path: string; error: unknown }>;
}

/** `copy a/b.txt`, `rename x -> y`, `delete z (reason)`: one line per step, in plan order. */
export function planLines(plan: Plan): string[] {
  const lines: string[] = [];
  for (const phase of plan.phases) {
    if (phase.refused) {
      lines.push(`skip ${phase.name}: ${phase.refused}`);
      continue;
    }
    for (const task of phase.tasks) for (const step of task.steps) lines.push(eventLine(step.event));
  }
  return lines;
}

/** One event as a line: `copy a/b.txt`, `rename[2] x -> y (why)`. */
export function eventLine(e: StepEvent): string {
  const side = e.side ? `[${e.side}]` : '';
  const to = e.to ? ` -> ${e.to}` : '';
  const why = e.reason ? ` (${e.reason})` : '';
  return `${e.action}${side} ${e.path}${to}${why}`;
}

/** Bytes and files the copy steps of a plan move (for the progress totals). */
export function plannedTransfers(plan: Plan): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const phase of plan.phases) {
    if (phase.refused) continue;
    for (const task of phase.tasks) {
      for (const step of task.steps) {
        if (step.op !== 'copy' && step.op !== 'move-file') continue;
        files++;
        bytes += step.entry.size;
      }
    }
  }
  return { files, bytes };
}

/** The steps of a plan of one kind, for tests and summaries. */
export function stepsOf(plan: Plan): Step[] {
  return plan.phases.flatMap((p) => (p.refused ? [] : p.tasks.flatMap((t) => t.steps)));
}
