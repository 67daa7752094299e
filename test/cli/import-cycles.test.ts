/**
 * No module of src/ takes part in a cycle of runtime imports. A cycle works only while
 * nothing in it runs at load time (a class extended, a constant read): the day something
 * does, the program throws at start-up (issue 11 found app.ts and the route modules in one).
 * The graph is read with the TypeScript compiler; type-only imports (`import type`,
 * `import { type X }`, `export type`) vanish from the JavaScript and are left out, and so
 * are dynamic `import()`s, which load later, on purpose.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const src = path.join(root, 'src');

function* sourceFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sourceFiles(p);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) yield p;
  }
}

/** The relative modules a source imports at run time (what stays in the JavaScript). */
function runtimeImports(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const out: string[] = [];
  for (const st of sf.statements) {
    let spec: ts.Expression | undefined;
    if (ts.isImportDeclaration(st)) {
      const clause = st.importClause;
      if (clause?.isTypeOnly) continue;
      const named = clause?.namedBindings;
      const onlyTypes = clause !== undefined && clause.name === undefined && named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      if (onlyTypes) continue;
      spec = st.moduleSpecifier;
    } else if (ts.isExportDeclaration(st)) {
      if (st.isTypeOnly || st.moduleSpecifier === undefined) continue;
      const named = st.exportClause;
      if (named !== undefined && ts.isNamedExports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly)) continue;
      spec = st.moduleSpecifier;
    }
    if (spec !== undefined && ts.isStringLiteral(spec) && spec.text.startsWith('.')) {
      out.push(path.resolve(path.dirname(file), spec.text.replace(/\.js$/, '.ts')));
    }
  }
  return out;
}

/** The cycles of a graph: its strongly connected components of more than one module (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1) found.push(scc.map((f) => path.relative(root, f)).sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('import cycles', () => {
  it('no module of src/ is in a cycle of runtime imports', () => {
    const graph = new Map<string, string[]>();
    for (const file of sourceFiles(src)) graph.set(file, runtimeImports(file, readFileSync(file, 'utf8')));
    expect([...graph.values()].flat().length).toBeGreaterThan(300); // the graph was read
    expect(cycles(graph)).toEqual([]);
  });

  it('finds a cycle through value imports and re-exports, and none through types or import()', () => {
    const f = (name: string) => path.join(src, 'x', name);
    const graph = new Map<string, string[]>();
    const add = (name: string, text: string) => graph.set(f(name), runtimeImports(f(name), text));
    add('a.ts', "import { b } from './b.js';\nimport type { C } from './c.js';");
    add('b.ts', "export { a } from './a.js';");
    add('c.ts', "import { type A } from './a.js';\nconst d = await import('./d.js');");
    add('d.ts', "import { c } from './c.js';");
    expect(cycles(graph)).toEqual([['src/x/a.ts', 'src/x/b.ts']]);
  });
});
