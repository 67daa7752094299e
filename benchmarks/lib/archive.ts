/**
 * Inputs of workload 8 (issue 15): a real archive updated. A tar of an npm `node_modules`
 * tree (packages taken from this repository's own node_modules, in name order, up to a size
 * budget), then a tar of the same tree after edits to a few dozen files (a line inserted in
 * the middle of each: sizes change, so everything after them in the tar moves) and one
 * package added (in name order, so it lands inside the archive, not at its end). The tars
 * are made with fixed owners and times, so the same node_modules gives the same bytes.
 */
import { execFileSync } from 'node:child_process';
import { cp, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';

/** Files edited between the two versions. */
export const ARCHIVE_EDITS = 36;

export interface ArchiveInputs {
  before: string;
  after: string;
  /** Packages in the first tar, and the one the second adds. */
  packages: number;
  added: string;
  edited: number;
}

/** The node_modules this bench runs from (where its own dependencies are installed). */
function nodeModules(): string {
  // commander's main file is node_modules/commander/index.js (its package.json is not exported).
  const req = createRequire(import.meta.url);
  return dirname(dirname(req.resolve('commander')));
}

async function sizeOf(path: string): Promise<number> {
  const st = await lstat(path);
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const name of await readdir(path)) total += await sizeOf(join(path, name));
  return total;
}

async function filesOf(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesOf(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Package directories of a node_modules (scoped ones as `@scope/name`), in name order. */
async function packagesOf(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(root)).sort()) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) for (const sub of (await readdir(join(root, name))).sort()) out.push(`${name}/${sub}`);
    else out.push(name);
  }
  return out;
}

function tar(dir: string, out: string): void {
  execFileSync('tar', ['--sort=name', '--mtime=@1700000000', '--owner=0', '--group=0', '--numeric-owner', '-cf', out, '-C', dir, 'node_modules']);
}

/** Makes `before.tar` and `after.tar` in `dir` from about `budget` bytes of packages. */
export async function makeArchives(dir: string, budget: number): Promise<ArchiveInputs> {
  const source = nodeModules();
  const tree = join(dir, 'archive-tree');
  const modules = join(tree, 'node_modules');
  await mkdir(modules, { recursive: true });
  const chosen: string[] = [];
  const left: { name: string; size: number }[] = [];
  let total = 0;
  for (const name of await packagesOf(source)) {
    const size = await sizeOf(join(source, name));
    if (size > 0 && total + size <= budget) {
      chosen.push(name);
      total += size;
    } else left.push({ name, size });
  }
  if (chosen.length < 2) throw new Error(`archive workload: no packages of node_modules fit in ${budget} bytes`);
  for (const name of chosen) await cp(join(source, name), join(modules, name), { recursive: true, verbatimSymlinks: true });
  const before = join(dir, 'archive-before.tar');
  tar(tree, before);

  // Edits: a line inserted in the middle of files spread evenly over the tree (text files first).
  const files = await filesOf(modules);
  const text = files.filter((f) => /\.(js|cjs|mjs|json|md|ts)$/.test(f));
  const pool = text.length >= ARCHIVE_EDITS ? text : files;
  const edited = Math.min(ARCHIVE_EDITS, pool.length);
  for (let i = 0; i < edited; i++) {
    const file = pool[Math.floor(((i + 0.5) * pool.length) / edited)];
    const body = await readFile(file);
    const nl = body.indexOf(10, body.length >> 1);
    const at = nl < 0 ? body.length : nl + 1;
    await writeFile(file, Buffer.concat([body.subarray(0, at), Buffer.from(`// edited by the ferry bench (${relative(modules, file)})\n`), body.subarray(at)]));
  }
  // One package added: the first one left out of a modest size, else a small one made up.
  const fit = left.find((p) => p.size >= 4096 && p.size <= Math.max(64 * 1024, budget / 16));
  let added: string;
  if (fit) {
    added = fit.name;
    await cp(join(source, fit.name), join(modules, fit.name), { recursive: true, verbatimSymlinks: true });
  } else {
    added = 'ferry-bench-added';
    await mkdir(join(modules, added), { recursive: true });
    await writeFile(join(modules, added, 'index.js'), Array.from({ length: 400 }, (_, i) => `export const value${i} = ${i * 7};\n`).join(''));
  }
  const after = join(dir, 'archive-after.tar');
  tar(tree, after);
  await rm(tree, { recursive: true, force: true });
  return { before, after, packages: chosen.length, added, edited };
}
