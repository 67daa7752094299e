import { describe, expect, it } from 'vitest';
import { parseLocation, type BareMeaning } from './location.js';
import { defaultRegistry } from '../remotes/index.js';
import type { RemoteContext } from '../backends/definition.js';

const context: RemoteContext = {
  remotes: {
    work: { type: 'ferry', options: { server: 'https://work.example:7373', token: 'T0KEN' } },
    photos: { type: 's3', options: { bucket: 'pics' } },
    here: { type: 'local', options: { root: '/srv/here' } },
  },
  env: {},
};

type Want = { kind: string; path?: string; server?: string; type?: string; spec?: string };

const CASES: Array<[string, BareMeaning, Want]> = [
  ['/isos/big.iso', 'server', { kind: 'server', path: '/isos/big.iso', spec: 'ferry:/isos/big.iso' }],
  ['isos', 'server', { kind: 'server', path: '/isos', spec: 'ferry:/isos' }],
  ['/isos/big.iso', 'local', { kind: 'local', path: '/isos/big.iso' }],
  ['dir', 'local', { kind: 'local', path: 'dir' }],
  ['ferry:/x', 'server', { kind: 'server', path: '/x', server: undefined }],
  ['ferry:/x', 'local', { kind: 'server', path: '/x', server: undefined }],
  ['ferry:x/y', 'local', { kind: 'server', path: '/x/y' }],
  ['ferry://nas:7373/a', 'local', { kind: 'server', path: '/a', server: 'http://nas:7373' }],
  ['work:/shared/a', 'server', { kind: 'server', path: '/shared/a', server: 'https://work.example:7373' }],
  ['work:', 'server', { kind: 'server', path: '/', server: 'https://work.example:7373' }],
  ['photos:2024/summer', 'server', { kind: 'remote', type: 's3' }],
  ['s3:bucket/x', 'server', { kind: 'remote', type: 's3' }],
  ['memory:scratch', 'server', { kind: 'remote', type: 'memory' }],
  ['sftp://me@host:22/srv/x', 'server', { kind: 'remote', type: 'sftp' }],
  ['here:sub', 'server', { kind: 'local', path: '/srv/here/sub' }],
  ['local:/tmp/x', 'server', { kind: 'local', path: '/tmp/x' }],
  ['./a:b', 'server', { kind: 'local', path: './a:b' }],
  ['./dir', 'server', { kind: 'local', path: './dir' }],
  ['../dir', 'server', { kind: 'local', path: '../dir' }],
  ['~/dir', 'server', { kind: 'local', path: '~/dir' }],
  // What the shell makes of an unquoted ~/dir: a bare path (README, "Locations").
  [`${process.env.HOME ?? '/root'}/dir`, 'server', { kind: 'server' }],
  ['local:~/dir', 'server', { kind: 'local' }],
  ['C:\\Users\\me', 'server', { kind: 'local', path: 'C:\\Users\\me' }],
  ['C:\\', 'local', { kind: 'local', path: 'C:\\' }],
  ['/abs/a:b', 'local', { kind: 'local', path: '/abs/a:b' }],
];

describe('one location syntax', () => {
  for (const [arg, bare, want] of CASES) {
    it(`${arg} (bare paths: ${bare})`, () => {
      const got = parseLocation(arg, bare, defaultRegistry, context) as Record<string, unknown>;
      for (const [k, v] of Object.entries(want)) expect({ [k]: got[k] }).toEqual({ [k]: v });
    });
  }

  it('a token of a named Ferry remote comes with it, and never reaches the label', () => {
    const loc = parseLocation('work:/a', 'server', defaultRegistry, context);
    expect(loc).toMatchObject({ kind: 'server', token: 'T0KEN' });
    expect(loc.label).not.toContain('T0KEN');
    const typed = parseLocation('s3:bucket/x?secretAccessKey=S3CRET', 'server', defaultRegistry, context);
    expect(typed.label).not.toContain('S3CRET');
  });

  it('an unknown NAME: is an error naming the way to write a local path, never a path', () => {
    for (const arg of ['nope:/x', 'ferryy:/x', 'ab:c']) {
      expect(() => parseLocation(arg, 'server', defaultRegistry, context)).toThrow(expect.objectContaining({ code: 'FERRY_ERR_CONFIG' }));
    }
    expect(() => parseLocation('nope:/x', 'local', defaultRegistry, context)).toThrow(/\.\/nope:\/x/);
  });

  it('a:/x is a drive on Windows and refused elsewhere (no remote name has one letter), saying how to write the local folder', () => {
    const windows = { ...context, platform: 'win32' as const };
    for (const arg of ['c:/data', 'c:']) expect(parseLocation(arg, 'server', defaultRegistry, windows)).toMatchObject({ kind: 'local', path: arg });
    const linux = { ...context, platform: 'linux' as const };
    for (const [arg, bare] of [['a:/x', 'server'], ['a:/x', 'local'], ['a:', 'server'], ['Z:rel', 'local']] as const) {
      expect(() => parseLocation(arg, bare, defaultRegistry, linux)).toThrow(expect.objectContaining({ code: 'FERRY_ERR_CONFIG', details: { remote: arg[0] } }));
    }
    expect(() => parseLocation('a:/x', 'local', defaultRegistry, linux)).toThrow('no remote named a; `ferry remote ls` lists them, or write ./a:/x for a local folder');
    // The library's own parser (sync, copy, move, check, bisync open remotes with it) says the same.
    expect(() => defaultRegistry.parseRemote('a:/x', linux)).toThrow('no remote named a; `ferry remote ls` lists them, or write ./a:/x for a local folder');
    expect(defaultRegistry.parseRemote('C:\\dir', linux)).toMatchObject({ type: 'local' });
    expect(defaultRegistry.parseRemote('c:/dir', windows)).toMatchObject({ type: 'local' });
  });

  it("a web address (the server's, a share link) is an error that says how to name a server and fetch a link", () => {
    for (const arg of ['http://127.0.0.1:7373/isos', 'https://files.example.com/s/AbC', 'HTTPS://x/']) {
      expect(() => parseLocation(arg, 'server', defaultRegistry, context)).toThrow(expect.objectContaining({ code: 'FERRY_ERR_CONFIG' }));
    }
    expect(() => parseLocation('https://files.example.com/s/AbC', 'local', defaultRegistry, context)).toThrow(
      'https://files.example.com/s/AbC is a web address, not a location: a Ferry server\'s files are ferry:/path (the server of ferry login), NAME:/path (after ferry login URL --name NAME) or ferry://host:port/path (plain http); a share link (/s/…) is fetched with curl -OJ URL (a folder\'s as one zip: curl -OJ \'URL?zip=1\') or a browser',
    );
  });

  it('an empty location is a usage error', () => {
    expect(() => parseLocation('', 'server', defaultRegistry, context)).toThrow(expect.objectContaining({ code: 'FERRY_ERR_USAGE' }));
  });

  it('a bare server path is normalized and refused when invalid', () => {
    expect(parseLocation('/a//b/', 'server', defaultRegistry, context)).toMatchObject({ path: '/a/b' });
    expect(() => parseLocation('/a/../b', 'server', defaultRegistry, context)).toThrow(expect.objectContaining({ code: 'FERRY_ERR_PATH_INVALID' }));
  });
});
