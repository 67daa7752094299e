import { describe, expect, it } from 'vitest';
import { sftpPath } from './ferry-fs.js';

describe('sftpPath', () => {
  it('resolves . and .. by name, stopping at the home; ~ is the home', () => {
    expect(sftpPath('')).toBe('/');
    expect(sftpPath('.')).toBe('/');
    expect(sftpPath('a/./b/')).toBe('/a/b');
    expect(sftpPath('/a/b/../c')).toBe('/a/c');
    expect(sftpPath('/../../etc/passwd')).toBe('/etc/passwd');
    expect(sftpPath('../..')).toBe('/');
    expect(sftpPath('~')).toBe('/');
    expect(sftpPath('~/x')).toBe('/x');
    expect(sftpPath('~bob/x')).toBe('/~bob/x');
  });

  it('refuses what no Ferry path may hold', () => {
    expect(() => sftpPath('a\u0000b')).toThrow(/NUL/);
    expect(() => sftpPath('x\ny')).toThrow(/control/);
    expect(() => sftpPath('/' + 'a'.repeat(256))).toThrow(/longer than 255/);
  });
});
