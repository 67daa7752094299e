/**
 * Names that others are shown: a share link's name (the heading of a folder link's and a
 * drop box's page, for anyone with the link) and a token's name (an admin's listings). A
 * direction control made `Payroll\u202efdp.exe` show as `Payrollexe.pdf` on the drop box's
 * page; a newline or an ESC sequence starts another line or colour in a terminal. New ones
 * are refused with `400 FERRY_ERR_VALIDATION` naming the character; right-to-left text and
 * its marks (U+200F) are names like any other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';

let t: TestServer;
let token: string;

const BAD: Array<[string, string]> = [
  ['Payroll\u202efdp.exe', 'U+202E'],
  ['a\u2066b', 'U+2066'],
  ['two\nlines', 'U+000A'],
  ['red \u001b[31mtext', 'U+001B'],
  ['c1 \u009bcontrol', 'U+009B'],
];

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'rana', { password: 'rana-password-1' });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'rana', password: 'rana-password-1' }) });
  token = ((await login.json()) as { token: string }).token;
  const mk = await t.api('/api/v1/mkdir/inbox', { method: 'POST', token });
  expect(mk.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await t?.close();
});

async function post(path: string, json: unknown): Promise<{ status: number; body: { error?: { code: string; message: string; details?: { char?: string } }; name?: string } }> {
  const r = await t.api(path, { method: 'POST', json, token });
  return { status: r.status, body: (await r.json()) as never };
}

describe('names shown to others', () => {
  it('a share link\'s and a token\'s name with a control character are refused, saying which', async () => {
    for (const [name, char] of BAD) {
      for (const [path, json] of [
        ['/api/v1/shares', { path: '/inbox', kind: 'upload', name }],
        ['/api/v1/shares', { path: '/inbox', name }],
        ['/api/v1/tokens', { name }],
      ] as const) {
        const r = await post(path, json);
        expect([r.status, r.body.error?.code, r.body.error?.details?.char], `${path} ${JSON.stringify(name)}`).toEqual([400, 'FERRY_ERR_VALIDATION', char]);
        expect(r.body.error?.message).toContain(char);
      }
      const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'rana', password: 'rana-password-1', tokenName: name }) });
      expect(login.status, `login tokenName ${JSON.stringify(name)}`).toBe(400);
    }
    // Nothing was made.
    const shares = (await (await t.api('/api/v1/shares', { token })).json()) as { shares?: unknown[] } | unknown[];
    expect(Array.isArray(shares) ? shares : shares.shares).toEqual([]);
  });

  it('right-to-left text and its marks are names like any other', async () => {
    for (const name of ['\u05d3\u05d5\u05d7 \u05e9\u05e0\u05ea\u05d9', '\u062a\u0642\u0631\u064a\u0631\u200f 2026', 'caf\u00e9 \u2014 \u201cnotes\u201d']) {
      const s = await post('/api/v1/shares', { path: '/inbox', kind: 'upload', name });
      expect([s.status, s.body.name]).toEqual([201, name]);
      const k = await post('/api/v1/tokens', { name });
      expect([k.status, k.body.name]).toEqual([201, name]);
    }
  });
});
