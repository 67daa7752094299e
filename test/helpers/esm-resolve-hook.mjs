// For the preloads record-imports.mjs and record-loads.mjs: calls `onUrl` with the URL of
// every ES module the program resolves (a loader hook, which runs on its own thread).
import { register } from 'node:module';

export function onEsModuleResolved(onUrl) {
  const { port1, port2 } = new MessageChannel();
  port1.on('message', onUrl);
  port1.unref();
  register('data:text/javascript,' + encodeURIComponent(`
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  port.postMessage(r.url);
  return r;
}`), { data: { port: port2 }, transferList: [port2] });
}
