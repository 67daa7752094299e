/**
 * End to end: the CLI writing into a pipe whose reader goes away early (`| head`), through
 * a real shell pipeline. It must end quietly with 141 (128 + SIGPIPE, as the shell reports
 * a program killed by SIGPIPE): no stack trace, no "unexpected error", nothing on stderr.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMPTY_FILE_HASH } from '../../src/core/manifest.js';
import { FERRY_BIN, cliEnv } from '../helpers/cli.js';
import { writeRandomFile } from '../helpers/files.js';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
let big: Buffer;
const NAMES = 4096;

beforeAll(async () => {
  w = await startWorld();
  // Outputs far larger than a pipe's buffer (64 KiB), so the writer is still writing when
  // head exits: 4096 empty files with 200-byte names (one batch upload), and a 16 MiB file.
  const files = Array.from({ length: NAMES }, (_, i) => ({ path: `/${String(i).padStart(5, '0')}-${'n'.repeat(194)}`, size: 0, hash: EMPTY_FILE_HASH, chunks: [] }));
  const headers = { authorization: `Bearer ${w.server.adminToken}`, 'content-type': 'application/json' };
  const created = await fetch(`${w.server.url}/api/v1/uploads`, { method: 'POST', headers, body: JSON.stringify({ files }) });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  expect((await fetch(`${w.server.url}/api/v1/uploads/${id}/commit`, { method: 'POST', headers, body: '{}' })).status).toBe(200);
  const src = join(w.dir, 'big.bin');
  await writeRandomFile(src, 16 * 1024 * 1024);
  big = await readFile(src);
  ok(await w.ferry(['put', '-q', src, '/big.bin']));
});
afterAll(async () => {
  await w?.close();
});

/**
 * Runs `ferry ARGS | head HEAD_ARGS` in bash and returns ferry's exit status (PIPESTATUS),
 * its stderr and what head printed.
 */
async function pipeToHead(args: string[], headArgs: string): Promise<{ status: number; stderr: string; head: Buffer }> {
  const errFile = join(w.dir, 'stderr.txt');
  const outFile = join(w.dir, 'head.out');
  const script = `"$NODE" "$FERRY_BIN" "$@" 2>"$ERR_FILE" | head ${headArgs} >"$OUT_FILE"; echo "\${PIPESTATUS[0]}"`;
  const env = cliEnv({ ...w.env, NODE: process.execPath, FERRY_BIN, ERR_FILE: errFile, OUT_FILE: outFile });
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile('bash', ['-c', script, 'bash', ...args], { env, timeout: 60_000 }, (err, out) => (err ? reject(err) : resolve(out))),
  );
  return { status: Number(stdout.trim()), stderr: await readFile(errFile, 'utf8'), head: await readFile(outFile) };
}

describe('a reader that goes away', () => {
  // Several rounds: where the EPIPE lands (mid-request, waiting for drain, between writes) varies.
  it.each([1, 2, 3])('get FILE - | head -c 10 ends quietly with 141 (round %i)', async () => {
    const r = await pipeToHead(['get', '/big.bin', '-'], '-c 10');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(141);
    expect(r.head.equals(big.subarray(0, 10))).toBe(true);
  });

  it.each([1, 2, 3])('ls -R / | head -1 ends quietly with 141 (round %i)', async () => {
    const r = await pipeToHead(['ls', '-R', '/'], '-1');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(141);
    expect(r.head.toString()).toBe(`00000-${'n'.repeat(194)}\n`);
  });

  it.each([1, 2, 3])('ls --json | head -c 5 ends quietly with 141 (round %i)', async () => {
    const r = await pipeToHead(['ls', '--json'], '-c 5');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(141);
    expect(r.head.toString()).toBe('[\n{"p');
  });

  it('a reader that reads everything sees exit code 0', async () => {
    const r = await pipeToHead(['ls', '/'], `-n ${NAMES + 10}`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.head.toString().split('\n')).toHaveLength(NAMES + 2); // the names, big.bin, and the final newline
  });
});

describe('a destination that is not a regular file', () => {
  it('get FILE /dev/null writes into the device and leaves it a device', async () => {
    ok(await w.ferry(['get', '-q', '/big.bin', '/dev/null']));
    const st = await stat('/dev/null');
    expect(st.isCharacterDevice()).toBe(true);
    expect(existsSync('/dev/null.ferry-part')).toBe(false);
  });

  it('get FILE FIFO streams the bytes, in order, to the reader of a named pipe', async () => {
    const fifo = join(w.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = readFile(fifo); // opens for reading; the get opens the other end
    ok(await w.ferry(['get', '-q', '/big.bin', fifo]));
    expect((await reader).equals(big)).toBe(true);
    expect((await stat(fifo)).isFIFO()).toBe(true);
  });
});
