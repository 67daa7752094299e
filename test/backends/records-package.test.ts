/**
 * records/ is library: importable through the package name (`ferry/records`, an `exports`
 * entry of package.json), as a program that depends on Ferry imports it, with the root entry
 * (`ferry`) for the backends. Run in a child process against the built package.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('ferry/records through package.json exports', () => {
  it('writes zstd and gzip NDJSON records to a backend and reads them back; the root entry does not load zstd', () => {
    const program = `
      const { MemoryBackend, VERSION } = await import('ferry');
      const rootLoadedZstd = Object.keys((await import('node:module')).createRequire(import.meta.url).cache).some((k) => k.includes('zstd-napi'));
      const { writeRecords, readRecords, CODECS } = await import('ferry/records');
      const recordsLoadedZstd = Object.keys((await import('node:module')).createRequire(import.meta.url).cache).some((k) => k.includes('zstd-napi'));
      const backend = new MemoryBackend();
      const out = {};
      for (const codec of CODECS) {
        const key = 'log.ndjson' + (codec === 'zstd' ? '.zst' : '.gz');
        await writeRecords(backend, key, [{ n: 1, codec }, { n: 2, text: 'ünïcödé' }], { codec });
        const back = [];
        for await (const r of readRecords(backend, key, { codec })) back.push(r);
        out[codec] = back;
      }
      process.stdout.write(JSON.stringify({ out, version: typeof VERSION, rootLoadedZstd, recordsLoadedZstd }));
    `;
    const text = execFileSync(process.execPath, ['--input-type=module', '-e', program], { cwd: root, encoding: 'utf8' });
    const r = JSON.parse(text) as { out: Record<string, unknown[]>; version: string; rootLoadedZstd: boolean; recordsLoadedZstd: boolean };
    expect(r.version).toBe('string');
    expect([r.rootLoadedZstd, r.recordsLoadedZstd]).toEqual([false, true]); // the check sees zstd once records load it
    expect(r.out).toEqual({
      gzip: [{ n: 1, codec: 'gzip' }, { n: 2, text: 'ünïcödé' }],
      zstd: [{ n: 1, codec: 'zstd' }, { n: 2, text: 'ünïcödé' }],
    });
  });
});
