/**
 * A `ferry serve` process that has been idle for a while takes uploads without a full
 * collection every few megabytes (the old generation's growth set once it listens,
 * steadyHeapGrowth in src/cli/commands/serve.ts). Without it, three 50 MB uploads to a server
 * idle for 10 s ran 7-11 mark-compacts on its main thread (--trace-gc), against none right
 * after a start; with it, 0-1. The bound asserted is 4.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'heap-test-Qz7kLm2pR9vW4tY6uB1nC3eD5fG8hJ0x';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('ferry serve heap growth', () => {
  it('keeps full collections rare for uploads to a server idle for 10 s', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-heap-'));
    dirs.push(dir);
    const env: NodeJS.ProcessEnv = { ...process.env, FERRY_ADMIN_TOKEN: TOKEN };
    for (const k of Object.keys(env)) if ((k.startsWith('FERRY_') && k !== 'FERRY_ADMIN_TOKEN') || k === 'NODE_OPTIONS') delete env[k];
    const child = spawn(process.execPath, ['--trace-gc', join(root, 'bin/ferry.js'), 'serve', '--addr', '127.0.0.1:0', '--data', join(dir, 'data')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let uploading = false;
      let isolate = '';
      let duringUploads = 0;
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (line) => {
          // --trace-gc lines: "[pid:isolate]  N ms: Mark-Compact ..."; the first is the main thread's.
          const gc = /^\[\d+:(0x[0-9a-f]+)\]/.exec(line);
          if (gc && isolate === '') isolate = gc[1]!;
          if (gc && gc[1] === isolate && uploading && line.includes('Mark-Compact')) duringUploads++;
          if (line.includes('"event":"ready"')) resolve((JSON.parse(line) as { url: string }).url);
        });
        child.once('exit', (code) => reject(new Error(`ferry serve exited (${code}) before it was ready`)));
      });
      child.stderr!.resume();
      // Idle long enough for V8 to size the heap for an idle program (its memory reducer starts after 8 s).
      await new Promise((r) => setTimeout(r, 10_000));
      uploading = true;
      const body = randomBytes(50 << 20);
      for (const name of ['a', 'b', 'c']) {
        const put = await fetch(`${url}/api/v1/files/heap/${name}.bin`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}` }, body });
        expect(put.status).toBe(201);
      }
      const head = await fetch(`${url}/api/v1/files/heap/c.bin`, { method: 'HEAD', headers: { authorization: `Bearer ${TOKEN}` } });
      expect(head.headers.get('content-length')).toBe(String(50 << 20));
      expect(isolate).not.toBe(''); // the trace was read
      expect(duringUploads).toBeLessThanOrEqual(4);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
