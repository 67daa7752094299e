/**
 * No function in src/ is longer than {@link MAX_LINES} lines (STYLE.md: "no function over
 * ~120 lines"): read with the TypeScript compiler, every function, method, arrow function
 * and accessor with a body is measured from its first line to its last. A longer one fails
 * the test with its place, so the rule stays true without anyone counting.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const MAX_LINES = 120;
const root = fileURLToPath(new URL('../..', import.meta.url));

function* sourceFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sourceFiles(p);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) yield p;
  }
}

/** Every function of a source with its length in lines: `file:line name (n lines)`. */
function functionLengths(file: string, text: string): Array<{ where: string; lines: number }> {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Array<{ where: string; lines: number }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const name = node.name !== undefined ? node.name.getText(sf) : '(anonymous)';
      out.push({ where: `${path.relative(root, file)}:${first + 1} ${name}`, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

describe('function length', () => {
  it(`no function in src/ is over ${MAX_LINES} lines`, () => {
    const all = [...sourceFiles(path.join(root, 'src'))].flatMap((f) => functionLengths(f, readFileSync(f, 'utf8')));
    expect(all.length).toBeGreaterThan(1000); // the sources were read
    const long = all.filter((f) => f.lines > MAX_LINES).map((f) => `${f.where} (${f.lines} lines)`);
    expect(long).toEqual([]);
  });

  it('measures functions, methods and arrow functions from their first line to their last', () => {
    const text = ['function a() {', '  return 1;', '}', 'class B {', '  m(): void {', '    const f = () => {', '      g();', '    };', '  }', '}'].join('\n');
    expect(functionLengths(path.join(root, 'src', 'x.ts'), text)).toEqual([
      { where: 'src/x.ts:1 a', lines: 3 },
      { where: 'src/x.ts:5 m', lines: 5 },
      { where: 'src/x.ts:6 (anonymous)', lines: 3 },
    ]);
  });
});
