import { describe, expect, it } from 'vitest';
import { isFerryError } from '../../core/errors.js';
import { evaluateIf, parseIfHeader, submittedTokens, type ResourceState } from './if-header.js';

const T = 'urn:uuid:1f0a-lock';
const ETAG = '"abc"';
const state = (over: Partial<ResourceState> = {}): (() => Promise<ResourceState>) => async () => ({ etag: ETAG, tokens: new Set([T]), ...over });

describe('If header', () => {
  it('parses untagged and tagged lists with Not, tokens and entity tags', () => {
    expect(parseIfHeader(`(<${T}> [${ETAG}]) (Not <DAV:no-lock> [W/"x"])`)).toEqual([
      { conditions: [{ not: false, token: T }, { not: false, etag: ETAG }] },
      { conditions: [{ not: true, token: 'DAV:no-lock' }, { not: false, etag: 'W/"x"' }] },
    ]);
    expect(parseIfHeader(`<http://h/dav/a> (<${T}>) <http://h/dav/b> (Not [${ETAG}])`)).toEqual([
      { resource: 'http://h/dav/a', conditions: [{ not: false, token: T }] },
      { resource: 'http://h/dav/b', conditions: [{ not: true, etag: ETAG }] },
    ]);
  });

  it('refuses what does not follow the grammar (400), a truncated header included', () => {
    for (const bad of ['', '<x>', '(', '()', '(<a>', '(Nope <a>)', '([abc])', `(<${T}>) <http://h/x> (<a>)`, `(<${T}> ["abc"]) (Not <DAV:no-lock> ["ab`]) {
      let err: unknown;
      try {
        parseIfHeader(bad);
      } catch (e) {
        err = e;
      }
      expect(isFerryError(err, 'FERRY_ERR_VALIDATION'), bad).toBe(true);
    }
  });

  it('holds when any list holds, a list when all its conditions do (litmus: Julian Reschke’s conditional PUTs)', async () => {
    const ok = (h: string, s = state()) => evaluateIf(parseIfHeader(h), s);
    expect(await ok(`(<${T}> [${ETAG}])`)).toBe(true);
    expect(await ok(`(<DAV:no-lock> [${ETAG}])`)).toBe(false);
    expect(await ok(`(<${T}>) (Not <DAV:no-lock>)`)).toBe(true);
    expect(await ok(`(<${T}x>) (Not <DAV:no-lock>)`)).toBe(true);
    expect(await ok(`(<${T}> ["abd"]) (Not <DAV:no-lock> ["abd"])`)).toBe(false);
    expect(await ok('(<DAV:no-lock>)', state({ tokens: new Set() }))).toBe(false);
    expect(await ok(`([${ETAG}])`, state({ etag: undefined }))).toBe(false);
    expect(await ok('(Not ["zzz"])')).toBe(true);
  });

  it('submits only the tokens named outside a Not', () => {
    expect([...submittedTokens(parseIfHeader(`(<${T}>) (Not <DAV:no-lock>) (Not <urn:not-mine>)`))]).toEqual([T]);
    expect([...submittedTokens(parseIfHeader(`<http://h/x> (<${T}>) <http://h/y> (<urn:other> [${ETAG}])`))]).toEqual([T, 'urn:other']);
  });

  it('asks for each tagged resource’s state once', async () => {
    const asked: (string | undefined)[] = [];
    await evaluateIf(parseIfHeader('<http://h/a> (["1"]) <http://h/a> (["2"]) <http://h/b> (["3"])'), async (r) => {
      asked.push(r);
      return { tokens: new Set() };
    });
    expect(asked).toEqual(['http://h/a', 'http://h/b']);
  });
});
