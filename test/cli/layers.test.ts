/**
 * The layers of src/ import only from the layers above them, in the order README.md lists
 * them ("Layers (`src/`, ..."): the import graph is read with the TypeScript compiler (static
 * imports, `export ... from`, `import type` and dynamic `import()` alike) and every edge that
 * goes down the list fails the test, naming the file and the import. Files directly in src/
 * (the package entry) are above every layer.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const src = path.join(root, 'src');

/** The layer names of README's block, in order. */
function readmeLayers(readme: string): string[] {
  const at = readme.indexOf('Layers (`src/`');
  expect(at, 'README.md has the "Layers (`src/`" list').toBeGreaterThan(-1);
  const block = /```\n([\s\S]*?)```/.exec(readme.slice(at));
  expect(block).not.toBeNull();
  return block![1]
    .split('\n')
    .map((line) => /^([a-z][a-z0-9-]*)\/\s/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
}

function* sourceFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sourceFiles(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

/** Every module specifier a source names: imports, re-exports and dynamic `import('...')`. */
function specifiers(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

/** The layer of a file under src/ ('' for files directly in src/). */
const layerOf = (file: string): string => {
  const rel = path.relative(src, file).split(path.sep);
  return rel.length > 1 ? rel[0] : '';
};

/** The imports among `files` that go from a layer to one listed after it (or to src/ itself); and how many edges were seen. */
function upwardImports(layers: string[], files: Iterable<{ file: string; text: string }>): { upward: string[]; edges: number } {
  const rank = new Map(layers.map((l, i) => [l, i]));
  const upward: string[] = [];
  let edges = 0;
  for (const { file, text } of files) {
    const from = layerOf(file);
    if (from === '') continue;
    for (const spec of specifiers(text)) {
      if (!spec.startsWith('.')) continue; // packages and node: built-ins
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(src + path.sep)) continue; // test helpers
      const to = layerOf(target);
      edges++;
      if (to === '' || (rank.get(to) ?? Infinity) > (rank.get(from) ?? -1)) upward.push(`${path.relative(root, file)} imports ${spec} (${from}/ -> ${to || 'src'}/)`);
    }
  }
  return { upward, edges };
}

describe('layers', () => {
  const layers = readmeLayers(readFileSync(path.join(root, 'README.md'), 'utf8'));

  it('README lists every folder of src/, and only those', () => {
    const folders = readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect([...layers].sort()).toEqual(folders.sort());
  });

  it('no module imports from a layer below its own', () => {
    const files = [...sourceFiles(src)].map((file) => ({ file, text: readFileSync(file, 'utf8') }));
    const { upward, edges } = upwardImports(layers, files);
    expect(edges).toBeGreaterThan(300); // the graph was read
    expect(upward).toEqual([]);
  });

  it('reports an upward import, static, type-only or dynamic, and lets downward ones be', () => {
    const file = path.join(src, 'store', 'fake.ts');
    const text = [
      "import { x } from '../cli/main.js';",
      "import type { Y } from '../server/app.js';",
      "export { z } from '../sync/index.js';",
      "const w = await import('../client/client.js');",
      "import { ok } from '../core/errors.js';",
      "import { same } from './chunk-store.js';",
      "import { Readable } from 'node:stream';",
    ].join('\n');
    expect(upwardImports(layers, [{ file, text }])).toEqual({
      edges: 6,
      upward: [
        'src/store/fake.ts imports ../cli/main.js (store/ -> cli/)',
        'src/store/fake.ts imports ../server/app.js (store/ -> server/)',
        'src/store/fake.ts imports ../sync/index.js (store/ -> sync/)',
        'src/store/fake.ts imports ../client/client.js (store/ -> client/)',
      ],
    });
  });
});
