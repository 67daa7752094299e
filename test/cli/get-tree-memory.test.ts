/**
 * `ferry get -r` holds a window of the listing, not the whole tree: a tree of 30,000 small
 * files (1,000 distinct ones put once, then copied by reference on the server) comes down
 * through the real CLI while its peak resident memory (VmHWM, sampled from /proc) is read
 * at the end; it stays under a bound the old whole-listing download exceeded (it held every
 * entry, with its chunk list, before fetching anything). Every file's bytes are checked.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

const FOLDERS = 30;
const PER_FOLDER = 1_000;
/**
 * V8's heap limit for the CLI in both runs. Left to itself V8 lets garbage pile up far past
 * the live set (the streaming code then peaked 52 MiB above the small run, the old one 69):
 * capped, the peak follows what is really held.
 */
const OLD_SPACE_MIB = 32;
/**
 * What the 30,000-file get may peak above the 1,000-file one. Measured (2026-12-06, 2 cores
 * shared with other work): the whole-listing code grew by 39.8 MiB (and took 8.5 minutes,
 * collecting garbage all along), the streaming code by 22.5 MiB (in 3.8 minutes).
 */
const GROWTH_BOUND = 31 * 1024 * 1024;

let world: E2EWorld;
/**
 * Where the trees come down: a RAM file system where there is one. A download syncs each file
 * it writes (30,000 fsyncs on a shared disk took most of this test's time); what is measured
 * is the CLI's memory, which the destination's file system does not change.
 */
let down = '';
const local = (...p: string[]) => join(world.dir, ...p);
const body = (i: number) => `file ${i} ${'x'.repeat(i % 97)}\n`;

beforeAll(async () => {
  world = await startWorld();
  down = existsSync('/dev/shm') ? await mkdtemp('/dev/shm/ferry-get-tree-') : local('down');
  await mkdir(local('one', 'a'), { recursive: true });
  await mkdir(local('one', 'b'), { recursive: true });
  for (let i = 0; i < PER_FOLDER; i++) await writeFile(local('one', i % 2 ? 'a' : 'b', `f${i}.txt`), body(i));
  ok(await world.ferry(['put', '-r', '-q', local('one'), '/tree/d0']));
  // The copies are independent (by reference, on the server): a few at a time.
  const rest = Array.from({ length: FOLDERS - 1 }, (_, i) => i + 1);
  for (let i = 0; i < rest.length; i += 4) {
    await Promise.all(rest.slice(i, i + 4).map(async (k) => ok(await world.ferry(['cp', '-r', '-q', '/tree/d0', `/tree/d${k}`]))));
  }
}, 300_000);

afterAll(async () => {
  if (down.startsWith('/dev/shm/')) await rm(down, { recursive: true, force: true });
  await world?.close();
});

function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** Runs `ferry get -r --json SRC DEST` and reads the process's peak resident memory until it exits. */
async function getTreeMeasured(src: string, dest: string): Promise<{ code: number | null; stdout: string; stderr: string; peak: number }> {
  const child = world.spawn(['get', '-r', '--json', src, dest], { env: { NODE_OPTIONS: `--max-old-space-size=${OLD_SPACE_MIB}` } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin!.end();
  let peak = 0;
  // VmHWM is the peak itself; it is read often only so that a reading comes late before the exit.
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, peakRss(child.pid!));
    } catch {
      // exited between two readings
    }
  }, 20);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearInterval(sampler);
  return { code, stdout, stderr, peak };
}

it('get -r of 30,000 files grows the CLI no more than a bound over a 1,000-file get, every file intact', async () => {
  const small = await getTreeMeasured('/tree/d0', join(down, 'small'));
  expect(small.code).toBe(0);
  const big = await getTreeMeasured('/tree', join(down, 'all'));
  expect(big.stderr).toBe('');
  expect(big.code).toBe(0);
  expect(JSON.parse(big.stdout)).toMatchObject({ ok: true, files: FOLDERS * PER_FOLDER });
  const growth = big.peak - small.peak;
  console.log(`peak RSS of get -r: ${(small.peak / 2 ** 20).toFixed(1)} MiB for 1,000 files, ${(big.peak / 2 ** 20).toFixed(1)} MiB for 30,000`);
  expect(small.peak).toBeGreaterThan(0);
  expect(growth).toBeLessThan(GROWTH_BOUND);
  // Every folder holds its files and nothing else, every file its bytes: the mismatches in one
  // list (30,000 calls of expect took seconds of a busy core), the reads a few at a time.
  const counts = [];
  for (let k = 0; k < FOLDERS; k++) for (const sub of ['a', 'b']) counts.push((await readdir(join(down, 'all', `d${k}`, sub))).length);
  expect(counts).toEqual(Array(FOLDERS * 2).fill(PER_FOLDER / 2));
  const wrong: string[] = [];
  const files = Array.from({ length: FOLDERS * PER_FOLDER }, (_, n) => ({ k: Math.floor(n / PER_FOLDER), i: n % PER_FOLDER }));
  for (let n = 0; n < files.length; n += 32) {
    await Promise.all(
      files.slice(n, n + 32).map(async ({ k, i }) => {
        const path = join(down, 'all', `d${k}`, i % 2 ? 'a' : 'b', `f${i}.txt`);
        if ((await readFile(path, 'utf8')) !== body(i)) wrong.push(path);
      }),
    );
  }
  expect(wrong).toEqual([]);
}, 600_000);
