/**
 * Every error the SDK throws for a common failure is the instance of its code's class, and
 * says its name: `err instanceof NotFoundError` and `err.name === 'NotFoundError'` hold
 * whether the error was decoded from the server's answer or made by the client itself (a
 * tree upload's summary of its failures, a directory given as a file). Against a real
 * server over real HTTP.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient, type FerryClientOptions } from '../../src/client/client.js';
import { FerryApi } from '../../src/client/api.js';
import { webSha256 } from '../../src/client/hashing.js';
import { uploadBlob } from '../../src/client/blob-upload.js';
import type { PutFileOptions } from '../../src/client/put.js';
import { DEFAULT_RETRY_POLICY } from '../../src/core/retry.js';
import {
  AbortedError,
  AlreadyExistsError,
  AuthInvalidError,
  FerryError,
  IsADirectoryError,
  NotFoundError,
  QuotaExceededError,
  UsageError,
} from '../../src/core/errors.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
let client: FerryClient;
let dir: string;
beforeAll(async () => {
  t = await startTestServer();
  client = new FerryClient({ server: t.url, token: t.token });
  dir = mkdtempSync(join(tmpdir(), 'ferry-error-classes-'));
  mkdirSync(join(dir, 'tree'));
  writeFileSync(join(dir, 'tree', 'a.txt'), 'a');
  writeFileSync(join(dir, 'big.bin'), Buffer.alloc(64 * 1024, 7));
});
afterAll(async () => {
  await client.close();
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The error `promise` rejects with (failing the test if it resolves). */
async function failureOf(promise: Promise<unknown>): Promise<FerryError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FerryError);
  return err as FerryError;
}

function expectClass(err: FerryError, ErrorClass: { new (...args: never[]): FerryError; code: string; name: string }): void {
  expect(err).toBeInstanceOf(ErrorClass);
  expect(err.name).toBe(ErrorClass.name);
  expect(err.code).toBe(ErrorClass.code);
}

describe("the SDK's errors are their codes' classes", () => {
  it('not found: stat and get of a missing path', async () => {
    expectClass(await failureOf(client.stat('/missing')), NotFoundError);
    expectClass(await failureOf(client.getFile('/missing', join(dir, 'out'))), NotFoundError);
  });

  it('exists: a tree upload with `noOverwrite` over a file that is there', async () => {
    await client.putTree(join(dir, 'tree'), '/tree');
    writeFileSync(join(dir, 'tree', 'a.txt'), 'changed');
    const err = await failureOf(client.putTree(join(dir, 'tree'), '/tree', { noOverwrite: true }));
    expectClass(err, AlreadyExistsError);
    expect(err.message).toMatch(/1 of 1 file failed/);
  });

  it('a directory given where a file is wanted', async () => {
    expectClass(await failureOf(client.putFile(join(dir, 'tree'), '/x')), IsADirectoryError);
  });

  it('quota: an upload past the user’s quota', async () => {
    await addUser(t, 'quinn', { quotaBytes: 1000 });
    const { token } = await tokenFor(t, 'quinn');
    const quinn = new FerryClient({ server: t.url, token });
    try {
      expectClass(await failureOf(quinn.putFile(join(dir, 'big.bin'), '/big.bin')), QuotaExceededError);
    } finally {
      await quinn.close();
    }
  });

  it('auth: a token the server does not know', async () => {
    const stranger = new FerryClient({ server: t.url, token: 'not-a-token' });
    try {
      const err = await failureOf(stranger.stat('/'));
      expectClass(err, AuthInvalidError);
      // The program's own token, not a `ferry login` or FERRY_TOKEN it never had.
      expect(err.message).toMatch(/^the token given to FerryClient was refused: .+; check the `token` option \(FerryClient\.fromConfig reads a saved login or FERRY_TOKEN\)$/);
    } finally {
      await stranger.close();
    }
  });

  it('auth: a token whose source the caller names is explained as that source', async () => {
    const fromEnv = new FerryClient({ server: t.url, token: 'not-a-token', tokenSource: 'env' });
    try {
      expect((await failureOf(fromEnv.stat('/'))).message).toMatch(/^the server refused the token \(FERRY_TOKEN\): .+; check FERRY_TOKEN$/);
    } finally {
      await fromEnv.close();
    }
  });

  it('aborted: a transfer whose signal has fired', async () => {
    expectClass(await failureOf(client.putFile(join(dir, 'big.bin'), '/aborted.bin', { signal: AbortSignal.abort() })), AbortedError);
  });

  it('usage: a source put cannot take', async () => {
    expectClass(await failureOf((async () => client.put(42 as never, '/x'))()), UsageError);
  });
});

describe('option values a client cannot work with are refused when it is made', () => {
  /** The FERRY_ERR_USAGE message `new FerryClient(options)` throws (failing the test if it makes a client). */
  function refusal(options: Partial<FerryClientOptions>): string {
    let client: FerryClient | undefined;
    try {
      client = new FerryClient({ server: 'http://127.0.0.1:9', ...options });
    } catch (err) {
      expectClass(err as FerryError, UsageError);
      return (err as Error).message;
    }
    void client.close();
    throw new Error(`made a client with ${JSON.stringify(options)}`);
  }

  it('parallel: an integer from 1 to 256 (0 was quietly 1)', () => {
    for (const parallel of [0, -1, 1.5, Number.NaN, 257, '4' as never]) {
      expect(refusal({ parallel }), String(parallel)).toBe('parallel must be an integer from 1 to 256');
    }
  });

  it('bwlimit: bytes per second, at least 1 (0 was quietly no limit)', () => {
    expect(refusal({ bwlimit: 0 })).toBe('bwlimit must be a number of bytes per second of at least 1, not 0; leave it out for no limit');
    for (const bwlimit of [-5, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(refusal({ bwlimit }), String(bwlimit)).toMatch(/^bwlimit must be a number of bytes per second of at least 1, not /);
    expect(refusal({ bwlimit: '10M' as never })).toBe('bwlimit must be a number of bytes per second of at least 1, not string "10M"; leave it out for no limit');
  });

  it('headersTimeoutMs and the retry policy', () => {
    expect(refusal({ headersTimeoutMs: 0 })).toBe('headersTimeoutMs must be a number of ms of at least 1, not 0');
    expect(refusal({ headersTimeoutMs: Number.NaN })).toBe('headersTimeoutMs must be a number of ms of at least 1, not NaN');
    expect(refusal({ retry: { ...DEFAULT_RETRY_POLICY, retries: -1 } })).toBe('retry.retries must be an integer from 0 to 100');
    expect(refusal({ retry: { ...DEFAULT_RETRY_POLICY, retries: 2.5 } })).toBe('retry.retries must be an integer from 0 to 100');
    expect(refusal({ retry: { ...DEFAULT_RETRY_POLICY, baseMs: -1 } })).toBe('retry.baseMs must be a number of ms of at least 0, not -1');
    expect(refusal({ retry: { retries: 3 } as never })).toBe('retry.baseMs must be a number of ms of at least 0, not undefined');
    expect(refusal({ retry: { ...DEFAULT_RETRY_POLICY, maxRetryAfterMs: Number.NaN } })).toBe('retry.maxRetryAfterMs must be a number of ms of at least 0, not NaN');
  });

  it("a transfer's own parallel, the same way, before anything is sent", async () => {
    for (const parallel of [0, 2.5, 257]) {
      const err = await failureOf(client.putFile(join(dir, 'big.bin'), '/parallel.bin', { parallel }));
      expectClass(err, UsageError);
      expect(err.message).toBe('parallel must be an integer from 1 to 256');
    }
    expectClass(await failureOf(client.stat('/parallel.bin')), NotFoundError);
    expect((await failureOf(client.getFile('/none.bin', join(dir, 'none.bin'), { parallel: -1 }))).message).toBe('parallel must be an integer from 1 to 256');
    expect((await client.putFile(join(dir, 'big.bin'), '/parallel.bin', { parallel: 256 })).bytes).toBe(64 * 1024);
  });

  it('takes the bounds and leaves out what is not given', async () => {
    const clients = [
      new FerryClient({ server: t.url, parallel: 1, bwlimit: 1, headersTimeoutMs: 1, retry: { retries: 0, baseMs: 0, capMs: 0, maxRetryAfterMs: 0 } }),
      new FerryClient({ server: t.url, parallel: 256, bwlimit: 1.5e9, retry: { ...DEFAULT_RETRY_POLICY, retries: 100 } }),
      new FerryClient({ server: t.url, parallel: undefined, bwlimit: undefined, headersTimeoutMs: undefined, retry: undefined }),
    ];
    expect(clients.map((c) => c.parallel)).toEqual([1, 256, 4]);
    expect(clients.map((c) => c.limiter !== undefined)).toEqual([true, true, false]);
    await Promise.all(clients.map((c) => c.close()));
  });
  it("the web app's FerryApi takes parallel as FerryClient does (it rounded 0 up to 1 and 2.5 down to 2)", () => {
    const http = client.http;
    for (const parallel of [0, 2.5, 257, Number.NaN]) {
      let message = '';
      try {
        new FerryApi({ http, sha: webSha256, parallel });
      } catch (err) {
        expectClass(err as FerryError, UsageError);
        message = (err as Error).message;
      }
      expect(message, String(parallel)).toBe('parallel must be an integer from 1 to 256');
    }
    expect([1, 256, undefined].map((parallel) => new FerryApi({ http, sha: webSha256, parallel }).parallel)).toEqual([1, 256, 4]);
  });
});

describe("an upload's ttlSeconds, mtime, mode and chunkWorkers are checked before anything is read or sent", () => {
  const cases: [PutFileOptions, string][] = [
    [{ ttlSeconds: 0 }, 'ttlSeconds must be an integer from 1 to 315360000'],
    [{ ttlSeconds: 0.5 }, 'ttlSeconds must be an integer from 1 to 315360000'],
    [{ ttlSeconds: 315_360_001 }, 'ttlSeconds must be an integer from 1 to 315360000'],
    [{ mtime: -1 }, 'mtime (ms since the epoch) must be an integer from 0 to 9007199254740991'],
    [{ mtime: Number.NaN }, 'mtime (ms since the epoch) must be an integer from 0 to 9007199254740991'],
    [{ mtime: 1.5 }, 'mtime (ms since the epoch) must be an integer from 0 to 9007199254740991'],
    [{ mode: 0o10000 }, 'mode must be an integer from 0 to 4095'],
    [{ mode: -1 }, 'mode must be an integer from 0 to 4095'],
    [{ chunkWorkers: -1 }, 'chunkWorkers must be an integer from 0 to 64'],
    [{ chunkWorkers: 1e6 }, 'chunkWorkers must be an integer from 0 to 64'],
    [{ chunkWorkers: 1.5 }, 'chunkWorkers must be an integer from 0 to 64'],
  ];

  it.each(cases)('putFile %o', async (options, message) => {
    const err = await failureOf(client.putFile(join(dir, 'big.bin'), '/checked.bin', options));
    expectClass(err, UsageError);
    expect(err.message).toBe(message);
    expectClass(await failureOf(client.stat('/checked.bin')), NotFoundError);
  });

  it('putStream, putTree and uploadBlob the same way', async () => {
    const bytes = async function* () {
      yield Buffer.from('x');
    };
    expect((await failureOf(client.putStream(bytes(), '/checked.bin', { mtime: -5 }))).message).toBe('mtime (ms since the epoch) must be an integer from 0 to 9007199254740991');
    expect((await failureOf(client.putStream(bytes(), '/checked.bin', { mode: 0o20000 }))).message).toBe('mode must be an integer from 0 to 4095');
    expect((await failureOf(client.putTree(join(dir, 'tree'), '/checked-tree', { ttlSeconds: -1 }))).message).toBe('ttlSeconds must be an integer from 1 to 315360000');
    expect((await failureOf(uploadBlob(client, new Blob(['x']), '/checked.bin', { ttlSeconds: 1.5 }))).message).toBe('ttlSeconds must be an integer from 1 to 315360000');
    expectClass(await failureOf(client.stat('/checked.bin')), NotFoundError);
    expectClass(await failureOf(client.stat('/checked-tree')), NotFoundError);
  });

  it('takes the bounds', async () => {
    await client.putFile(join(dir, 'big.bin'), '/bounds.bin', { ttlSeconds: 315_360_000, mtime: 0, mode: 0o7777, chunkWorkers: 0 });
    const st = await client.stat('/bounds.bin');
    expect(st.mtime).toBe(0);
    await client.putFile(join(dir, 'big.bin'), '/bounds.bin', { ttlSeconds: 1, chunkWorkers: 64, mode: 0 });
  });
});
