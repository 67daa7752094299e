/** Types for scripts/build-wasm.mjs (imported by src/algo/fastcdc-wasm.test.ts). */
export declare const WAT_PATH: string;
export declare const GENERATED_PATH: string;
export declare function assemble(watText: string): Promise<Uint8Array>;
export declare function render(bytes: Uint8Array): string;
export declare function generate(): Promise<string>;
