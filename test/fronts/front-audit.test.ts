/**
 * One table across the ways in: the HTTP API (a token), the web app (its session), WebDAV,
 * SFTP, SCP and tus. Each makes a folder, uploads a file, copies it, moves it and deletes it
 * where its protocol can, and every one of those is an audit entry with the file's path, the
 * user, the address and the front, and reaches a webhook as the same event (`upload`, `copy`,
 * `move`, `delete`, `mkdir`). A folder made fired no webhook event. An SFTP rename was audited as
 * `file.rename`, which no webhook or hook event took, and no SFTP entry had a path; the API's
 * and WebDAV's mkdir were not audited at all; an SFTP `cp` was audited as a
 * download and an upload.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSession } from '../../src/core/protocol.js';
import { scp, sftpBatch, sshUser, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';
import { auditEvents, tokenFor } from '../helpers/users.js';

type Op = 'mkdir' | 'upload' | 'copy' | 'move' | 'delete';
/** Paths relative to the user's home: the folder, and a, b (copy of a), c (a moved). */
interface Names {
  dir: string;
  a: string;
  b: string;
  c: string;
}

interface Hooked {
  event: string;
  action: string;
  path: string | null;
  user: string | null;
  ip: string | null;
  front: string | null;
}

let s: SftpServer;
let fay: SshUser;
let token = '';
let session = '';
const HOME = '/home/fay';
const hooked: Hooked[] = [];
let receiver: Server;

const api = (path: string, bearer: string, init: RequestInit = {}) => fetch(`${s.t.url}${path}`, { ...init, headers: { authorization: `Bearer ${bearer}`, ...init.headers } });
const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function ok(res: Promise<Response>, status: number): Promise<void> {
  const r = await res;
  expect(r.status, await r.text()).toBe(status);
}

/** The native API's operations with one bearer token (an API token, or the web app's session). */
const httpOps = (bearer: () => string): Record<Op, (n: Names) => Promise<void>> => ({
  mkdir: (n) => ok(api(`/api/v1/mkdir${n.dir}`, bearer(), { method: 'POST' }), 201),
  upload: (n) => ok(api(`/api/v1/files${n.a}`, bearer(), { method: 'PUT', body: 'over http' }), 201),
  copy: (n) => ok(api('/api/v1/copy', bearer(), json({ from: n.a, to: n.b })), 200),
  move: (n) => ok(api('/api/v1/move', bearer(), json({ from: n.a, to: n.c })), 200),
  delete: (n) => ok(api(`/api/v1/files${n.c}`, bearer(), { method: 'DELETE' }), 204),
});

const dav = (method: string, path: string, headers: Record<string, string> = {}, body?: string) => api(`/dav${path}`, token, { method, headers, ...(body ? { body } : {}) });

async function sftp(commands: string[]): Promise<void> {
  await writeFile(join(s.dir, 'local.txt'), 'over sftp');
  const r = await sftpBatch(s, fay, commands);
  expect(r.code, r.stderr).toBe(0);
}

/** Each front with its operations; an operation its protocol lacks is left out (said why). */
const FRONTS: { name: string; front: string; ops: Partial<Record<Op, (n: Names) => Promise<void>>> }[] = [
  { name: 'HTTP API', front: 'api', ops: httpOps(() => token) },
  { name: 'web app', front: 'web', ops: httpOps(() => session) },
  {
    name: 'WebDAV',
    front: 'webdav',
    ops: {
      mkdir: (n) => ok(dav('MKCOL', n.dir), 201),
      upload: (n) => ok(dav('PUT', n.a, {}, 'over webdav'), 201),
      copy: (n) => ok(dav('COPY', n.a, { destination: `${s.t.url}/dav${n.b}` }), 201),
      move: (n) => ok(dav('MOVE', n.a, { destination: `${s.t.url}/dav${n.c}` }), 201),
      delete: (n) => ok(dav('DELETE', n.c), 204),
    },
  },
  {
    // OpenSSH's `cp` is copy-data within the server: one copy, not a download and an upload.
    name: 'SFTP',
    front: 'sftp',
    ops: {
      mkdir: (n) => sftp([`mkdir ${n.dir.slice(1)}`]),
      upload: (n) => sftp([`put local.txt ${n.a.slice(1)}`]),
      copy: async (n) => {
        await sftp([`cp ${n.a.slice(1)} ${n.b.slice(1)}`]);
        expect(await auditEvents(s.t, `user=fay&path=${HOME}${n.b}&event=upload`)).toEqual([]);
        expect(await auditEvents(s.t, `user=fay&path=${HOME}${n.a}&event=download`)).toEqual([]);
        expect(await (await api(`/api/v1/files${n.b}`, token)).text()).toBe('over sftp');
      },
      move: (n) => sftp([`rename ${n.a.slice(1)} ${n.c.slice(1)}`]),
      delete: (n) => sftp([`rm ${n.c.slice(1)}`]),
    },
  },
  {
    // scp copies files in (and out); the folder is made over the API first.
    name: 'SCP',
    front: 'sftp',
    ops: {
      upload: async (n) => {
        await ok(api(`/api/v1/mkdir${n.dir}`, token, { method: 'POST' }), 201);
        await writeFile(join(s.dir, 'local.txt'), 'over scp');
        const r = await scp(s, fay, ['local.txt', `remote:${n.a.slice(1)}`]);
        expect(r.code, r.stderr).toBe(0);
      },
    },
  },
  {
    // tus only uploads (its DELETE ends an upload in progress, it deletes no file).
    name: 'tus',
    front: 'tus',
    ops: {
      upload: (n) =>
        new Promise<void>((resolve, reject) => {
          const up = new tus.Upload(Buffer.from('over tus'), {
            endpoint: `${s.t.url}/api/v1/tus/`,
            headers: { authorization: `Bearer ${token}` },
            metadata: { path: n.dir, filename: 'a.txt' },
            retryDelays: null,
            onError: reject,
            onSuccess: () => resolve(),
          });
          up.start();
        }),
    },
  },
];

/** The audit entry and the webhook event an operation must make. */
function expected(op: Op, n: Names): { event: string; hook?: string; path: string; target: string } {
  const server = (p: string) => HOME + p;
  switch (op) {
    case 'mkdir':
      return { event: 'file.mkdir', hook: 'mkdir', path: server(n.dir), target: server(n.dir) };
    case 'upload':
      return { event: 'file.upload', hook: 'upload', path: server(n.a), target: server(n.a) };
    case 'copy':
      return { event: 'file.copy', hook: 'copy', path: server(n.a), target: server(n.b) };
    case 'move':
      return { event: 'file.move', hook: 'move', path: server(n.a), target: server(n.c) };
    case 'delete':
      return { event: 'file.delete', hook: 'delete', path: server(n.c), target: server(n.c) };
  }
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      hooked.push(JSON.parse(body) as Hooked);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  s = await startSftpServer({ webhookRetryDelayMs: 40 });
  fay = await sshUser(s, 'fay', { home: HOME, password: 'fay-password-1' });
  token = (await tokenFor(s.t, 'fay')).token;
  const started = await fetch(`${s.t.url}/api/v1/auth/session`, json({ user: 'fay', password: 'fay-password-1' }));
  expect(started.status).toBe(201);
  session = ((await started.json()) as WebSession).accessToken;
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  expect((await s.t.api('/api/v1/admin/webhooks', { method: 'POST', json: { url, events: ['upload', 'copy', 'move', 'delete', 'mkdir'] } })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await s?.close();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
});

describe('every front audits its file operations and fires the same webhook events', () => {
  describe.each(FRONTS)('$name', ({ name, front, ops }) => {
    const folder = '/' + name.toLowerCase().replace(/[^a-z]+/g, '-');
    const n: Names = { dir: folder, a: `${folder}/a.txt`, b: `${folder}/b.txt`, c: `${folder}/c.txt` };
    const order: Op[] = ['mkdir', 'upload', 'copy', 'move', 'delete'];
    it.each(order.filter((op) => ops[op] !== undefined))('%s', async (op) => {
      await ops[op]!(n);
      const want = expected(op, n);
      const entries = (await auditEvents(s.t, `user=fay&event=${want.event}`)).filter((e) => e.path === want.path && e.front === front);
      expect(entries, `${name} ${op}: ${want.event} ${want.path}`).toHaveLength(1);
      expect(entries[0]).toMatchObject({ ok: true, user: 'fay', ip: '127.0.0.1', front, path: want.path, target: want.target });
      if (want.hook === undefined) return;
      await expect
        .poll(() => hooked.filter((h) => h.event === want.hook && h.path === want.path && h.front === front), { timeout: 15_000 })
        .toEqual([expect.objectContaining({ action: want.event, user: 'fay', ip: '127.0.0.1' })]);
    });
  });

  it('`admin audit --event mkdir` finds the folders every front made', async () => {
    const made = FRONTS.filter((f) => f.ops.mkdir !== undefined).map((f) => HOME + '/' + f.name.toLowerCase().replace(/[^a-z]+/g, '-'));
    expect(made).toHaveLength(4);
    const found = (await auditEvents(s.t, 'user=fay&event=mkdir')).map((e) => e.path);
    for (const path of made) expect(found).toContain(path);
  });
});
