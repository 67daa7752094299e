/**
 * `ferry get -r` on a terminal: its progress bar is drawn without a total while the tree is
 * listed, then with one. The first bar's line was left on the screen above the second when
 * done (a stale "… | files 3 of 3 listed so far" line). Run under script(1), a real pty; the
 * bytes it wrote are replayed on a small screen model (carriage return, line feed, cursor
 * up, erase line, save and restore) and the screen is what is checked.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY_BIN } from '../helpers/cli.js';
import { startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
beforeAll(async () => {
  w = await startWorld();
  await mkdir(join(w.dir, 'tree', 'sub'), { recursive: true });
  for (const name of ['a.txt', 'b.txt', 'sub/c.txt']) await writeFile(join(w.dir, 'tree', name), `${name} `.repeat(5000));
  const put = await w.ferry(['put', '-r', join(w.dir, 'tree'), '/tree']);
  expect(put.code, put.stderr).toBe(0);
});
afterAll(async () => {
  await w?.close();
});

/** The lines left on a screen after `out` was written to it (enough of a terminal for a progress bar). */
function screenOf(out: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  let saved: [number, number] = [0, 0];
  const put = (ch: string) => {
    const line = lines[row].padEnd(col);
    lines[row] = line.slice(0, col) + ch + line.slice(col + 1);
    col++;
  };
  for (let i = 0; i < out.length; i++) {
    const ch = out[i];
    if (ch === '\x1b' && (out[i + 1] === '7' || out[i + 1] === '8')) {
      // save or restore the cursor (cli-progress draws between the two)
      if (out[i + 1] === '7') saved = [row, col];
      else [row, col] = saved;
      i++;
    } else if (ch === '\x1b') {
      const m = /^\x1b\[(\??)(\d*)(?:;(\d*))?([A-Za-z])/.exec(out.slice(i));
      if (!m) continue;
      i += m[0].length - 1;
      const n = Number(m[2] || '1');
      if (m[1] === '?') continue; // cursor shown or hidden
      if (m[4] === 'A') row = Math.max(0, row - n);
      else if (m[4] === 'B') row += n;
      else if (m[4] === 'G') col = n - 1;
      else if (m[4] === 'K') lines[row] = m[2] === '2' ? '' : lines[row].slice(0, col);
      while (lines.length <= row) lines.push('');
    } else if (ch === '\r') col = 0;
    else if (ch === '\n') {
      row++;
      col = 0;
      while (lines.length <= row) lines.push('');
    } else put(ch);
  }
  return lines.map((l) => l.trimEnd()).filter((l) => l !== '');
}

describe('ferry get -r on a terminal', () => {
  it('leaves one progress line (the final one) and the summary, no stale bar above', async () => {
    const dest = join(w.dir, 'down');
    const command = [process.execPath, FERRY_BIN, 'get', '-r', '/tree', dest].map((a) => `'${a}'`).join(' ');
    const tty = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, ...w.env, COLUMNS: '200', LINES: '50' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    tty.stdout.on('data', (d: Buffer) => (out += d.toString()));
    tty.stdin.end();
    const code = await new Promise<number | null>((r) => tty.on('close', r));
    expect(code, out).toBe(0);
    const screen = screenOf(out);
    expect(screen.filter((l) => /listed so far/.test(l)), JSON.stringify(out)).toEqual([]);
    expect(screen.at(-1)).toMatch(/^got /);
    expect(screen.slice(0, -1).length, JSON.stringify(screen)).toBeLessThanOrEqual(1);
  });
});
