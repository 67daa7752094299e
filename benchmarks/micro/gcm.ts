/**
 * Micro-benchmark of the `ferry-gcm` addon's AES-256-GCM: its own VAES code against OpenSSL's
 * (FERRY_GCM_IMPL=openssl), sealing and opening `--size` in segments of each `--segments` size.
 *
 *   node dist/benchmarks/micro/gcm.js [--size 256MiB] [--segments 64KiB,1MiB] [--rounds 4] [--passes 5] [--json]
 *
 * The implementation is chosen when the addon loads, so each measurement is a child process
 * with FERRY_GCM_IMPL set, the two alternated round by round (A B A B: load from other
 * processes hits both alike). A child makes `--passes` passes of each operation over a 16 MiB
 * source (the bytes come from memory, not cache, as an upload's do) and reports the best
 * pass's CPU seconds (user + system) for:
 * - seal: each segment sealed into a separate buffer;
 * - open: each opened into a separate buffer (checked, decrypted in one pass);
 * - open in place: (seal, then open each segment where the chunk store opens it: in its own
 *   buffer, the plain bytes 16 bytes before their ciphertext) minus seal.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomFillSync } from 'node:crypto';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ferryNative } from '../../src/core/native-addon.js';
import { Args } from '../lib/args.js';
import { median } from '../lib/stats.js';

const args = new Args().only(['size', 'segments', 'rounds', 'passes', 'json']);
const total = args.size('size', '256MiB');
const segmentSizes = (args.list('segments') ?? ['64KiB', '1MiB']).map((s) => new Args(['--s', s]).size('s', s));
const rounds = args.number('rounds', 4);
const passes = args.number('passes', 5);
const IMPLS = ['vaes-avx512', 'openssl'] as const;
const SOURCE_BYTES = 16 * 1024 * 1024;

type Result = { implementation: string; segment: number; seal: number; open: number; openInPlace: number };

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function best(f: () => void): number {
  let min = Infinity;
  for (let p = 0; p < passes; p++) {
    const t = cpu();
    f();
    min = Math.min(min, cpu() - t);
  }
  return min;
}

/** One child's measurements, with the addon as FERRY_GCM_IMPL chose it. */
function child(segment: number): Result {
  const addon = ferryNative().addon;
  if (!addon) throw new Error(`ferry-gcm is not available: ${ferryNative().why}`);
  const key = addon.newKey(randomBytes(32));
  const aad = randomBytes(68);
  const per = SOURCE_BYTES / segment;
  const source = randomFillSync(Buffer.allocUnsafe(SOURCE_BYTES));
  const sealed = Buffer.alloc(per * (segment + 16));
  const plain = Buffer.alloc(SOURCE_BYTES);
  const n = Math.max(1, Math.floor(total / segment));
  const sealAll = (): void => {
    for (let i = 0; i < n; i++) addon.seal(key, i % per, false, aad, source.subarray((i % per) * segment, (i % per + 1) * segment), sealed, (i % per) * (segment + 16));
  };
  const opened = (got: number): void => {
    if (got !== segment) throw new Error('a segment did not open');
  };
  const seal = best(sealAll);
  const open = best(() => {
    for (let i = 0; i < n; i++) opened(addon.open(key, i % per, false, aad, sealed.subarray((i % per) * (segment + 16), (i % per + 1) * (segment + 16)), plain, (i % per) * segment));
  });
  const work = Buffer.alloc(per * (segment + 32));
  const sealThenInPlace = best(() => {
    for (let i = 0; i < n; i++) {
      const k = i % per;
      const at = k * (segment + 32);
      addon.seal(key, k, false, aad, source.subarray(k * segment, (k + 1) * segment), work, at + 16);
      opened(addon.open(key, k, false, aad, work.subarray(at + 16, at + 32 + segment), work, at));
    }
  });
  if (!work.subarray(0, segment).equals(source.subarray(0, segment))) throw new Error('in-place opening gave other bytes');
  return { implementation: addon.implementation ?? 'openssl', segment, seal, open, openInPlace: Math.max(0, sealThenInPlace - seal) };
}

if (process.env.FERRY_GCM_MICRO_CHILD) {
  process.stdout.write(JSON.stringify(child(Number(process.env.FERRY_GCM_MICRO_CHILD))));
} else {
  const results: Result[] = [];
  const load = [loadavg()[0]];
  for (let r = 0; r < rounds; r++) {
    for (const segment of segmentSizes) {
      for (const impl of IMPLS) {
        const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, FERRY_GCM_IMPL: impl === 'openssl' ? 'openssl' : '', FERRY_GCM_MICRO_CHILD: String(segment) } });
        results.push(JSON.parse(out.toString()) as Result);
      }
    }
    load.push(loadavg()[0]);
  }
  if (args.flag('json')) process.stdout.write(`${JSON.stringify({ results, load })}\n`);
  console.log(`ferry-gcm, ${total / 2 ** 20} MiB, best of ${passes} passes per child, ${rounds} alternating rounds; 1-minute load ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)}`);
  console.log('| implementation | segment | seal CPU s (median; rounds) | open CPU s | open in place CPU s |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const segment of segmentSizes) {
    for (const impl of IMPLS) {
      const rs = results.filter((x) => x.segment === segment && x.implementation === impl);
      if (rs.length === 0) continue;
      const col = (f: (x: Result) => number): string => `${median(rs.map(f)).toFixed(3)} (${rs.map((x) => f(x).toFixed(3)).join(', ')})`;
      console.log(`| ${impl} | ${segment / 1024} KiB | ${col((x) => x.seal)} | ${col((x) => x.open)} | ${col((x) => x.openInPlace)} |`);
    }
  }
}
