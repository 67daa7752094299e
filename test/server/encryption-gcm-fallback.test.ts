/**
 * `ferry serve` with encryption at rest seals and opens segments with the ferry-gcm addon (its
 * own VAES code where the processor has it, or OpenSSL's: FERRY_GCM_IMPL=openssl), and
 * without it (not built: the addon hidden from the server; or turned off: FERRY_NATIVE_GCM=0)
 * with Node's cipher API, saying which once on its debug log (NODE_DEBUG=ferry). A store
 * written by one opens with the others, every way, through the CLI. The server's allocator
 * setting, made through the same addon, is skipped without it (and says why).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateMasterKeyText } from '../../src/backends/decorators/key-ring.js';
import { cliEnv, runFerry } from '../helpers/cli.js';
import { sha256File, tempDir, writeRandomFile } from '../helpers/files.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const HIDE = fileURLToPath(new URL('../helpers/hide-ferry-gcm.cjs', import.meta.url));

const MALLOC_SET = 'allocator: glibc mmap threshold 69632, trim threshold 4194304 (65536 and 131072 while bodies wait for memory)';
/** The AES-GCM the addon picks on this processor when nothing forces one (as a server started by these tests would). */
const PICKED = execFileSync(process.execPath, ['-e', "process.stdout.write(require('ferry-gcm').implementation)"], { env: cliEnv(), cwd: fileURLToPath(new URL('../..', import.meta.url)) }).toString();

const MODES = {
  native: { env: {}, says: `AES-256-GCM segments: native (ferry-gcm, ${PICKED})`, malloc: MALLOC_SET },
  'FERRY_GCM_IMPL=openssl': { env: { FERRY_GCM_IMPL: 'openssl' }, says: 'AES-256-GCM segments: native (ferry-gcm, openssl)', malloc: MALLOC_SET },
  'addon missing': {
    env: { NODE_OPTIONS: `--require ${HIDE}` },
    says: "Node's cipher API (the ferry-gcm addon is not used: Cannot find module 'ferry-gcm'",
    malloc: "allocator: unchanged (the ferry-gcm addon is not used: Cannot find module 'ferry-gcm'",
  },
  'FERRY_NATIVE_GCM=0': { env: { FERRY_NATIVE_GCM: '0' }, says: "Node's cipher API (the ferry-gcm addon is not used: FERRY_NATIVE_GCM=0)", malloc: 'allocator: unchanged (the ferry-gcm addon is not used: FERRY_NATIVE_GCM=0)' },
} as const;
type Mode = keyof typeof MODES;

describe('encryption at rest with and without the native GCM addon', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => tmp?.cleanup());

  async function serve(data: string, keyFile: string, mode: Mode, adminToken?: string): Promise<RunningServer> {
    return startServer({ dataDir: data, adminToken, extraArgs: ['--encryption-key-file', keyFile], env: { ...MODES[mode].env, NODE_DEBUG: 'ferry' } });
  }

  it('each mode serves, says which cipher once, and reads what the other modes wrote', { timeout: 180_000 }, async () => {
    const keyFile = join(tmp.path, 'master.key');
    await writeFile(keyFile, generateMasterKeyText() + '\n', { mode: 0o600 });
    const data = join(tmp.path, 'data');
    await mkdir(data);
    const env = { FERRY_CONFIG: join(tmp.path, 'config.json') };
    const written: { name: string; src: string }[] = [];
    let token: string | undefined;
    for (const mode of Object.keys(MODES) as Mode[]) {
      const server = await serve(data, keyFile, mode, token);
      token = server.adminToken;
      const clientEnv = { ...env, FERRY_SERVER: server.url, FERRY_TOKEN: token };
      try {
        // Several chunks, many segments, a last segment that is not full.
        const src = join(tmp.path, `${written.length}.bin`);
        await writeRandomFile(src, 5 * 1024 * 1024 + 12_345);
        const name = `/${mode.replace(/\W/g, '-')}.bin`;
        const put = await runFerry(['put', '-q', src, name], { env: clientEnv });
        expect(put.code, put.stderr).toBe(0);
        written.push({ name, src });
        // Every file so far, whichever mode wrote it.
        for (const w of written) {
          const back = join(tmp.path, `back-${mode.replace(/\W/g, '-')}-${w.name.slice(1)}`);
          const get = await runFerry(['get', '-q', w.name, back], { env: clientEnv });
          expect(get.code, get.stderr).toBe(0);
          expect(await sha256File(back), `${w.name} read by ${mode}`).toBe(await sha256File(w.src));
        }
      } finally {
        await server.stop();
      }
      const said = server.output().split('\n').filter((l) => l.includes('AES-256-GCM segments'));
      expect(said, mode).toHaveLength(1);
      expect(said[0], mode).toContain(MODES[mode].says);
      // The server's allocator setting (src/server/allocator.ts) goes through the same addon: made, or skipped and said why.
      const malloc = server.output().split('\n').filter((l) => l.includes('allocator:'));
      expect(malloc, mode).toHaveLength(1);
      expect(malloc[0], mode).toContain(MODES[mode].malloc);
    }
    // And the native server again, over what the JS ones wrote.
    const server = await serve(data, keyFile, 'native', token);
    try {
      for (const w of written) {
        const back = join(tmp.path, `again-${w.name.slice(1)}`);
        expect((await runFerry(['get', '-q', w.name, back], { env: { ...env, FERRY_SERVER: server.url, FERRY_TOKEN: token } })).code).toBe(0);
        expect(await sha256File(back)).toBe(await sha256File(w.src));
      }
    } finally {
      await server.stop();
    }
  });
});
