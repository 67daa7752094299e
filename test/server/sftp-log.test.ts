/**
 * The SFTP front's lines in the server log: a login, and the connection's end with who, from
 * where and for how long, as the access log has a line per HTTP request.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from '../helpers/e2e.js';
import { sftpBatch, sshUser, startSftpServer, type SftpServer } from '../helpers/sftp.js';

const lines: Record<string, unknown>[] = [];
let s: SftpServer;
beforeAll(async () => {
  let pending = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      pending += chunk.toString();
      const parts = pending.split('\n');
      pending = parts.pop()!;
      for (const p of parts) lines.push(JSON.parse(p) as Record<string, unknown>);
      cb();
    },
  });
  s = await startSftpServer({ logLevel: 'info', logDestination: sink });
});
afterAll(async () => s?.close());

it('an SFTP connection that ends has its line: user, address, duration, at info', async () => {
  const ana = await sshUser(s, 'ana');
  const r = await sftpBatch(s, ana, ['ls']);
  expect(r.code, r.stderr).toBe(0);
  await waitFor(() => lines.some((l) => l.msg === 'sftp: connection closed'), 20_000);
  const closed = lines.filter((l) => l.msg === 'sftp: connection closed');
  expect(closed).toEqual([expect.objectContaining({ level: 30, user: 'ana', ip: '127.0.0.1', ms: expect.any(Number) })]);
  expect(lines.filter((l) => l.msg === 'sftp: logged in')).toEqual([expect.objectContaining({ user: 'ana' })]);
});
