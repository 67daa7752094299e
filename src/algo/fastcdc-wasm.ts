// GENERATED FILE, do not edit: `node scripts/build-wasm.mjs` assembles src/algo/fastcdc.wat
// (with the wabt devDependency) and writes it here; the runtime needs no wabt.
// src/algo/fastcdc-wasm.test.ts fails if this file and the WAT source disagree.

/** The FastCDC cut loop as a WebAssembly module (389 bytes), base64. */
export const FASTCDC_WASM_BASE64 =
  'AGFzbQEAAAABCwFgBn9/f39/fwF/Ag8BA2VudgZtZW1vcnkCAAEDAgEABwcBA2N1dAAACs8CAcwCAQZ/IARBAXQhCiAFQQF0IQsg' +
  'ACACaiEGIAAgA2pBAWshCCAAIAFqQQFrIQkCQANAIAYgCE8NASAHQQJ0IAYtAABBAnQoAoAIaiEHIAcgCnFFBEAgBiAAa0EBag8L' +
  'IAcgBi0AAUECdCgCAGohByAHIARxRQRAIAYgAGtBAmoPCyAGQQJqIQYMAAsLIAYgCEYEQCAHQQF0IAYtAABBAnQoAgBqIQcgByAE' +
  'cUUEQCAGIABrQQFqDwsgBkEBaiEGCwJAA0AgBiAJTw0BIAdBAnQgBi0AAEECdCgCgAhqIQcgByALcUUEQCAGIABrQQFqDwsgByAG' +
  'LQABQQJ0KAIAaiEHIAcgBXFFBEAgBiAAa0ECag8LIAZBAmohBgwACwsgBiAJRgRAIAdBAXQgBi0AAEECdCgCAGohByAHIAVxRQRA' +
  'IAYgAGtBAWoPCwsgAQs=';
