import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../core/errors.js';
import { LocalBackend } from '../backends/local/local-backend.js';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { BackendRegistry, envName } from '../backends/registry.js';
import type { BackendDefinition } from '../backends/definition.js';
import { BACKENDS, defaultRegistry, openBackend, parseRemote, redactOptions, redactRemote } from './index.js';

function thrown(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FerryError);
    return err as FerryError;
  }
  throw new Error('expected a throw');
}

describe('parseRemote', () => {
  it('takes paths for local directories', () => {
    for (const spec of ['./dir', '/abs/dir', 'dir', 'a b/c d', '../up', '.', './a:b', '/x/y:z', 'C:\\Users\\x']) {
      expect(parseRemote(spec), spec).toEqual({ type: 'local', options: { root: spec } });
    }
    expect(parseRemote('~/photos')).toEqual({ type: 'local', options: { root: path.join(homedir(), 'photos') } });
    expect(parseRemote('local:/srv/data')).toEqual({ type: 'local', options: { root: '/srv/data' } });
  });

  it('takes memory:name for memory stores, case-insensitively in the type', () => {
    expect(parseRemote('memory:scratch')).toEqual({ type: 'memory', options: { name: 'scratch' } });
    expect(parseRemote('Memory:scratch')).toEqual({ type: 'memory', options: { name: 'scratch' } });
    expect(parseRemote('memory:')).toEqual({ type: 'memory', options: { name: '' } });
    expect(thrown(() => parseRemote('memory:a/b')).code).toBe('FERRY_ERR_CONFIG');
  });

  it('ferry: is a type like the others (the composition root lists it)', () => {
    expect(parseRemote('ferry:/photos')).toEqual({ type: 'ferry', options: { path: '/photos' } });
    expect(parseRemote('ferry://nas:7373/x/y')).toEqual({ type: 'ferry', options: { server: 'http://nas:7373', path: '/x/y' } });
    expect(parseRemote('ferry:')).toEqual({ type: 'ferry', options: { path: '/' } });
    expect(thrown(() => defaultRegistry.checkRemoteName('ferry')).code).toBe('FERRY_ERR_CONFIG');
  });

  it('takes s3:bucket/prefix and sftp://user:password@host:port/path', () => {
    expect(parseRemote('s3:pics')).toEqual({ type: 's3', options: { bucket: 'pics' } });
    expect(parseRemote('s3:pics/2024//summer/')).toEqual({ type: 's3', options: { bucket: 'pics', prefix: '2024/summer' } });
    expect(thrown(() => parseRemote('s3:')).code).toBe('FERRY_ERR_CONFIG');
    expect(parseRemote('sftp://alice:p%40ss@nas.local:2222/srv/ferry')).toEqual({
      type: 'sftp',
      options: { host: 'nas.local', user: 'alice', password: 'p@ss', port: 2222, root: '/srv/ferry' },
    });
    expect(parseRemote('sftp://nas.local')).toEqual({ type: 'sftp', options: { host: 'nas.local' } });
    expect(parseRemote('sftp://bob@[::1]/~/backup')).toEqual({ type: 'sftp', options: { host: '::1', user: 'bob', root: 'backup' } });
    expect(thrown(() => parseRemote('sftp:nas')).code).toBe('FERRY_ERR_CONFIG');
    expect(parseRemote('channel:events')).toEqual({ type: 'channel', options: { name: 'events' } });
  });

  it('takes options after ?, percent-decoded, and keeps them out of redacted forms', () => {
    expect(parseRemote('s3:b/p?endpoint=http%3A%2F%2F127.0.0.1%3A9000&forcePathStyle=true&secretAccessKey=S3CRET')).toEqual({
      type: 's3',
      options: { bucket: 'b', prefix: 'p', endpoint: 'http://127.0.0.1:9000', forcePathStyle: 'true', secretAccessKey: 'S3CRET' },
    });
    expect(redactRemote('s3:b/p?secretAccessKey=S3CRET&region=eu')).toBe('s3:b/p?secretAccessKey=***&region=eu');
  });

  it('resolves NAME:path through configured remotes; types win over names', () => {
    const remotes = {
      photos: { type: 's3', options: { bucket: 'pics', region: 'eu-west-1' } },
      aws: { type: 's3', options: { region: 'us-east-2' } },
      nas: { type: 'sftp', options: { host: 'nas', root: '/srv' } },
      scratch: { type: 'memory', options: { name: 'x' } },
      s3: { type: 'memory', options: {} },
    };
    expect(parseRemote('photos:2024/x', { remotes })).toEqual({ type: 's3', options: { bucket: 'pics', region: 'eu-west-1', prefix: '2024/x' } });
    expect(parseRemote('photos:', { remotes })).toEqual({ type: 's3', options: { bucket: 'pics', region: 'eu-west-1' } });
    expect(parseRemote('aws:bkt/deep/er', { remotes })).toEqual({ type: 's3', options: { region: 'us-east-2', bucket: 'bkt', prefix: 'deep/er' } });
    expect(parseRemote('nas:backups', { remotes })).toEqual({ type: 'sftp', options: { host: 'nas', root: '/srv/backups' } });
    expect(parseRemote('photos:x?region=us-west-1', { remotes }).options.region).toBe('us-west-1');
    expect(thrown(() => parseRemote('scratch:sub', { remotes })).code).toBe('FERRY_ERR_CONFIG');
    expect(parseRemote('s3:real-bucket', { remotes }).type).toBe('s3');
    expect(thrown(() => parseRemote('unknown:x', { remotes })).code).toBe('FERRY_ERR_CONFIG');
  });

  it('fills options from FERRY_<TYPE>_<OPTION> when the string does not give them', async () => {
    expect(envName('s3', 'secretAccessKey')).toBe('FERRY_S3_SECRET_ACCESS_KEY');
    const env = { FERRY_MEMORY_DIRECTORIES: 'real', FERRY_MEMORY_NAME: 'from-env' };
    expect(defaultRegistry.envOptions('memory', env)).toEqual({ directories: 'real', name: 'from-env' });
    const b = await openBackend('memory:', { env: { FERRY_MEMORY_DIRECTORIES: 'real' } });
    expect(b.features().directories).toBe('real');
    const named = await openBackend({ type: 'memory', options: {} }, { env });
    expect(named.name).toBe('memory:from-env');
    MemoryBackend.forget('from-env');
  });

  it('remote names: two or more safe characters, never a backend type', () => {
    for (const good of ['photos', 'nas-1', 'my_bucket.eu']) defaultRegistry.checkRemoteName(good);
    for (const bad of ['x', 's3', 'S3', 'sftp', 'ferry', 'local', 'has space', 'a/b', '-x']) {
      expect(thrown(() => defaultRegistry.checkRemoteName(bad)).code, bad).toBe('FERRY_ERR_CONFIG');
    }
  });

  it('refuses unknown types and empty strings with FERRY_ERR_CONFIG, pointing at ./ for colons in paths', () => {
    const err = thrown(() => parseRemote('photos:2024'));
    expect(err.code).toBe('FERRY_ERR_CONFIG');
    expect(err.message).toContain('./photos:2024');
    expect(thrown(() => parseRemote('')).code).toBe('FERRY_ERR_CONFIG');
    expect(thrown(() => parseRemote('local:')).code).toBe('FERRY_ERR_CONFIG');
  });
});

describe('openBackend', () => {
  it('opens local directories and named memory stores', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-registry-'));
    try {
      const local = await openBackend(dir);
      expect(local).toBeInstanceOf(LocalBackend);
      await local.write('x', Buffer.from('local'));
      expect(await readFile(path.join(dir, 'x'), 'utf8')).toBe('local');

      const memory = await openBackend('memory:registry-test');
      await memory.write('k', Buffer.from('v'));
      expect((await MemoryBackend.named('registry-test').stat('k')).size).toBe(1);
      MemoryBackend.forget('registry-test');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('checks options against the schema: coerces strings, applies defaults, refuses the rest', async () => {
    const linked = (await openBackend({ type: 'local', options: { root: '/tmp/x', followSymlinks: 'yes' } })) as LocalBackend;
    expect(linked.followSymlinks).toBe(true);
    const plain = (await openBackend({ type: 'local', options: { root: '/tmp/x' } })) as LocalBackend;
    expect(plain.followSymlinks).toBe(false);
    const real = await openBackend({ type: 'memory', options: { directories: 'real' } });
    expect(real.features().directories).toBe('real');
    for (const options of [{}, { root: '/tmp/x', follow: true }, { root: 42 }, { root: '/tmp/x', followSymlinks: 'maybe' }]) {
      await expect(openBackend({ type: 'local', options: options as never }), JSON.stringify(options)).rejects.toMatchObject({
        code: 'FERRY_ERR_CONFIG',
      });
    }
    await expect(openBackend({ type: 'memory', options: { directories: 'flat' } })).rejects.toMatchObject({ code: 'FERRY_ERR_CONFIG' });
    await expect(openBackend({ type: 's3', options: {} })).rejects.toMatchObject({ code: 'FERRY_ERR_CONFIG' });
    // The ferry type opens (no request is made until the backend is used).
    const ferry = await openBackend({ type: 'ferry', options: { server: 'http://127.0.0.1:9', token: 't', path: '/x' } });
    expect(ferry.name).toBe('ferry:http://127.0.0.1:9/x');
    expect(ferry.features().network).toBe(true);
    await ferry.close?.();
    await expect(openBackend({ type: 'nope', options: {} })).rejects.toMatchObject({ code: 'FERRY_ERR_CONFIG' });
  });

  it('every built-in type documents itself and its options', () => {
    expect(defaultRegistry.types().map((d) => d.type)).toEqual(['local', 'memory', 's3', 'sftp', 'channel', 'ferry']);
    expect(BACKENDS.map((d) => d.type)).toEqual(defaultRegistry.types().map((d) => d.type));
    for (const definition of BACKENDS) {
      expect(definition.description.length).toBeGreaterThan(0);
      for (const option of definition.options) expect(option.description.length, `${definition.type}.${option.name}`).toBeGreaterThan(0);
    }
  });
});

describe('registration and redaction', () => {
  const vault: BackendDefinition = {
    type: 'vault',
    description: 'a test type with a secret',
    options: [
      { name: 'host', type: 'string', required: true, description: 'where' },
      { name: 'apiSecret', type: 'string', secret: true, description: 'the secret' },
      { name: 'port', type: 'number', default: 443, description: 'port' },
    ],
    parseSpec: (rest) => ({ host: rest }),
    factory: (options) => {
      const b = new MemoryBackend();
      return Object.assign(b, { options });
    },
  };

  it('a registered type is parsed and opened through its definition; names are registered once', async () => {
    const registry = new BackendRegistry().register(vault);
    expect(registry.parseRemote('vault:example.org')).toEqual({ type: 'vault', options: { host: 'example.org' } });
    const opened = (await registry.open({ type: 'vault', options: { host: 'h', port: '8443' } })) as unknown as { options: unknown };
    expect(opened.options).toEqual({ host: 'h', port: 8443 });
    expect(thrown(() => registry.register(vault)).code).toBe('FERRY_ERR_CONFIG');
    expect(thrown(() => registry.register({ ...vault, type: 'Bad Name' })).code).toBe('FERRY_ERR_CONFIG');
  });

  it('secret option values never appear in errors or redacted options', async () => {
    const registry = new BackendRegistry().register(vault);
    const err = await registry.open({ type: 'vault', options: { host: 'h', apiSecret: 12345 } }).catch((e: FerryError) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).message).not.toContain('12345');
    expect(registry.redactOptions('vault', { host: 'h', apiSecret: 's3cr3t' })).toEqual({ host: 'h', apiSecret: '***' });
    // Unknown types: secret-looking names are hidden anyway.
    expect(redactOptions('future', { password: 'p', accessKeyId: 'k', secret_access_key: 's', region: 'eu' })).toEqual({
      password: '***',
      accessKeyId: '***',
      secret_access_key: '***',
      region: 'eu',
    });
  });

  it('redactRemote hides URL passwords and secret parameters, and leaves the rest alone', () => {
    expect(redactRemote('sftp://alice:hunter2@host:22/path')).toBe('sftp://alice:***@host:22/path');
    expect(redactRemote('sftp://alice@host:22/path')).toBe('sftp://alice@host:22/path');
    expect(redactRemote('s3:bucket/prefix?access_key_id=AKIA&secret_access_key=SECRET&region=eu-west-1')).toBe(
      's3:bucket/prefix?access_key_id=***&secret_access_key=***&region=eu-west-1',
    );
    expect(redactRemote('ferry:/photos?token=abc.def')).toBe('ferry:/photos?token=***');
    expect(redactRemote('s3,secret=x,region=y:bucket')).toBe('s3,secret=***,region=y:bucket');
    for (const plain of ['./photos', '/srv/a=b/c', 'memory:x', 's3:bucket/prefix']) expect(redactRemote(plain)).toBe(plain);
    const err = thrown(() => parseRemote('weird:thing?password=hunter2'));
    expect(err.message).not.toContain('hunter2');
  });
});
