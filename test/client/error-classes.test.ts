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
import { FerryClient } from '../../src/client/client.js';
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
      expectClass(await failureOf(stranger.stat('/')), AuthInvalidError);
    } finally {
      await stranger.close();
    }
  });

  it('aborted: a transfer whose signal has fired', async () => {
    expectClass(await failureOf(client.putFile(join(dir, 'big.bin'), '/aborted.bin', { signal: AbortSignal.abort() })), AbortedError);
  });

  it('usage: a source put cannot take', async () => {
    expectClass(await failureOf((async () => client.put(42 as never, '/x'))()), UsageError);
  });
});
