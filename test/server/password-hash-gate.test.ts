/**
 * Password hashes (scrypt: 64 MiB and about 0.2 s each at the default cost) run one at a
 * time in the server, the parties waiting served in turn. Share links with passwords were
 * hashed as they came: one user's 120 requests at once ran 16 hashes at a time on the thread
 * pool (the server at 1.09 GB), and another user's download of a small file waited 51 s. Here
 * scrypt is held until the test lets each hash go: at most one runs at once, and a second
 * user's request, sent after 30 of the first user's wait, is served after at most one of them.
 *
 * Parties were served in turn, and a share link's visitor is a party per address (an IPv6
 * /64): a client holding a /48 queued one hash from each of its /64s, each ahead of everyone
 * else's, and the queue had no bound. Now blocks (a /48) are served in turn, then parties in
 * them, and a block may have 32 waiting: more are refused at once (429, Retry-After).
 */
import { connect } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const held = vi.hoisted(() => ({ running: 0, peak: 0, started: 0, pending: [] as Array<() => void>, passwords: [] as string[] }));
vi.mock('node:crypto', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:crypto')>();
  // Each hash runs for real once the test releases it.
  const scrypt = (...args: unknown[]) => {
    const cb = args[args.length - 1] as (err: Error | null, key: Buffer) => void;
    held.running++;
    held.started++;
    held.passwords.push(String(args[0]));
    held.peak = Math.max(held.peak, held.running);
    held.pending.push(() =>
      (orig.scrypt as (...a: unknown[]) => void)(...args.slice(0, -1), (err: Error | null, key: Buffer) => {
        held.running--;
        cb(err, key);
      }),
    );
  };
  return { ...orig, default: { ...orig, scrypt }, scrypt };
});

const { passwordHashes, SCRYPT_AT_ONCE } = await import('../../src/server/passwords.js');
const { startTestServer } = await import('../helpers/in-process-server.js');
const { addUser, tokenFor } = await import('../helpers/users.js');
const { DEFAULT_DEFENDER } = await import('../../src/server/defender.js');
type TestServer = Awaited<ReturnType<typeof startTestServer>>;

let t: TestServer;

/** Resolves once `cond` holds, looking again after each turn of the event loop. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setImmediate(r));
}

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'ann');
  await addUser(t, 'bea');
});
afterAll(async () => {
  // Whatever is still held goes, so that the server can close.
  const drain = setInterval(() => held.pending.splice(0).forEach((go) => go()), 5);
  await t?.close();
  clearInterval(drain);
});

describe('password hashes', () => {
  it("run one at a time, another user's between one user's many", async () => {
    const ann = (await tokenFor(t, 'ann')).token;
    const bea = (await tokenFor(t, 'bea')).token;
    for (const [who, token] of [['ann', ann], ['bea', bea]]) {
      expect((await t.api(`/api/v1/files/${who}.txt`, { method: 'PUT', body: who, token })).status).toBe(201);
    }
    const done: string[] = [];
    const share = (who: string, token: string) =>
      t.api('/api/v1/shares', { method: 'POST', json: { path: `/${who}.txt`, password: 'a password of theirs' }, token }).then((res) => {
        expect(res.status).toBe(201);
        done.push(who);
      });
    const anns = Array.from({ length: 31 }, () => share('ann', ann));
    await until(() => held.started === 1 && passwordHashes.queued === 30);
    const beas = share('bea', bea);
    await until(() => passwordHashes.queued === 31);
    while (done.length < 32) {
      await until(() => held.pending.length > 0 || done.length === 32);
      held.pending.shift()?.();
    }
    await Promise.all([...anns, beas]);
    expect(held.peak).toBe(SCRYPT_AT_ONCE);
    expect(SCRYPT_AT_ONCE).toBe(1);
    // The one running, then one more of ann's at most, then bea's.
    expect(done.indexOf('bea')).toBeLessThanOrEqual(2);
  });
});

describe('password hashes of a share link, flooded from one /48', () => {
  let u: TestServer;
  beforeAll(async () => {
    u = await startTestServer({
      trustProxy: ['127.0.0.0/8'],
      defender: { ...DEFAULT_DEFENDER, safeList: [] },
      // The gate alone: the link's own budget of wrong passwords would refuse the flood sooner.
      rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 0, sharePasswordPerLink: 0 },
    });
    await addUser(u, 'cat');
  });
  afterAll(async () => {
    const drain = setInterval(() => held.pending.splice(0).forEach((go) => go()), 5);
    await u?.close();
    clearInterval(drain);
  });

  it("refuse a block's requests past its bound at once, and serve another block's after at most one of them", async () => {
    const cat = (await tokenFor(u, 'cat')).token;
    expect((await u.api('/api/v1/files/cat.txt', { method: 'PUT', body: 'meow', token: cat })).status).toBe(201);
    const made = u.api('/api/v1/shares', { method: 'POST', json: { path: '/cat.txt', password: 'the right one' }, token: cat });
    await until(() => held.pending.length > 0);
    held.pending.shift()!();
    const { url } = (await (await made).json()) as { url: string };
    const key = new URL(url).pathname;
    const started = held.started;
    const visit = (from: string, password: string) =>
      fetch(`${u.url}${key}`, { headers: { 'x-forwarded-for': from, authorization: `Basic ${Buffer.from(`:${password}`).toString('base64')}` } });
    const done: string[] = [];
    const answers: Response[] = [];
    // 40 addresses of one /48, each in a /64 of its own: one hash runs, 32 wait, 7 are refused.
    const flood = Array.from({ length: 40 }, (_, i) =>
      visit(`2001:db8:aaaa:${(i + 1).toString(16)}::1`, 'wrong').then((res) => {
        answers.push(res);
        done.push('flood');
      }),
    );
    await until(() => held.started === started + 1 && passwordHashes.queued === 32 && answers.length === 7);
    for (const res of answers) {
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_RATE_LIMITED');
    }
    const visitor = visit('2001:db8:bbbb:1::1', 'the right one').then((res) => {
      expect(res.status).toBe(200);
      done.push('visitor');
    });
    await until(() => passwordHashes.queued === 33);
    while (done.length < 41) {
      await until(() => held.pending.length > 0 || done.length === 41);
      held.pending.shift()?.();
    }
    await Promise.all([...flood, visitor]);
    expect(answers.filter((r) => r.status === 401)).toHaveLength(33);
    // The hash running, then one more of the /48's at most, then the visitor's.
    expect(held.passwords.slice(started).indexOf('the right one')).toBeLessThanOrEqual(2);
  });
  it('a queue full of a few blocks makes room for another block: the largest gives up its newest request', async () => {
    const cat = (await tokenFor(u, 'cat')).token;
    expect((await u.api('/api/v1/files/cat2.txt', { method: 'PUT', body: 'purr', token: cat })).status).toBe(201);
    const made = u.api('/api/v1/shares', { method: 'POST', json: { path: '/cat2.txt', password: 'the right one' }, token: cat });
    await until(() => held.pending.length > 0);
    held.pending.shift()!();
    const { url } = (await (await made).json()) as { url: string };
    const key = new URL(url).pathname;
    const started = held.started;
    // A block's connections come from a loopback address of their own (the server holds at most
    // 120 open from one address), through the proxy the server trusts (127.0.0.0/8).
    const from = (localAddress: string) =>
      new Agent({
        connect: (o, cb) => {
          const socket = connect({ host: o.hostname, port: Number(o.port), localAddress });
          socket.once('connect', () => cb(null, socket));
          socket.once('error', (err) => cb(err, null));
        },
      });
    const agents = Array.from({ length: 9 }, (_, i) => from(`127.0.0.${10 + i}`));
    const visit = (from: string, password: string, through: number) =>
      undiciFetch(`${u.url}${key}`, { dispatcher: agents[through], headers: { 'x-forwarded-for': from, authorization: `Basic ${Buffer.from(`:${password}`).toString('base64')}` } });
    // 8 blocks (/48s) of 32 addresses each, and one more: one hash runs, 256 wait (the bound).
    const statuses: number[] = [];
    const flood = Array.from({ length: 257 }, (_, i) =>
      visit(`2001:db8:${(0xa0 + (i % 8)).toString(16)}:${(Math.floor(i / 8) + 1).toString(16)}::1`, 'wrong', i % 8).then((res) => {
        statuses.push(res.status);
      }),
    );
    await until(() => held.started === started + 1 && passwordHashes.queued === 256);
    // Another address's visit waits its turn (it was refused at once: 429 for the server).
    let visitorStatus = 0;
    const visitor = visit('2001:db8:bbbb:1::1', 'the right one', 8).then((res) => {
      visitorStatus = res.status;
    });
    await until(() => statuses.length === 1 || visitorStatus !== 0);
    expect(visitorStatus).toBe(0);
    expect(statuses).toEqual([429]);
    expect(passwordHashes.queued).toBe(256);
    while (statuses.length < 257 || visitorStatus === 0) {
      await until(() => held.pending.length > 0 || (statuses.length === 257 && visitorStatus !== 0));
      held.pending.shift()?.();
    }
    await Promise.all([...flood, visitor]);
    expect(visitorStatus).toBe(200);
    expect(statuses.filter((x) => x === 401)).toHaveLength(256);
    // Blocks in turn: the visitor's hash came after at most one of each of the 8 blocks' (and the one running).
    expect(held.passwords.slice(started).indexOf('the right one')).toBeLessThanOrEqual(9);
    await Promise.all(agents.map((a) => a.close()));
  });
});
