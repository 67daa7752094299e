/**
 * S3 answering errors, through a small proxy in front of s3rver that answers chosen requests
 * with a 503 SlowDown or a 500 InternalError, resets their connection, or never answers them.
 * `ferry copy` and `ferry sync` to an `s3:` remote: transient errors are retried (the AWS
 * SDK's retry, `maxAttempts`, default 3) and the run succeeds; persistent ones fail naming the
 * store and the key, nothing half-written is visible, and `sync` deletes nothing after an
 * error; a request S3 stops answering ends after `idleTimeoutMs` instead of hanging.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { startServer } from '../helpers/server.js';
import { tempDir } from '../helpers/files.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';

type Fault = 'slowdown' | 'internal' | 'reset' | 'stall';
interface Rule {
  method: string;
  path: RegExp;
  fault: Fault;
  /** How many matching requests get the fault (Infinity: every one). */
  times: number;
}

/** The proxy: forwards to s3rver unless a rule matches; logs `METHOD path` of every request. */
class S3FaultProxy {
  readonly log: string[] = [];
  rules: Rule[] = [];
  private readonly sockets = new Set<Socket>();
  private server!: Server;
  endpoint = '';

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    this.log.push(`${req.method} ${path}`);
    const rule = this.rules.find((r) => r.times > 0 && r.method === req.method && r.path.test(path));
    if (rule) {
      rule.times--;
      // The request's body is read (and dropped) first, as a real server would.
      req.resume();
      req.once('end', () => this.act(rule.fault, req, res));
      return;
    }
    const out = httpRequest(`${this.target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  }

  private act(fault: Fault, req: IncomingMessage, res: ServerResponse): void {
    if (fault === 'reset') req.socket.resetAndDestroy();
    else if (fault === 'stall') return; // never answered; stop() ends the connection
    else {
      const [status, code] = fault === 'slowdown' ? [503, 'SlowDown'] : [500, 'InternalError'];
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected by the test</Message><RequestId>test</RequestId></Error>`;
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }
  }
}

let s3: S3rverHandle;
let proxy: S3FaultProxy;
let tmp: { path: string; cleanup: () => Promise<void> };
let direct: S3Client;
const BUCKET = 'ferry-faults';

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'; // the SDK's Node 20 notice, from the client below
  s3 = await startS3rver([BUCKET]);
  proxy = new S3FaultProxy(s3.endpoint);
  await proxy.start();
  tmp = await tempDir('ferry-s3-faults-');
  const { endpoint, forcePathStyle, region, accessKeyId, secretAccessKey } = s3.options;
  direct = new S3Client({ endpoint, forcePathStyle, region, credentials: { accessKeyId, secretAccessKey } });
});
afterAll(async () => {
  direct?.destroy();
  await proxy?.stop();
  await s3?.stop();
  await tmp?.cleanup();
});
beforeEach(() => {
  proxy.rules = [];
  proxy.log.length = 0;
});

/** The CLI with the `s3:` remote going through the proxy; `extra` adds FERRY_S3_* options. */
function ferry(args: string[], extra: Record<string, string> = {}) {
  return runFerry(args, {
    env: {
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: proxy.endpoint,
      HOME: tmp.path,
      FERRY_CONFIG: join(tmp.path, 'config.json'),
      ...extra,
    },
    timeoutMs: 90_000,
  });
}

/** The keys under `prefix`, asked of s3rver itself (not through the proxy). */
async function keys(prefix: string): Promise<string[]> {
  const r = await direct.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key!).sort();
}

async function tree(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(tmp.path, name);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

describe('ferry copy and sync to an s3: remote whose S3 answers errors', () => {
  it('transient errors (503 SlowDown, 500, a reset connection) are retried and the copy succeeds', async () => {
    const src = await tree('transient', { 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c' });
    proxy.rules = [
      { method: 'PUT', path: /\/transient\/a\.txt$/, fault: 'slowdown', times: 2 },
      { method: 'PUT', path: /\/transient\/b\.txt$/, fault: 'internal', times: 1 },
      { method: 'PUT', path: /\/transient\/c\.txt$/, fault: 'reset', times: 1 },
    ];
    const r = await ferry(['copy', src, `s3:${BUCKET}/transient`]);
    expect([r.code, r.stderr]).toEqual([0, expect.stringMatching(/transferred 3 files/)]);
    expect(await keys('transient/')).toEqual(['transient/a.txt', 'transient/b.txt', 'transient/c.txt']);
    // The SDK's own retry: three attempts for a.txt (maxAttempts 3), two for the others.
    const puts = (name: string) => proxy.log.filter((l) => l === `PUT /${BUCKET}/transient/${name}`).length;
    expect([puts('a.txt'), puts('b.txt'), puts('c.txt')]).toEqual([3, 2, 2]);
  });

  it('a persistent error fails the file, naming the store and the key; nothing of it is stored, the other files are', async () => {
    const src = await tree('persistent', { 'bad.txt': 'never stored', 'good.txt': 'stored' });
    proxy.rules = [{ method: 'PUT', path: /\/persistent\/bad\.txt$/, fault: 'internal', times: Infinity }];
    const r = await ferry(['copy', '--retries', '0', src, `s3:${BUCKET}/persistent`]);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(70);
    expect(r.stderr).toContain('bad.txt');
    expect(r.stderr).toMatch(/InternalError/);
    expect(r.stderr).toContain(`s3:${BUCKET}/persistent/bad.txt: InternalError`);
    expect(await keys('persistent/')).toEqual(['persistent/good.txt']);
  });

  it('sync deletes nothing on the S3 side after an error', async () => {
    const first = await tree('mirror', { 'keep.txt': 'keep', 'old.txt': 'old' });
    expect((await ferry(['sync', first, `s3:${BUCKET}/mirror`])).code).toBe(0);
    const src = await tree('mirror2', { 'keep.txt': 'keep', 'new.txt': 'new' });
    proxy.rules = [{ method: 'PUT', path: /\/mirror\/new\.txt$/, fault: 'slowdown', times: Infinity }];
    const r = await ferry(['sync', '--retries', '0', src, `s3:${BUCKET}/mirror`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not deleting 1 file because 1 error happened/);
    expect(await keys('mirror/')).toEqual(['mirror/keep.txt', 'mirror/old.txt']);
  });

  it('a request S3 never answers ends after idleTimeoutMs and is retried: the copy succeeds', async () => {
    const src = await tree('stalled', { 'slow.txt': 'stalled once' });
    proxy.rules = [{ method: 'PUT', path: /\/stalled\/slow\.txt$/, fault: 'stall', times: 1 }];
    const r = await ferry(['copy', src, `s3:${BUCKET}/stalled`], { FERRY_S3_IDLE_TIMEOUT_MS: '1000' });
    expect([r.code, r.stderr]).toEqual([0, expect.stringMatching(/transferred 1 file/)]);
    expect(proxy.log.filter((l) => l === `PUT /${BUCKET}/stalled/slow.txt`).length).toBe(2);
    expect(await keys('stalled/')).toEqual(['stalled/slow.txt']);
  });

  it('a request S3 never answers, every time: the copy fails with a timeout naming the key, no hang', async () => {
    const src = await tree('dead', { 'gone.txt': 'never answered' });
    proxy.rules = [{ method: 'PUT', path: /\/dead\/gone\.txt$/, fault: 'stall', times: Infinity }];
    const r = await ferry(['copy', '--retries', '0', src, `s3:${BUCKET}/dead`], { FERRY_S3_IDLE_TIMEOUT_MS: '1000', FERRY_S3_MAX_ATTEMPTS: '2' });
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(70);
    expect(r.stderr).toContain(`s3:${BUCKET}/dead/gone.txt`);
    expect(r.stderr).toMatch(/timed out|TimeoutError/);
    expect(await keys('dead/')).toEqual([]);
  });
});

describe('ferry serve --store s3: whose S3 answers errors', () => {
  async function withServer(
    prefix: string,
    fn: (put: (src: string, dst: string, ...flags: string[]) => ReturnType<typeof runFerry>, env: Record<string, string>, log: () => string) => Promise<void>,
  ): Promise<void> {
    const dataDir = join(tmp.path, `data-${prefix}`);
    await mkdir(dataDir);
    const o = s3.options;
    const store = `s3:${BUCKET}/${prefix}?endpoint=${encodeURIComponent(proxy.endpoint)}&forcePathStyle=true&accessKeyId=${o.accessKeyId}&secretAccessKey=${o.secretAccessKey}&region=${o.region}`;
    const node = await startServer({ dataDir, extraArgs: ['--store', store] });
    const env = { HOME: tmp.path, FERRY_CONFIG: join(tmp.path, 'config.json'), FERRY_SERVER: node.url, FERRY_TOKEN: node.adminToken };
    try {
      await fn((src, dst, ...flags) => runFerry(['put', '-q', ...flags, src, dst], { env, timeoutMs: 90_000 }), env, node.output);
      expect(node.process.exitCode).toBeNull();
    } finally {
      await node.stop();
    }
  }

  it('transient S3 errors on the chunk writes are retried: the upload succeeds, whole', async () => {
    await withServer('srv-transient', async (put, env) => {
      const file = join(tmp.path, 'srv-a.bin');
      await writeFile(file, Buffer.alloc(3 * 1024 * 1024, 7));
      proxy.rules = [
        { method: 'PUT', path: new RegExp(`^/${BUCKET}/srv-transient/`), fault: 'slowdown', times: 1 },
        { method: 'PUT', path: new RegExp(`^/${BUCKET}/srv-transient/`), fault: 'reset', times: 1 },
      ];
      expect((await put(file, '/a.bin')).code).toBe(0);
      expect(proxy.rules.map((r) => r.times)).toEqual([0, 0]);
      const back = await runFerry(['cat', '/a.bin'], { env });
      expect(back.stdoutBytes.equals(Buffer.alloc(3 * 1024 * 1024, 7))).toBe(true);
    });
  });

  it('S3 refusing every chunk write: the upload fails with a clear error, and no file appears', async () => {
    await withServer('srv-down', async (put, env, log) => {
      const file = join(tmp.path, 'srv-b.bin');
      await writeFile(file, Buffer.alloc(1024 * 1024, 9));
      proxy.rules = [{ method: 'PUT', path: new RegExp(`^/${BUCKET}/srv-down/`), fault: 'internal', times: Infinity }];
      const r = await put(file, '/b.bin', '--retries', '0');
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBe(70);
      expect(r.stderr).toMatch(/a storage service behind the server failed or did not answer \(request [0-9a-f]+; the details are in the server's log\)/);
      // The server's log names the store and the key.
      expect(log()).toContain(`s3:${BUCKET}/srv-down/`);
      proxy.rules = [];
      const ls = await runFerry(['ls', '/'], { env });
      expect([ls.code, ls.stdout]).toEqual([0, '']);
      expect((await runFerry(['stat', '/b.bin'], { env })).code).toBe(3);
    });
  });
});

