// Preload (`node --import ./record-loads.mjs ...`): like ./record-imports.mjs, and CommonJS
// too. Writes every module the program loads (ES module URLs as resolved, CommonJS files as
// file: URLs), one per line, to the file named by RECORD_LOADS_TO when the process exits.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { pathToFileURL } from 'node:url';

const out = process.env.RECORD_LOADS_TO;
const seen = [];
const { port1, port2 } = new MessageChannel();
port1.on('message', (url) => seen.push(url));
port1.unref();
register('data:text/javascript,' + encodeURIComponent(`
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  port.postMessage(r.url);
  return r;
}`), { data: { port: port2 }, transferList: [port2] });
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const file = resolveFilename.apply(this, args);
  seen.push(file.startsWith('/') ? pathToFileURL(file).href : file);
  return file;
};
process.on('exit', () => {
  if (out) appendFileSync(out, seen.join('\n') + '\n');
});
