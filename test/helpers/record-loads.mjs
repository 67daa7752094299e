// Preload (`node --import ./record-loads.mjs ...`): like ./record-imports.mjs, and CommonJS
// too. Writes every module the program loads (ES module URLs as resolved, CommonJS files as
// file: URLs, and Node's built-in modules as `builtin:NAME`, those other built-ins loaded
// included), one per line, to the file named by RECORD_LOADS_TO when the process exits.
import { appendFileSync } from 'node:fs';
import Module from 'node:module';
import { pathToFileURL } from 'node:url';
import { onEsModuleResolved } from './esm-resolve-hook.mjs';

const out = process.env.RECORD_LOADS_TO;
const seen = [];
onEsModuleResolved((url) => seen.push(url));
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const file = resolveFilename.apply(this, args);
  seen.push(file.startsWith('/') ? pathToFileURL(file).href : file);
  return file;
};
process.on('exit', () => {
  const builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => `builtin:${m.slice('NativeModule '.length)}`);
  if (out) appendFileSync(out, [...seen, ...builtins].join('\n') + '\n');
});
