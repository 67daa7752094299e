// Preload (`node --import ./record-imports.mjs ...`): prints every module URL the program
// loads, one per line, to the file named by RECORD_IMPORTS_TO when the process exits.
import { appendFileSync } from 'node:fs';
import { onEsModuleResolved } from './esm-resolve-hook.mjs';

const out = process.env.RECORD_IMPORTS_TO;
const seen = [];
onEsModuleResolved((url) => seen.push(url));
process.on('exit', () => {
  if (out) appendFileSync(out, seen.join('\n') + '\n');
});
