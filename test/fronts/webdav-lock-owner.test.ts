/**
 * WebDAV locks in a folder two users share: bob's home is a folder inside alice's home. A
 * lock is refreshed without end (each refresh restarts its timeout, as in Apache's mod_dav),
 * so bob could refuse alice's WebDAV writes to her own folder for good. The rule
 * (src/server/dav/lock.ts): the owner of the place, a user whose home holds the holder's
 * whole home, may UNLOCK the holder's lock with its token (found in lockdiscovery), and that
 * is audited; the holder cannot do the same to the owner's lock, nor can anyone else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LOCK_SECONDS } from '../../src/server/dav/lock.js';
import { basic, dav, lockBody, multistatus, propfindNamed, type DavInit } from '../helpers/dav.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, auditEvents } from '../helpers/users.js';

let t: TestServer;
let clock = Date.now();
let bobId = '';

const as = (user: string) => (method: string, path: string, init: DavInit = {}) => dav(t.url, method, path, { auth: basic(user, `${user}-password-1`), ...init });
const alice = as('alice');
const bob = as('bob');
const carol = as('carol');
const erin = as('erin');
const tokenOf = (r: { headers: Record<string, unknown> }) => /^<(.+)>$/.exec(String(r.headers['lock-token']))![1];
const refresh = (who: typeof bob, path: string, token: string) => who('LOCK', path, { headers: { if: `(<${token}>)`, timeout: 'Second-3600' } });

beforeAll(async () => {
  t = await startTestServer({ now: () => clock });
  await addUser(t, 'alice', { password: 'alice-password-1' });
  bobId = (await addUser(t, 'bob', { password: 'bob-password-1', home: '/users/alice/team' })).id;
  // carol shares bob's home: a co-owner of it. erin's home is inside it: a guest of theirs.
  await addUser(t, 'carol', { password: 'carol-password-1', home: '/users/alice/team' });
  await addUser(t, 'erin', { password: 'erin-password-1', home: '/users/alice/team/erin' });
});
afterAll(async () => t?.close());

describe('WebDAV: a lock kept alive by refreshes, in a folder shared with its owner', () => {
  let held = '';

  it('refreshed hour after hour, the lock keeps refusing the owner’s writes', async () => {
    expect((await bob('PUT', '/dav/plan.txt', { body: 'bob v1' })).status).toBe(201);
    const lock = await bob('LOCK', '/dav/', { headers: { depth: 'infinity', timeout: 'Second-3600' }, body: lockBody('exclusive', 'bob') });
    expect(lock.status).toBe(200);
    held = tokenOf(lock);
    for (let hour = 0; hour < 5; hour++) {
      clock += (MAX_LOCK_SECONDS - 60) * 1000;
      expect((await refresh(bob, '/dav/', held)).status).toBe(200);
      const put = await alice('PUT', '/dav/team/plan.txt', { body: 'alice v2' });
      expect(put.status, put.text).toBe(423);
    }
    expect((await alice('GET', '/dav/team/plan.txt')).text).toBe('bob v1');
  });

  it('a user inside the holder’s home (a guest of it) cannot break the lock: 403, saying why', async () => {
    const r = await erin('UNLOCK', '/dav/', { headers: { 'lock-token': `<${held}>` } });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text).error).toMatchObject({ code: 'FERRY_ERR_FORBIDDEN', message: 'this lock belongs to another user, who is not inside your home: only they or an admin can unlock it' });
    expect((await refresh(bob, '/dav/', held)).status).toBe(200);
  });

  it('the owner finds the token in lockdiscovery and breaks the lock; the holder’s refresh then fails and the owner writes', async () => {
    const found = multistatus((await alice('PROPFIND', '/dav/team/plan.txt', { headers: { depth: '0' }, body: propfindNamed(['DAV:', 'lockdiscovery']) })).text)[0];
    expect(found.props.lockdiscovery.text).toContain(held);
    expect((await alice('UNLOCK', '/dav/team/plan.txt', { headers: { 'lock-token': `<${held}>` } })).status).toBe(204);
    expect((await refresh(bob, '/dav/', held)).status).toBe(412);
    expect((await alice('PUT', '/dav/team/plan.txt', { body: 'alice v2' })).status).toBe(204);
    expect((await bob('GET', '/dav/plan.txt')).text).toBe('alice v2');
    const events = await auditEvents(t, 'event=lock.break');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ ok: true, user: 'alice', front: 'webdav', target: '/users/alice/team', details: { token: held, holder: bobId, scope: 'exclusive' } });
  });

  it('the holder (and a co-owner of the holder’s home) cannot break the owner’s lock', async () => {
    const lock = await alice('LOCK', '/dav/team/plan.txt', { body: lockBody('exclusive', 'alice') });
    expect(lock.status).toBe(200);
    const hers = tokenOf(lock);
    for (const who of [bob, carol]) {
      const r = await who('UNLOCK', '/dav/plan.txt', { headers: { 'lock-token': `<${hers}>` } });
      expect(r.status).toBe(403);
      expect(JSON.parse(r.text).error.code).toBe('FERRY_ERR_FORBIDDEN');
    }
    expect((await bob('PUT', '/dav/plan.txt', { body: 'bob v3' })).status).toBe(423);
    expect((await alice('UNLOCK', '/dav/team/plan.txt', { headers: { 'lock-token': `<${hers}>` } })).status).toBe(204);
  });

  it('users of the same home are co-owners: either may break the other’s lock', async () => {
    const lock = await bob('LOCK', '/dav/plan.txt', { body: lockBody('exclusive', 'bob') });
    expect(lock.status).toBe(200);
    expect((await carol('PUT', '/dav/plan.txt', { body: 'carol' })).status).toBe(423);
    expect((await carol('UNLOCK', '/dav/plan.txt', { headers: { 'lock-token': `<${tokenOf(lock)}>` } })).status).toBe(204);
    expect((await carol('PUT', '/dav/plan.txt', { body: 'carol' })).status).toBe(204);
  });

  it('an admin may break any lock', async () => {
    const lock = await bob('LOCK', '/dav/plan.txt', { body: lockBody('exclusive', 'bob') });
    expect(lock.status).toBe(200);
    const r = await dav(t.url, 'UNLOCK', '/dav/users/alice/team/plan.txt', { auth: `Bearer ${t.token}`, headers: { 'lock-token': `<${tokenOf(lock)}>` } });
    expect(r.status, r.text).toBe(204);
    expect((await auditEvents(t, 'event=lock.break')).map((e) => e.user)).toEqual(['admin', 'carol', 'alice']);
  });
});
