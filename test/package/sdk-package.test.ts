/**
 * The SDK as another program gets it (issue 12): Ferry packed with `npm pack`, unpacked into a
 * separate test package's node_modules, and imported by name. `ferry/client` talks to a real
 * server and loads no server, database, AWS SDK or ssh2 module; `ferry` (the root) loads none
 * of Fastify, the AWS SDK or ssh2 either; every `exports` entry imports and has its types
 * (checked by tsc with Node's module resolution, as a TypeScript user compiles).
 *
 * Dependencies come from this checkout's node_modules (a symlink), so no registry is needed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const recorder = join(root, 'test/helpers/record-imports.mjs');
let app: string;
let server: TestServer;

const HEAVY = ['fastify', 'kysely', 'better-sqlite3', 'pg/', '@aws-sdk', '@smithy', 'ssh2', 'pino', 'prom-client', '/dist/src/server/', '/dist/src/store/'];

beforeAll(async () => {
  // Old versions kept, for docs/client.md's getVersionFile.
  server = await startTestServer({ versions: { keep: 5, days: 0, paths: {} } });
  app = mkdtempSync(join(tmpdir(), 'ferry-sdk-app-'));
  const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', app], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!;
  const pkg = join(app, 'node_modules', 'ferry');
  mkdirSync(pkg, { recursive: true });
  execFileSync('tar', ['-xzf', join(app, packed), '-C', pkg, '--strip-components=1']);
  symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'), 'dir');
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'sdk-user', type: 'module', private: true }));
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (app) rmSync(app, { recursive: true, force: true });
});

/**
 * Runs an ES module program in the test package; its stdout as JSON, and the modules it
 * loaded. Asynchronously: the server it talks to runs in this process.
 */
async function runInApp(program: string): Promise<{ out: Record<string, unknown>; loaded: string[] }> {
  const file = join(app, `prog-${Math.random().toString(36).slice(2)}.mjs`);
  const record = join(app, `imports-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(file, program);
  const { stdout: text } = await promisify(execFile)(process.execPath, ['--import', recorder, file], { cwd: app, encoding: 'utf8', env: { ...process.env, RECORD_IMPORTS_TO: record } });
  return { out: JSON.parse(text) as Record<string, unknown>, loaded: readFileSync(record, 'utf8').split('\n').filter(Boolean) };
}

describe('the SDK through the package name, from npm pack', () => {
  it('the tarball holds the built entries and no sources or tests', () => {
    const files = readdirSync(join(app, 'node_modules', 'ferry', 'dist', 'src'));
    expect(files).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'entry-server.js', 'client']));
    expect(readdirSync(join(app, 'node_modules', 'ferry'))).not.toContain('src');
  });

  it('ferry/client uploads, lists and downloads against a real server, loading no server, database, AWS SDK or ssh2', async () => {
    const { out, loaded } = await runInApp(`
      import { FerryClient } from 'ferry/client';
      import { Readable } from 'node:stream';
      const client = new FerryClient({ server: ${JSON.stringify(server.url)}, token: ${JSON.stringify(server.token)} });
      const put = await client.putStream(Readable.from([Buffer.from('hello from the packed SDK')]), '/sdk/hello.txt');
      const names = [];
      for await (const e of client.list('/sdk')) names.push(e.name);
      const chunks = [];
      const { Writable } = await import('node:stream');
      await client.getStream('/sdk/hello.txt', new Writable({ write(c, _e, cb) { chunks.push(c); cb(); } }));
      await client.close();
      process.stdout.write(JSON.stringify({ files: put.files, names, text: Buffer.concat(chunks).toString() }));
    `);
    expect(out).toEqual({ files: 1, names: ['hello.txt'], text: 'hello from the packed SDK' });
    expect(loaded.some((u) => u.includes('/node_modules/ferry/dist/src/client/'))).toBe(true); // the recorder sees the package
    expect(loaded.filter((u) => HEAVY.some((h) => u.includes(h)))).toEqual([]);
  });

  it('one style: client.put(source, path) of a path, bytes, text, a Node and a Web stream; client.get to a stream, a path, a WritableStream; namespaces; one progress shape with etaMs', async () => {
    const { out, loaded } = await runInApp(`
      import { FerryClient, FerryError, isFerryError } from 'ferry/client';
      import { Readable } from 'node:stream';
      import { writeFileSync, readFileSync, mkdtempSync, existsSync } from 'node:fs';
      import { join } from 'node:path';
      import { tmpdir } from 'node:os';
      const dir = mkdtempSync(join(tmpdir(), 'sdk-one-style-'));
      const client = new FerryClient({ server: ${JSON.stringify(server.url)}, token: ${JSON.stringify(server.token)} });
      const big = Buffer.alloc(3 * 1024 * 1024, 7);
      writeFileSync(join(dir, 'big.bin'), big);
      const progress = [];
      const r = {};
      r.path = (await client.put(join(dir, 'big.bin'), '/one/big.bin', { onProgress: (p) => progress.push(p) })).files;
      r.bytes = (await client.put(Buffer.from('bytes'), '/one/bytes.txt')).files;
      const { pathToFileURL } = await import('node:url');
      r.url = (await client.put(pathToFileURL(join(dir, 'big.bin')), '/one/url.bin')).files;
      r.urlString = (await client.put(pathToFileURL(join(dir, 'big.bin')).href, '/one/url2.bin')).files; // made a folder 'file:' before
      r.u8 = (await client.put(new Uint8Array([104, 105]), '/one/u8.txt')).files;
      r.text = (await client.put({ data: 'text ✓' }, '/one/text.txt')).files;
      r.node = (await client.put(Readable.from([Buffer.from('node '), Buffer.from('stream')]), '/one/node.txt')).files;
      r.web = (await client.put(new Blob(['web stream']).stream(), '/one/web.txt')).files;
      const read = async (s) => { const c = []; for await (const x of s) c.push(x); return Buffer.concat(c).toString(); };
      const got = {};
      for (const n of ['bytes', 'u8', 'text', 'node', 'web']) got[n] = await read(await client.get('/one/' + n + '.txt'));
      const getProgress = [];
      await client.get('/one/big.bin', join(dir, 'back.bin'), { onProgress: (p) => getProgress.push(p) });
      const same = readFileSync(join(dir, 'back.bin')).equals(big);
      process.chdir(dir);
      await client.get('/one/url2.bin', pathToFileURL(join(dir, 'url-back.bin')).href);
      const urlBack = readFileSync(join(dir, 'url-back.bin')).equals(big) && !existsSync(join(dir, 'file:'));
      const webChunks = [];
      await client.get('/one/text.txt', new WritableStream({ write(c) { webChunks.push(Buffer.from(c)); } }));
      let folder;
      try { await client.put(Buffer.from('x'), '/one'); } catch (e) { folder = e.message; }
      let missing;
      try { await client.get('/one/none.txt'); } catch (e) { missing = isFerryError(e, 'FERRY_ERR_NOT_FOUND') && e instanceof FerryError ? e.code : String(e); }
      const share = await client.shares.create({ path: '/one/text.txt' });
      const shares = (await client.shares.list()).map((s) => s.id);
      const tokens = (await client.tokens.list()).length;
      const me = (await client.account.me()).user;
      const files = (await client.admin.stats()).files;
      await client.shares.revoke(share.id);
      await client.close();
      const keys = (p) => Object.keys(p).sort().join(',');
      process.stdout.write(JSON.stringify({
        r, got, same, urlBack, web: Buffer.concat(webChunks).toString(), missing, folder,
        shared: shares.includes(share.id), tokens: tokens > 0, me, files,
        putShape: keys(progress.at(-1)), getShape: keys(getProgress.at(-1)),
        putDone: progress.at(-1).done && progress.at(-1).etaMs === 0 && progress.at(-1).bytesDone === big.length,
        getDone: getProgress.at(-1).done && getProgress.at(-1).etaMs === 0,
      }));
    `);
    expect(out).toMatchObject({
      r: { path: 1, bytes: 1, url: 1, urlString: 1, u8: 1, text: 1, node: 1, web: 1 },
      got: { bytes: 'bytes', u8: 'hi', text: 'text ✓', node: 'node stream', web: 'web stream' },
      same: true,
      urlBack: true,
      web: 'text ✓',
      missing: 'FERRY_ERR_NOT_FOUND',
      folder: '/one is a folder: bytes or a stream need a file name, such as /one/NAME', // was "stdin needs": the CLI's word
      shared: true,
      tokens: true,
      me: 'admin',
      putDone: true,
      getDone: true,
    });
    expect(out.files as number).toBeGreaterThanOrEqual(6);
    // One progress shape for put and get (the sync engine reports the same core/progress.ts shape).
    expect(out.putShape).toBe(out.getShape);
    expect(String(out.putShape).split(',')).toEqual(expect.arrayContaining(['bytesDone', 'bytesTotal', 'etaMs', 'filesDone', 'phase', 'rate', 'done']));
    expect(loaded.filter((u) => HEAVY.some((h) => u.includes(h)))).toEqual([]);
  });

  it('the first example of docs/client.md runs as written (fromConfig, putFile/putTree/putStream, getFile/getTree/getStream/listVersions/getVersionFile, noOverwrite, makeParents, an abortable get, list, stat, mkdir, move, copy, remove, tokens, users)', async () => {
    const { out } = await runInApp(`
      import { FerryClient, isFerryError } from 'ferry/client';
      import { Readable, Writable } from 'node:stream';
      import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
      import { join } from 'node:path';
      import { tmpdir } from 'node:os';
      process.chdir(mkdtempSync(join(tmpdir(), 'sdk-doc-')));
      process.env.FERRY_CONFIG_DIR = process.cwd();
      process.env.FERRY_SERVER = ${JSON.stringify(server.url)};
      process.env.FERRY_TOKEN = ${JSON.stringify(server.token)};
      const client = await FerryClient.fromConfig({});
      const iso = Buffer.alloc(2 * 1024 * 1024, 9);
      writeFileSync('big.iso', iso);
      mkdirSync('photos/sub', { recursive: true });
      writeFileSync('photos/a.jpg', 'a');
      writeFileSync('photos/sub/b.jpg', 'b');
      const r = {};
      const seen = [];
      r.putFile = (await client.putFile('./big.iso', '/doc/isos/big.iso', { onProgress: (p) => seen.push([p.bytesDone, p.rate]) })).files;
      r.progress = seen.length > 0 && seen.at(-1)[0] === iso.length;
      r.putTree = (await client.putTree('./photos', '/doc/backup/photos')).files;
      r.putStream = (await client.putStream(Readable.from([Buffer.from('dump v1')]), '/doc/backups/db.sql')).files;
      await client.putStream(Readable.from([Buffer.from('dump v2')]), '/doc/backups/db.sql');
      rmSync('big.iso');
      await client.getFile('/doc/isos/big.iso', './big.iso');
      r.getFile = readFileSync('big.iso').equals(iso);
      await client.getTree('/doc/backup/photos', './photos2');
      r.getTree = readdirSync('photos2', { recursive: true }).sort();
      try { await client.getFile('/doc/isos/big.iso', './big.iso', { noOverwrite: true }); r.noOverwrite = 'replaced'; } catch (e) { r.noOverwrite = isFerryError(e) ? e.code : String(e); }
      try { await client.getFile('/doc/isos/big.iso', './isos/2026/big.iso'); r.missingParent = 'made'; } catch (e) { r.missingParent = isFerryError(e) ? e.code : String(e); }
      await client.getFile('/doc/isos/big.iso', './isos/2026/big.iso', { makeParents: true });
      r.makeParents = readFileSync('isos/2026/big.iso').equals(iso);
      const got = [];
      await client.getStream('/doc/backups/db.sql', new Writable({ write(c, _e, cb) { got.push(c); cb(); } }));
      r.getStream = Buffer.concat(got).toString();
      const ac = new AbortController();
      const abortable = await client.get('/doc/isos/big.iso', undefined, { signal: ac.signal });
      try { for await (const _ of abortable) ac.abort(); r.abortedGet = 'finished'; } catch (e) { r.abortedGet = isFerryError(e) ? e.code : String(e); }
      const { versions, policy } = await client.listVersions('/doc/backups/db.sql');
      r.policy = policy;
      const old = versions.at(-1); // newest first: the oldest is dump v1
      await client.getVersionFile('/doc/backups/db.sql', old.id, './db-old.sql');
      r.getVersionFile = readFileSync('db-old.sql', 'utf8');
      r.list = [];
      for await (const e of client.list('/doc/backup', { recursive: true })) r.list.push(e.path + ':' + e.size);
      r.stat = (await client.stat('/doc/isos/big.iso')).size;
      await client.mkdir('/doc/a/b', { parents: true });
      await client.move('/doc/a', '/doc/b');
      await client.copy('/doc/b', '/doc/c');
      r.copied = (await client.stat('/doc/c/b')).type;
      await client.remove('/doc/c', { recursive: true });
      try { await client.stat('/doc/c'); r.removed = false; } catch (e) { r.removed = isFerryError(e, 'FERRY_ERR_NOT_FOUND'); }
      await client.close();
      const other = new FerryClient({ server: ${JSON.stringify(server.url)}, token: ${JSON.stringify(server.token)}, parallel: 8, bwlimit: 20 * 2 ** 20 });
      r.token = typeof (await other.tokens.create({ name: 'ci', scopes: ['read'] })).token;
      await other.users.add({ name: 'ana', password: 'a long enough passphrase 42' });
      r.users = (await other.users.list()).map((u) => u.name).includes('ana');
      await other.close();
      process.stdout.write(JSON.stringify(r));
    `);
    expect(out).toEqual({
      token: 'string',
      users: true,
      putFile: 1,
      progress: true,
      putTree: 2,
      putStream: 1,
      getFile: true,
      getTree: ['a.jpg', 'sub', 'sub/b.jpg'],
      noOverwrite: 'FERRY_ERR_ALREADY_EXISTS',
      missingParent: 'FERRY_ERR_NOT_FOUND',
      makeParents: true,
      getStream: 'dump v2',
      abortedGet: 'FERRY_ERR_ABORTED',
      getVersionFile: 'dump v1',
      policy: { enabled: true, keep: 5, days: 0 },
      list: ['/doc/backup/photos:0', '/doc/backup/photos/a.jpg:1', '/doc/backup/photos/sub:0', '/doc/backup/photos/sub/b.jpg:1'],
      stat: 2 * 1024 * 1024,
      copied: 'dir',
      removed: true,
    });
  });

  it("the root entry ('ferry') loads no Fastify, AWS SDK, ssh2 or server module", async () => {
    const { out, loaded } = await runInApp(`
      const ferry = await import('ferry');
      const client = await import('ferry/client');
      // docs/client.md: the browser building blocks are not an entry of the package yet.
      const browser = ['HttpCore', 'FerryApi', 'FetchTransport', 'uploadBlob'].filter((n) => n in ferry || n in client);
      process.stdout.write(JSON.stringify({ client: typeof ferry.FerryClient, memory: typeof ferry.MemoryBackend, sync: typeof ferry.sync, server: typeof ferry.startServer, browser, oneErrorClass: ferry.FerryError === client.FerryError, across: new ferry.NotFoundError('x') instanceof client.FerryError, clientClasses: client.NotFoundError === ferry.NotFoundError && client.AbortedError === ferry.AbortedError, named: [ferry.NotFoundError.name, new ferry.QuotaExceededError().name] }));
    `);
    expect(out).toEqual({ client: 'function', memory: 'function', sync: 'function', server: 'undefined', browser: [], oneErrorClass: true, across: true, clientClasses: true, named: ['NotFoundError', 'QuotaExceededError'] });
    expect(loaded.filter((u) => ['fastify', '@aws-sdk', 'ssh2', '/dist/src/server/'].some((h) => u.includes(h)))).toEqual([]);
  });

  it('every exports entry imports by name', async () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    const names = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => (k === '.' ? 'ferry' : `ferry/${k.slice(2)}`));
    expect(names).toEqual(expect.arrayContaining(['ferry/client', 'ferry/records', 'ferry/decorators', 'ferry/channel', 'ferry/registry', 'ferry/server', 'ferry/s3', 'ferry/sftp', 'ferry/sync']));
    const { out } = await runInApp(`
      const out = {};
      for (const name of ${JSON.stringify(names)}) out[name] = Object.keys(await import(name)).length;
      process.stdout.write(JSON.stringify(out));
    `);
    for (const name of names) expect({ name, exports: out[name] }).toEqual({ name, exports: expect.any(Number) });
    for (const name of names) expect({ name, some: (out[name] as number) > 0 }).toEqual({ name, some: true });
  });

  // README, "Storage library": CommonJS programs require() the ES modules (Node >= 20.19, the
  // package's engines floor); a top-level await anywhere in an entry's graph would break it
  // (ERR_REQUIRE_ASYNC_MODULE). TypeScript compiles it with module nodenext, not node16.
  it('CommonJS: require() of every entry works, one FerryError class with the ES modules; tsc takes a .cts with module nodenext, node16 gives TS1479', { timeout: 180_000 }, async () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    const names = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => (k === '.' ? 'ferry' : `ferry/${k.slice(2)}`));
    const file = join(app, 'use-require.cjs');
    writeFileSync(
      file,
      `const out = {};
for (const name of ${JSON.stringify(names)}) out[name] = Object.keys(require(name)).length > 0;
import('ferry/client').then((esm) => {
  out.oneClass = require('ferry').FerryError === esm.FerryError && require('ferry/client').FerryError === esm.FerryError;
  process.stdout.write(JSON.stringify(out));
});
`,
    );
    writeFileSync(join(app, 'use.cts'), `import { FerryClient } from 'ferry/client';\nimport ferry = require('ferry');\nconst c: FerryClient = new FerryClient({ server: 'http://127.0.0.1:1' });\nvoid [c, ferry.MemoryBackend];\n`);
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const compile = (module: string): Promise<string> => {
      const args = [tsc, '--module', module, '--moduleResolution', module, '--target', 'es2022', '--strict', '--noEmit', '--skipLibCheck', '--types', 'node', '--typeRoots', join(root, 'node_modules/@types'), 'use.cts'];
      return promisify(execFile)(process.execPath, args, { cwd: app, encoding: 'utf8' }).then(
        (r) => r.stdout,
        (err: { stdout?: string }) => String(err.stdout),
      );
    };
    // The program and the two compilers at once: each is a process of its own.
    const [{ stdout }, nodenext, node16] = await Promise.all([promisify(execFile)(process.execPath, [file], { cwd: app, encoding: 'utf8' }), compile('nodenext'), compile('node16')]);
    expect(JSON.parse(stdout)).toEqual({ ...Object.fromEntries(names.map((n) => [n, true])), oneClass: true });
    expect(nodenext).toBe('');
    expect(node16).toMatch(/error TS1479/);
  });

  // The types a client-side user compiles: before, one-style.d.ts named the protocol's types
  // through the package root, and the root named the server's, so `import { FerryClient } from
  // 'ferry/client'` made tsc read 1,262 files (Fastify, Kysely, the AWS SDK) instead of about 240.
  it("the declarations of 'ferry' and 'ferry/client' name no Fastify, Kysely, AWS SDK, ssh2 or server types", { timeout: 180_000 }, () => {
    writeFileSync(join(app, 'light.ts'), `import { FerryClient } from 'ferry/client';\nimport { MemoryBackend, sync, Filter, FerryError } from 'ferry';\nvoid [FerryClient, MemoryBackend, sync, Filter, FerryError];\n`);
    writeFileSync(
      join(app, 'tsconfig.light.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] }, files: ['light.ts'] }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const files = execFileSync(process.execPath, [tsc, '-p', 'tsconfig.light.json', '--listFiles'], { cwd: app, encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(files.some((f) => f.includes('/ferry/dist/src/client/client.d.ts'))).toBe(true); // the list is of this package's files
    const heavy = ['/fastify/', '/@fastify/', '/kysely/', '/@aws-sdk/', '/@smithy/', '/ssh2/', '/@types/ssh2/', '/better-sqlite3/', '/pg/', '/dist/src/server/', '/dist/src/store/', '/entry-server.d.ts', '/entry-s3.d.ts', '/entry-sftp.d.ts'];
    expect(files.filter((f) => heavy.some((h) => f.includes(h)))).toEqual([]);
  });

  // Every TypeScript sample of README.md and docs/*.md, as written: compiled with tsc --strict
  // against the packed package (a browser sample, which imports the web app's modules, against
  // those modules with the web app's settings); those that need no server of their own then run.
  it('every ```ts sample of the README and docs/ compiles under tsc --strict and the runnable ones run', { timeout: 300_000 }, async () => {
    const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const samples: Array<{ name: string; code: string; browser: boolean }> = [];
    for (const doc of docs) {
      const text = readFileSync(join(root, doc), 'utf8');
      for (const m of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
        const line = text.slice(0, m.index).split('\n').length;
        samples.push({ name: `${doc.replace(/[/.]/g, '-')}-${line}`, code: m[1], browser: m[1].startsWith('// in a browser') });
      }
    }
    // The extraction finds them: the records, sync and client samples, the browser one.
    expect(samples.map((x) => x.name.replace(/-\d+$/, ''))).toEqual(expect.arrayContaining(['README-md', 'docs-sync-md', 'docs-client-md']));
    expect(samples.filter((x) => x.browser)).toHaveLength(1);

    const dir = join(app, 'samples');
    mkdirSync(dir, { recursive: true });
    mkdirSync(join(app, 'web', 'src'), { recursive: true });
    rmSync(join(app, 'src'), { force: true });
    symlinkSync(join(root, 'src'), join(app, 'src'), 'dir'); // the browser sample's ../../src/client/...
    for (const x of samples) writeFileSync(x.browser ? join(app, 'web', 'src', `${x.name}.ts`) : join(dir, `${x.name}.ts`), x.code);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, outDir: 'out', noEmitOnError: true, skipLibCheck: true, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] }, include: ['*.ts'] }),
    );
    const web = JSON.parse(readFileSync(join(root, 'web', 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
    // Node's types too, as the web app's own typecheck has them (through vite.config.ts): the
    // Vite build, not tsc, is what keeps node: modules out of these files.
    writeFileSync(join(app, 'web', 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...web.compilerOptions, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] }, include: ['src/*.ts'] }));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const compile = (project: string): Promise<string> =>
      promisify(execFile)(process.execPath, [tsc, '-p', project], { cwd: app, encoding: 'utf8' }).then(
        (r) => r.stdout,
        (err: { stdout?: string }) => `FAILED: ${err.stdout}`,
      );
    const [samplesOut, webOut] = await Promise.all([compile('samples'), compile('web')]); // two projects, two processes at once
    expect(samplesOut).toBe('');
    expect(webOut).toBe('');

    // Run each sample that names no server of its own (docs/client.md's first names
    // 127.0.0.1:7373 and reads stdin: the test above runs it against this server instead), in a
    // folder of its own with the files it reads, the server of this test in FERRY_SERVER/FERRY_TOKEN.
    const runnable = samples.filter((x) => !x.browser && !x.code.includes("'http://127.0.0.1:7373'"));
    expect(runnable.length).toBeGreaterThanOrEqual(3);
    for (const x of runnable) {
      const cwd = mkdtempSync(join(tmpdir(), 'sdk-sample-'));
      writeFileSync(join(cwd, 'report.pdf'), '%PDF-1.4 sample');
      writeFileSync(join(cwd, 'x'), 'x');
      const env = { ...process.env, FERRY_SERVER: server.url, FERRY_TOKEN: server.token, FERRY_CONFIG_DIR: cwd, NODE_PATH: '' };
      const run = await promisify(execFile)(process.execPath, [join(dir, 'out', `${x.name}.js`)], { cwd, encoding: 'utf8', env }).then(
        () => 'ran',
        (err: { stderr?: string }) => `FAILED: ${err.stderr}`,
      );
      expect({ sample: x.name, run }).toEqual({ sample: x.name, run: 'ran' });
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  // One run of tsc over the package's declarations (the wrong name is in the same program).
  it('the types resolve through exports for a TypeScript user (tsc, module nodenext)', { timeout: 180_000 }, () => {
    writeFileSync(
      join(app, 'use.ts'),
      `import { FerryClient, isFerryError, NotFoundError, type Entry, type FerryErrorCode, type PutSource, type GetDestination, type TransferResult } from 'ferry/client';
import { MemoryBackend, openBackend } from 'ferry';
import { writeRecords, MultiWriter, compress } from 'ferry/records';
import { withRetry, withDryRun } from 'ferry/decorators';
import { ChannelBackend } from 'ferry/channel';
import { defaultRegistry } from 'ferry/registry';
import { startServer, defaultConfig, MetaStore } from 'ferry/server';
import { S3Backend } from 'ferry/s3';
import { SftpBackend } from 'ferry/sftp';
const c: FerryClient = new FerryClient({ server: 'http://127.0.0.1:1' });
const r: Promise<TransferResult> = c.putFile('a', '/a');
const source: PutSource = { data: 'text' };
const dest: GetDestination = './a';
const code = (e: unknown): FerryErrorCode | undefined => (isFerryError(e) ? e.code : undefined);
const found = async (path: string): Promise<Entry | undefined> => c.stat(path).catch((e: unknown) => { if (e instanceof NotFoundError) return undefined; throw e; });
const narrowed = (e: unknown): 'FERRY_ERR_NOT_FOUND' | undefined => (e instanceof NotFoundError ? e.code : undefined); // a class's code is its own
void [source, dest, code, found, narrowed];
// A wrong name fails, so the check can fail: were it not an error, tsc would report this
// directive unused (TS2578). In this program rather than in a second run of tsc.
// @ts-expect-error: 'ferry/client' exports no NoSuchThing
import { NoSuchThing } from 'ferry/client';
void NoSuchThing;
void [r, MemoryBackend, openBackend, writeRecords, MultiWriter, compress, withRetry, withDryRun, ChannelBackend, defaultRegistry, startServer, defaultConfig, MetaStore, S3Backend, SftpBackend];
`,
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] }, files: ['use.ts'] }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = (() => {
      try {
        return execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' });
      } catch (err) {
        return `FAILED: ${(err as { stdout?: string }).stdout}`;
      }
    })();
    expect(result).toBe('');
  });
});
