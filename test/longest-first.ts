/**
 * The order vitest starts test files in: the longest first, by the durations of a whole run
 * committed in test/durations.json (scripts/test-durations.mjs writes it from a run's output).
 *
 * Why: two files run at a time, and the run ends when the last file does. vitest itself starts
 * the files that took longest in its cache of an earlier run, but a fresh clone (CI) has no
 * cache, and then it goes by file size: get-tree-memory (60 s) was 195th of 334, harness (45 s)
 * 109th. Longest first, no file of a minute starts at the end beside an idle worker.
 *
 * Within each project (and the projects in their `groupOrder`), the files listed come first,
 * longest first; the others follow in vitest's own order. A file missing from the list (new,
 * renamed, or under 5 s) is run all the same, only not early.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Milliseconds each listed file took, by its path from the repository's root. */
export type Durations = Record<string, number>;

export function readDurations(): Durations {
  return JSON.parse(readFileSync(new URL('./durations.json', import.meta.url), 'utf8')) as Durations;
}

/** `files` (in vitest's order) with the listed ones first in each project, longest first. */
export function longestFirst(files: TestSpecification[], root: string, durations: Durations): TestSpecification[] {
  const place = new Map(files.map((f, i) => [f, i]));
  const took = (f: TestSpecification) => durations[relative(root, f.moduleId)] ?? -1;
  return [...files].sort((a, b) => {
    const group = a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder;
    if (group !== 0) return group;
    if (a.project.name !== b.project.name) return place.get(a)! - place.get(b)!;
    return took(b) - took(a) || place.get(a)! - place.get(b)!;
  });
}

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return longestFirst(await super.sort(files), this.ctx.config.root, readDurations());
  }
}
