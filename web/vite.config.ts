/**
 * Build of the web app: Vite (Rolldown) with Preact's JSX, into dist/web, which `ferry serve`
 * serves (src/server/routes/web-app.ts) and the npm package ships. The app imports the
 * SDK's shared client code from src/ (src/client/api.ts, upload-flow.ts, the FastCDC
 * WebAssembly kernel): one protocol client for the CLI and the browser. The `no-node`
 * plugin fails the build if anything it pulls in imports a Node.js module, which keeps
 * those shared modules honest.
 */
import { defineConfig, type Plugin } from 'vite';

const noNode: Plugin = {
  name: 'ferry-no-node',
  enforce: 'pre',
  resolveId(id, importer) {
    if (id.startsWith('node:') || id === 'undici') this.error(`${importer ?? '?'} imports ${id}: the browser build must use only the isomorphic client modules`);
    return null;
  },
};

export default defineConfig({
  root: new URL('.', import.meta.url).pathname,
  base: '/',
  publicDir: 'public',
  plugins: [noNode],
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: new URL('../dist/web', import.meta.url).pathname,
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts at all: the app's CSP allows scripts from our own files only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    sourcemap: false,
    manifest: true,
    rolldownOptions: {
      output: {
        // The pages web/src/ui/lazy.tsx loads on demand are chunks of their own; everything
        // else is one chunk, the first page's: split into the shared pieces Rolldown would
        // make by itself, it compressed ~3 KiB worse (brotli does best on one file).
        codeSplitting: { groups: [{ name: 'app', test: (id: string) => !/\/web\/src\/ui\/(account|admin|folder-picker|shares|share-page|ssh-keys|tokens|trash)\.tsx$/.test(id) }] },
      },
    },
  },
});
