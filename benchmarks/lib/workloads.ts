/** The workloads of issue 6, in the order they run (later ones build on the earlier ones' state). */
import type { StepKind } from '../tools/tool.js';
import { ARCHIVE_EDITS } from './archive.js';

export type WorkloadId = 'upload' | 'download' | 'reupload' | 'edit' | 'edit-scattered' | 'download-delta' | 'text' | 'tree' | 'tree-noop' | 'tree-download' | 'tree-download-noop' | 'many' | 'archive' | 'archive-update';

export interface Workload {
  id: WorkloadId;
  /** Issue 6's number for it. */
  number: string;
  kind: StepKind;
  /** Filled in with the sizes of the run. */
  title: (s: Sizes) => string;
  /** Bytes the user asked to move (the MB/s column divides these by the wall time). */
  bytes: (s: Sizes & { treeBytes: number; archiveBytes?: { before: number; after: number } }) => number;
  /** Earlier workloads that must have run on the same tool for this one to mean anything. */
  needs?: WorkloadId[];
  /** Not in issue 6's list: runs only when asked for (`--workloads all` or by name). */
  extra?: boolean;
}

export interface Sizes {
  size: number;
  edit: number;
  files: number;
  minFile: number;
  maxFile: number;
  clients: number;
  clientSize: number;
  /** Workload 8: bytes of node_modules packages in the first archive (default {@link ARCHIVE_SIZE}). */
  archiveSize?: number;
}

/** Workload 8's default budget of packages. */
export const ARCHIVE_SIZE = 128 * 1024 * 1024;

export function human(bytes: number): string {
  const units: [number, string][] = [
    [1024 ** 3, 'GiB'],
    [1024 ** 2, 'MiB'],
    [1024, 'KiB'],
  ];
  for (const [n, u] of units) if (bytes >= n && bytes % (n / 1024) === 0) return `${+(bytes / n).toFixed(2)} ${u}`;
  return `${bytes} B`;
}

/** Edits of workload 4c: small changes all over a big file (an archive updated in place, a VM image). */
export const SCATTERED_EDITS = 32;
export const SCATTERED_EDIT_BYTES = 64;

/** Size of workload 7's text file: a quarter of the big file. */
export function textSize(s: Sizes): number {
  return Math.max(1 << 20, Math.floor(s.size / 4));
}

export const WORKLOADS: Workload[] = [
  { id: 'upload', number: '1', kind: 'upload', title: (s) => `upload ${human(s.size)} of new random data`, bytes: (s) => s.size },
  { id: 'download', number: '2', kind: 'download', title: (s) => `download it (${human(s.size)})`, bytes: (s) => s.size, needs: ['upload'] },
  {
    id: 'reupload',
    number: '3',
    kind: 'upload',
    title: (s) => `upload the identical ${human(s.size)} again (same path, mtime touched)`,
    bytes: (s) => s.size,
    needs: ['upload'],
  },
  {
    id: 'edit',
    number: '4',
    kind: 'upload',
    title: (s) => `upload after ${human(s.edit)} changed in the middle`,
    bytes: (s) => s.size,
    needs: ['upload'],
  },
  {
    id: 'edit-scattered',
    number: '4c',
    kind: 'upload',
    title: (s) => `upload after ${SCATTERED_EDITS} edits of ${SCATTERED_EDIT_BYTES} B scattered over the file (${human(s.size)})`,
    bytes: (s) => s.size,
    needs: ['upload'],
  },
  {
    id: 'download-delta',
    number: '4b',
    kind: 'download',
    title: (s) => `download the edited file over the older local copy (${human(s.size)})`,
    bytes: (s) => s.size,
    needs: ['download', 'edit'],
    extra: true,
  },
  {
    id: 'tree',
    number: '5a',
    kind: 'tree',
    title: (s) => `${s.files.toLocaleString('en')} files of ${human(s.minFile)}–${human(s.maxFile)}: first sync`,
    bytes: (s) => s.treeBytes,
  },
  { id: 'tree-noop', number: '5b', kind: 'tree', title: () => 'the same tree: no-change re-sync', bytes: (s) => s.treeBytes, needs: ['tree'] },
  { id: 'tree-download', number: '5c', kind: 'tree-download', title: () => 'download the tree into an empty directory', bytes: (s) => s.treeBytes, needs: ['tree'], extra: true },
  { id: 'tree-download-noop', number: '5d', kind: 'tree-download', title: () => 'download the tree again (no change)', bytes: (s) => s.treeBytes, needs: ['tree-download'], extra: true },
  {
    id: 'text',
    number: '7',
    kind: 'upload',
    title: (s) => `upload ${human(textSize(s))} of compressible text (JSON log lines)`,
    bytes: (s) => textSize(s),
  },
  {
    id: 'archive',
    number: '8a',
    kind: 'upload',
    title: (s) => `upload a tar of a node_modules tree (${human(s.archiveSize ?? ARCHIVE_SIZE)} of packages)`,
    bytes: (s) => s.archiveBytes?.before ?? 0,
  },
  {
    id: 'archive-update',
    number: '8b',
    kind: 'upload',
    title: () => `upload the tar again after ${ARCHIVE_EDITS} files edited and one package added`,
    bytes: (s) => s.archiveBytes?.after ?? 0,
    needs: ['archive'],
  },
  {
    id: 'many',
    number: '6',
    kind: 'many',
    title: (s) => `${s.clients} concurrent clients each uploading ${human(s.clientSize)}`,
    bytes: (s) => s.clients * s.clientSize,
  },
];

/** Issue 6's workloads: what `npm run bench` runs unless told otherwise. */
export const DEFAULT_WORKLOADS: WorkloadId[] = WORKLOADS.filter((w) => !w.extra).map((w) => w.id);
