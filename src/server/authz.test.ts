import { describe, expect, it } from 'vitest';
import { PERMISSIONS, parsePermissions, type Permission } from '../core/permissions.js';
import { AlreadyExistsError, QuotaExceededError } from '../core/errors.js';
import { authorize, authorizeTree, can, permissionsAt, sortGrants, toServerPath, toUserPath, toUserText, type AuthContext } from './authz.js';

function ctx(over: Omit<Partial<AuthContext>, 'grants'> & { grants?: [string, string][] } = {}): AuthContext {
  const { grants, ...rest } = over;
  return {
    kind: 'token',
    userId: 'u1',
    userName: 'u',
    role: 'user',
    home: '/users/u',
    tokenId: 't',
    scopes: new Set<Permission>(PERMISSIONS),
    pathPrefix: null,
    limits: { quotaBytes: null, quotaFiles: null, maxFileSize: null, maxSessions: null },
    ...rest,
    grants: sortGrants((grants ?? [['/', 'list,read,write,delete,mkdir,share']]).map(([path, p]) => ({ path, perms: new Set(parsePermissions(p)) }))),
  };
}

describe('authorization', () => {
  it('the nearest grant decides; a deeper grant replaces, it does not add', () => {
    const a = ctx({ grants: [['/', 'list,read'], ['/in', 'write'], ['/in/deep', 'list']] });
    expect([...permissionsAt(a, '/x')]).toEqual(['list', 'read']);
    expect([...permissionsAt(a, '/in/file')]).toEqual(['write']);
    expect([...permissionsAt(a, '/in/deep/f')]).toEqual(['list']);
    expect([...permissionsAt(a, '/inbox')]).toEqual(['list', 'read']); // a sibling with a common prefix is not inside
  });

  it('intersects with the token scopes and its prefix', () => {
    const a = ctx({ scopes: new Set<Permission>(['read']), pathPrefix: '/docs' });
    expect(can(a, 'read', '/docs/a')).toBe(true);
    expect(can(a, 'list', '/docs/a')).toBe(false);
    expect(can(a, 'read', '/docsx')).toBe(false);
    expect(() => authorize(a, 'read', '/photos')).toThrow(/outside this token's path prefix/);
    expect(() => authorize(a, 'write', '/docs/a')).toThrow(/lacks the 'write' scope/);
  });

  it('maps paths into and out of the home', () => {
    const a = ctx();
    expect(authorize(a, 'read', '/a b/c')).toBe('/users/u/a b/c');
    expect(toServerPath(a, '/')).toBe('/users/u');
    expect(toUserPath(a, '/users/u')).toBe('/');
    expect(toUserPath(a, '/users/u/x')).toBe('/x');
    expect(() => toUserPath(a, '/users/uv/x')).toThrow();
  });

  it('tree operations need the permission at every grant inside the tree', () => {
    const a = ctx({ grants: [['/', 'list,read,write,delete'], ['/d/keep', 'list,read']] });
    expect(() => authorizeTree(a, 'delete', '/d')).toThrow(/no 'delete' permission on \/d\/keep/);
    expect(authorizeTree(a, 'delete', '/e')).toBe('/users/u/e');
    expect(authorizeTree(a, 'read', '/d')).toBe('/users/u/d');
  });

  it('the admin role holds everything in its home; the admin scope is still needed for admin routes', () => {
    const a = ctx({ role: 'admin', home: '/', grants: [] });
    expect(can(a, 'delete', '/anything')).toBe(true);
    const narrow = ctx({ role: 'admin', home: '/', grants: [], scopes: new Set<Permission>(['read']) });
    expect(can(narrow, 'delete', '/anything')).toBe(false);
  });
});

describe('toUserText', () => {
  it('names server paths inside the home as the user’s, and nothing else', () => {
    const a = ctx({ home: '/users/ana' });
    expect(toUserText(a, '/users/ana/x/y: not found')).toBe('/x/y: not found');
    expect(toUserText(a, '/users/ana: is the home')).toBe('/: is the home');
    expect(toUserText(a, 'cannot move /users/ana/a into itself (/users/ana/a/b)')).toBe('cannot move /a into itself (/a/b)');
    expect(toUserText(a, '"/users/ana/q" and path=/users/ana/r, /users/ana/s')).toBe('"/q" and path=/r, /s');
    // Only at the start of a path: a user's own folder named like a home stays as it is.
    expect(toUserText(a, '/users/ana/a/users/ana/b')).toBe('/a/users/ana/b');
    // Another home that merely starts the same is not this one.
    expect(toUserText(a, '/users/anabel/x and /users/ana.bak')).toBe('/users/anabel/x and /users/ana.bak');
    expect(toUserText(ctx({ home: '/' }), '/users/ana/x')).toBe('/users/ana/x');
  });
});


