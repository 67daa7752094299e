/**
 * Micro-benchmark of the encryption-at-rest decorator's CPU per byte, beside Node's
 * AES-256-GCM alone (the floor: what the cipher costs with nothing around it).
 *
 *   node dist/benchmarks/micro/encryption.js [--size 256MiB] [--chunk 1MiB] [--runs 5] [--json]
 *
 * Over the memory backend (no I/O), `--size` of distinct `--chunk` objects, in interleaved
 * rounds (load from other processes hits every variant alike), CPU time of this process:
 * - gcm: one AES-256-GCM pass per 64 KiB over the bytes (a fresh cipher each, as the format wants);
 * - plain write / readRange: the memory backend alone (what the decorator adds to);
 * - write (buffer): EncryptedBackend.write of a whole chunk (the chunk store's own bytes);
 * - write (stream): the same bytes as a stream of 64 KiB pieces (an upload's socket reads);
 * - readRange: a whole object read back into a reused buffer (the chunk store serving downloads).
 */
import { createCipheriv, randomBytes, randomFillSync } from 'node:crypto';
import { loadavg } from 'node:os';
import { Readable } from 'node:stream';
import { EncryptedBackend } from '../../src/backends/decorators/encryption.js';
import { generateMasterKeyText, masterKeyFromText, openRing } from '../../src/backends/decorators/key-ring.js';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { Args } from '../lib/args.js';
import { median } from '../lib/stats.js';

const args = new Args().only(['size', 'chunk', 'runs', 'json']);
const total = args.size('size', '256MiB');
const chunkSize = args.size('chunk', '1MiB');
const runs = args.number('runs', 5);
const json = args.flag('json');

const count = Math.max(1, Math.floor(total / chunkSize));
const bytes = count * chunkSize;
const chunks = Array.from({ length: count }, () => randomFillSync(Buffer.allocUnsafe(chunkSize)));
const into = Buffer.allocUnsafe(chunkSize + 4096);

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function pieces(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < b.length; at += size) out.push(b.subarray(at, at + size));
  return out;
}

async function fresh(): Promise<{ plain: MemoryBackend; enc: EncryptedBackend }> {
  const inner = new MemoryBackend();
  const { ring } = await openRing(inner, masterKeyFromText(generateMasterKeyText(), 'bench key'));
  return { plain: new MemoryBackend(), enc: new EncryptedBackend(inner, ring) };
}

const variants: Record<string, (b: { plain: MemoryBackend; enc: EncryptedBackend }) => Promise<void>> = {
  gcm: async () => {
    const key = randomBytes(32);
    const iv = Buffer.alloc(12);
    for (const c of chunks) {
      for (const p of pieces(c, 64 * 1024)) {
        const g = createCipheriv('aes-256-gcm', key, iv);
        g.update(p);
        g.final();
        g.getAuthTag();
      }
    }
  },
  'plain write': async ({ plain }) => {
    for (let i = 0; i < count; i++) await plain.write(`c/${i}`, chunks[i], { size: chunkSize });
  },
  'plain readRange': async ({ plain }) => {
    for (let i = 0; i < count; i++) await plain.readRange(`c/${i}`, 0, chunkSize + 4096);
  },
  'write (buffer)': async ({ enc }) => {
    for (let i = 0; i < count; i++) await enc.write(`c/${i}`, chunks[i], { size: chunkSize });
  },
  readRange: async ({ enc }) => {
    for (let i = 0; i < count; i++) await enc.readRange(`c/${i}`, 0, chunkSize + 4096, { into });
  },
  'write (stream)': async ({ enc }) => {
    for (let i = 0; i < count; i++) await enc.write(`s/${i}`, Readable.from(pieces(chunks[i], 64 * 1024)), { size: chunkSize });
  },
};

const seconds: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
const load: number[] = [];
for (let r = 0; r < runs; r++) {
  // One pair of backends per round: the reads read what that round's writes wrote.
  const b = await fresh();
  load.push(loadavg()[0]);
  for (const [name, run] of Object.entries(variants)) {
    const c0 = cpu();
    await run(b);
    seconds[name].push(cpu() - c0);
  }
}

const result = Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, { cpuSeconds: median(v), gbPerCpuSecond: bytes / median(v) / 1e9 }]));
if (json) {
  process.stdout.write(JSON.stringify({ bytes, chunkSize, runs, load, result }, null, 2) + '\n');
} else {
  process.stdout.write(`${count} objects of ${chunkSize} bytes, medians of ${runs} rounds (CPU of this process), 1-min load ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)}\n`);
  for (const [k, v] of Object.entries(result)) process.stdout.write(`${k.padEnd(16)} ${v.cpuSeconds.toFixed(3)} s  ${v.gbPerCpuSecond.toFixed(2)} GB per CPU s\n`);
}
