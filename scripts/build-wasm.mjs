#!/usr/bin/env node
/**
 * Assembles src/algo/fastcdc.wat with wabt (a devDependency) and writes
 * src/algo/fastcdc-wasm.ts, which carries the module as base64 so that the runtime needs
 * neither wabt nor a .wasm file next to the compiled code.
 *
 *   node scripts/build-wasm.mjs          write src/algo/fastcdc-wasm.ts
 *   node scripts/build-wasm.mjs --check  exit 1 if the committed file differs from a fresh build
 *
 * The generated file is committed; src/algo/fastcdc-wasm.test.ts checks it against a fresh
 * assembly so the two cannot drift.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

export const WAT_PATH = fileURLToPath(new URL('../src/algo/fastcdc.wat', import.meta.url));
export const GENERATED_PATH = fileURLToPath(new URL('../src/algo/fastcdc-wasm.ts', import.meta.url));

/** WAT text -> wasm bytes. No debug names: the bytes depend on the code only. */
export async function assemble(watText) {
  const wabt = await wabtInit();
  const mod = wabt.parseWat('fastcdc.wat', watText);
  try {
    mod.validate();
    return new Uint8Array(mod.toBinary({ log: false, write_debug_names: false, canonicalize_lebs: true }).buffer);
  } finally {
    mod.destroy();
  }
}

/** wasm bytes -> the text of fastcdc-wasm.ts. */
export function render(bytes) {
  const b64 = Buffer.from(bytes).toString('base64');
  const lines = b64.match(/.{1,100}/g) ?? [];
  return [
    '// GENERATED FILE, do not edit: `node scripts/build-wasm.mjs` assembles src/algo/fastcdc.wat',
    '// (with the wabt devDependency) and writes it here; the runtime needs no wabt.',
    '// src/algo/fastcdc-wasm.test.ts fails if this file and the WAT source disagree.',
    '',
    `/** The FastCDC cut loop as a WebAssembly module (${bytes.length} bytes), base64. */`,
    'export const FASTCDC_WASM_BASE64 =',
    lines.map((l) => `  '${l}'`).join(' +\n') + ';',
    '',
  ].join('\n');
}

/** The text fastcdc-wasm.ts should have for the current WAT source. */
export async function generate() {
  return render(await assemble(await readFile(WAT_PATH, 'utf8')));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = await generate();
  if (process.argv.includes('--check')) {
    const current = await readFile(GENERATED_PATH, 'utf8').catch(() => '');
    if (current !== text) {
      console.error(`${GENERATED_PATH} is stale: run node scripts/build-wasm.mjs`);
      process.exit(1);
    }
  } else {
    await writeFile(GENERATED_PATH, text);
    console.log(`wrote ${GENERATED_PATH}`);
  }
}
