// Builds the web app (web/) into dist/web with Vite, then writes brotli and gzip copies of
// its text files next to them: `ferry serve` sends those as they are (routes/web-app.ts),
// compressing nothing per request. Part of `npm run build`.
import { build } from 'vite';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const started = Date.now();
await build({ configFile: new URL('../web/vite.config.ts', import.meta.url).pathname, logLevel: 'warn' });
const out = new URL('../dist/web', import.meta.url).pathname;
let js = 0;
let jsBr = 0;
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.(js|css|html|svg|json|txt)$/.test(name)) {
      const raw = readFileSync(p);
      const br = brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length } });
      if (br.length < raw.length) writeFileSync(p + '.br', br);
      const gz = gzipSync(raw, { level: 9 });
      if (gz.length < raw.length) writeFileSync(p + '.gz', gz);
      if (name.endsWith('.js')) {
        js += raw.length;
        jsBr += Math.min(br.length, raw.length);
      }
    }
  }
};
walk(out);
console.log(`web app: ${(js / 1024).toFixed(0)} KiB of JavaScript (${(jsBr / 1024).toFixed(0)} KiB brotli) in dist/web, ${((Date.now() - started) / 1000).toFixed(1)} s`);
