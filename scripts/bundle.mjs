// Bundles the compiled CLI (dist/src) into a few files under dist/bundle, which bin/ferry.js
// runs. Why: Node 20 loads hundreds of small ES modules slowly and keeps a record of each
// (kysely alone is 262 modules); one bundle starts in about half the time with ~15 MB less
// memory. Code splitting keeps every command's engine in its own lazily loaded chunk, so
// `ferry ls` never loads the server. Native and large optional packages stay external.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

// Two dependencies require Node's TLS stack at their top though a plain-HTTP server never
// calls it: Fastify's lib/server.js (node:https and node:http2, used only to create a server
// with TLS; Ferry's HTTPS is HTTP/2 with HTTP/1.1) and prom-client's index (its Pushgateway,
// which Ferry does not use, requires node:https). With them come node:tls and OpenSSL's TLS
// code (in a bare script ~5 ms and ~2 MB of RSS; in the server, which uses crypto anyway,
// about 0.5 MB of its idle RSS). The bundle gets both files with
// these required on first use. The build fails if a text is not found (an upgrade changed
// it), so the bundle never silently keeps the eager require or breaks the lazy one.
const LAZY_REQUIRES = [
  {
    file: /[\\/]node_modules[\\/]fastify[\\/]lib[\\/]server\.js$/,
    eager: "const https = require('node:https')\nconst http2 = require('node:http2')\n",
    lazy: [
      'let httpsModule, http2Module',
      "const https = { createServer: (...args) => (httpsModule ??= require('node:https')).createServer(...args) }",
      'const http2 = {',
      "  createServer: (...args) => (http2Module ??= require('node:http2')).createServer(...args),",
      "  createSecureServer: (...args) => (http2Module ??= require('node:http2')).createSecureServer(...args)",
      '}',
      '',
    ].join('\n'),
    // Every use of the two modules in that file must be one the stand-ins provide (or a JSDoc type).
    uses: (text) => (text.match(/(?<![.\w])(https|http2)\.\w+/g) ?? []).filter((u) => !/\.(createServer|createSecureServer|Http2Server|Http2Session)$/.test(u)),
  },
  {
    file: /[\\/]node_modules[\\/]prom-client[\\/]index\.js$/,
    eager: "exports.Pushgateway = require('./lib/pushgateway');\n",
    lazy: "Object.defineProperty(exports, 'Pushgateway', { enumerable: true, get: () => require('./lib/pushgateway') });\n",
    uses: () => [],
  },
];

// Code a server runs only on some first use, required at the top of its package all the same;
// each costs an idle server heap (its module evaluated, its functions and objects kept) for
// the life of the process: 1.2 MB of RSS the three together. prom-client's default metrics
// (with @opentelemetry/api, for exemplars) join the registry on the first scrape
// (src/server/metrics.ts); Fastify checks a plugin's required Fastify version with semver
// only for a plugin that declares one; pino's transports (thread-stream, a worker thread)
// serve only its `transport` option, which Ferry does not use.
LAZY_REQUIRES.push(
  {
    file: /[\\/]node_modules[\\/]prom-client[\\/]index\.js$/,
    eager: "exports.collectDefaultMetrics = require('./lib/defaultMetrics');\n",
    lazy: "Object.defineProperty(exports, 'collectDefaultMetrics', { enumerable: true, get: () => require('./lib/defaultMetrics') });\n",
    uses: () => [],
  },
  {
    file: /[\\/]node_modules[\\/]fastify[\\/]lib[\\/]plugin-utils\.js$/,
    eager: "const semver = require('semver')\n",
    lazy: [
      'let semverModule',
      'const semver = {',
      "  gt: (...args) => (semverModule ??= require('semver')).gt(...args),",
      "  coerce: (...args) => (semverModule ??= require('semver')).coerce(...args),",
      "  satisfies: (...args) => (semverModule ??= require('semver')).satisfies(...args)",
      '}',
      '',
    ].join('\n'),
    uses: (text) => (text.match(/(?<![.\w])semver\.\w+/g) ?? []).filter((u) => !/\.(gt|coerce|satisfies)$/.test(u)),
  },
  {
    file: /[\\/]node_modules[\\/]pino[\\/]lib[\\/]tools\.js$/,
    eager: "const transport = require('./transport')\n",
    lazy: "let transportModule\nconst transport = (...args) => (transportModule ??= require('./transport'))(...args)\n",
    // Only calls, `transport(...)`, never a property of it (one word in an error message aside).
    uses: (text) => (text.replace('pino(transport)', '').match(/(?<![.\w])transport(?![\w(])/g) ?? []),
  },
  {
    file: /[\\/]node_modules[\\/]pino[\\/]pino\.js$/,
    eager: "module.exports.transport = require('./lib/transport')\n",
    lazy: "Object.defineProperty(module.exports, 'transport', { enumerable: true, configurable: true, get: () => require('./lib/transport') })\n",
    uses: () => [],
  },
);
const lazyRequires = {
  name: 'lazy-requires',
  setup(b) {
    // One onLoad per file (esbuild runs only the first that answers), applying each of its patches.
    const byFile = new Map();
    for (const r of LAZY_REQUIRES) byFile.set(String(r.file), [...(byFile.get(String(r.file)) ?? []), r]);
    for (const patches of byFile.values()) {
      b.onLoad({ filter: patches[0].file }, (args) => {
        let text = readFileSync(args.path, 'utf8');
        for (const { eager, lazy, uses } of patches) {
          if (!text.includes(eager)) throw new Error(`${args.path}: no longer has ${JSON.stringify(eager)}; update LAZY_REQUIRES in scripts/bundle.mjs`);
          const left = uses(text.replace(eager, ''));
          if (left.length > 0) throw new Error(`${args.path} uses ${left.join(', ')}, which LAZY_REQUIRES's stand-ins in scripts/bundle.mjs do not provide`);
          text = text.replace(eager, lazy);
        }
        return { contents: text, loader: 'js' };
      });
    }
  },
};

// Fastify's default schema compilers (ajv, fast-json-stringify) stay out too: the server
// passes its own (src/server/openapi.ts), so they are never required, and V8 would otherwise
// parse and hold their ~0.6 MB of source in the server's chunk at every start.
const EXTERNAL = ['better-sqlite3', 'zstd-napi', 'ferry-gcm', 'ssh2', 'cpu-features', '@aws-sdk/*', '@smithy/*', 's3rver', '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler'];

rmSync('dist/bundle', { recursive: true, force: true });
const result = await build({
  entryPoints: {
    ferry: 'dist/src/cli/main.js',
    // Resolved by chunk-file.ts as `new URL('./chunk-worker.js', import.meta.url)`: it must sit beside the chunks.
    'chunk-worker': 'dist/src/algo/chunk-worker.js',
  },
  outdir: 'dist/bundle',
  chunkNames: 'part-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  // V8 keeps each module's source text for as long as the process runs (functions are
  // compiled when first called, from that text): without indentation and line breaks it is
  // a third smaller, ~1.1 MB less of an idle server's RSS, and parsed sooner. Names are kept
  // (no minifyIdentifiers), so stack traces still name every function; their positions map
  // back to the sources through the linked source maps (node --enable-source-maps).
  minifyWhitespace: true,
  metafile: true,
  logLevel: 'warning',
  plugins: [lazyRequires],
  external: EXTERNAL,
  // CommonJS dependencies inside an ES module bundle still call require() at run time.
  banner: { js: "import { createRequire as __ferryRequire } from 'node:module'; const require = __ferryRequire(import.meta.url);" },
});
const outputs = Object.entries(result.metafile.outputs).filter(([f]) => f.endsWith('.js'));

// esbuild escapes non-ASCII characters in strings (charset 'ascii') but keeps the comments it
// preserves as they are, and one em dash in a comment makes V8 hold the whole chunk's source
// text as UTF-16: twice its size, for as long as the process runs (the server's chunk cost
// 5.2 MB of heap instead of 2.6). Every such character left is escaped; they are in comments
// (an escape would also be valid in a string, template, identifier or regular expression).
function escapeNonAscii(file) {
  const text = readFileSync(file, 'utf8');
  // Per UTF-16 unit (\uXXXX, surrogate pairs as two): valid with or without a regex's u flag.
  const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== text) writeFileSync(file, ascii);
}
for (const [file] of outputs) escapeNonAscii(file);

// The same CLI as one CommonJS file, which every command but `serve` runs with a V8 code cache
// made here (bin/client-code-cache.js says why, what it saves and when the ES module bundle
// runs instead). CommonJS because vm.Script takes a code cache and ES modules have none on
// Node 20; one file because esbuild splits only ES modules. Its import()s become require()s
// (a vm.Script's import() needs --experimental-vm-modules), import.meta.url the file's URL
// (chunk-file.ts finds chunk-worker.js beside it). No source map: a node started with
// --enable-source-maps runs the ES module bundle.
await build({
  entryPoints: { 'ferry-client': 'dist/src/cli/main.js' },
  outdir: 'dist/bundle',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  supported: { 'dynamic-import': false },
  define: { 'import.meta.url': '__ferryImportMetaUrl' },
  banner: { js: "const __ferryImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  legalComments: 'none',
  minifyWhitespace: true,
  logLevel: 'warning',
  plugins: [lazyRequires],
  external: EXTERNAL,
});
escapeNonAscii('dist/bundle/ferry-client.cjs');
if (/(?<![\w$.])import\.meta\b/.test(readFileSync('dist/bundle/ferry-client.cjs', 'utf8'))) throw new Error('dist/bundle/ferry-client.cjs still uses import.meta; define it in scripts/bundle.mjs');
// Written by a fresh node, with no options of its own and the client's V8 flags, as bin/ferry.js runs it.
const env = { ...process.env };
delete env.NODE_OPTIONS;
execFileSync(process.execPath, ['bin/client-code-cache.js', 'dist/bundle'], { env, stdio: 'inherit' });

// The route schemas as JSON (scripts/route-schemas.mjs), beside the chunk that reads them.
copyFileSync('dist/src/server/route-schemas.json', 'dist/bundle/route-schemas.json');
// A new SQLite database's schema as one script (scripts/sqlite-schema.mjs), likewise.
copyFileSync('dist/src/store/sqlite-schema.json', 'dist/bundle/sqlite-schema.json');

// Which modules each output holds, for the test that a server start leaves the lazily loaded
// parts (WebDAV, tus, zip, OpenAPI, ...) unloaded (test/cli/server-start.test.ts).
const chunks = Object.fromEntries(outputs.map(([f, o]) => [f.replace(/^dist\/bundle\//, ''), Object.keys(o.inputs)]));
writeFileSync('dist/bundle/chunks.json', JSON.stringify(chunks, null, 1) + '\n');
const total = outputs.reduce((a, [, o]) => a + o.bytes, 0);
console.log(`bundle: ${outputs.length} files, ${(total / 1024).toFixed(0)} KiB in dist/bundle`);
