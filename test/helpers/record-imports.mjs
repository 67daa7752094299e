// Preload (`node --import ./record-imports.mjs ...`): prints every module URL the program
// loads, one per line, to the file named by RECORD_IMPORTS_TO when the process exits.
import { register } from 'node:module';
import { appendFileSync } from 'node:fs';

const out = process.env.RECORD_IMPORTS_TO;
const { port1, port2 } = new MessageChannel();
const seen = [];
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
process.on('exit', () => {
  if (out) appendFileSync(out, seen.join('\n') + '\n');
});
