/**
 * The `ferry-gcm` addon (native/gcm, built by `npm install` where a compiler is present): the
 * one piece of native code Ferry loads. It seals and opens encrypted segments
 * (`backends/decorators/segment-cipher.ts`) and sets the server's allocator
 * (`server/allocator.ts`). Everything that uses it has a fallback for when it is absent.
 */
import { createRequire } from 'node:module';
import { debuglog } from 'node:util';

/** The addon's exports (native/gcm/src/ferry-gcm.c). */
export interface FerryNativeAddon {
  newKey(key: Uint8Array): object;
  seal(key: object, index: number, last: boolean, aad: Uint8Array, plain: Uint8Array, out: Uint8Array, at: number): number;
  sealBegin(key: object, index: number, last: boolean, aad: Uint8Array): void;
  sealUpdate(key: object, plain: Uint8Array, out: Uint8Array, at: number): number;
  sealFinal(key: object, out: Uint8Array, at: number): number;
  open(key: object, index: number, last: boolean, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array, at: number): number;
  /**
   * Whose AES-256-GCM the addon uses, chosen when it loads: its own VAES + VPCLMULQDQ code
   * where the processor has it, OpenSSL's otherwise or with FERRY_GCM_IMPL=openssl. Absent
   * from builds before 2026-12-05 (OpenSSL's).
   */
  readonly implementation?: 'vaes-avx512' | 'openssl';
  /** glibc's mallopt of both thresholds; false where the C library is not glibc. Absent from builds before 2026-12-05. */
  tuneMalloc?(mmapThreshold: number, trimThreshold: number): boolean;
  /** glibc's malloc_trim(0): every arena's free pages back to the system; whether any were. Absent from builds before 2026-12-06. */
  trimMalloc?(): boolean;
}

export const nativeDebug = debuglog('ferry');
let loaded: { addon?: FerryNativeAddon; why?: string } | undefined;

/**
 * The addon, loaded on first use; or why not (it was not built, cannot load, or
 * FERRY_NATIVE_GCM=0 turns it off), the same answer every time.
 */
export function ferryNative(): { addon?: FerryNativeAddon; why?: string } {
  if (loaded) return loaded;
  if (process.env.FERRY_NATIVE_GCM === '0') return (loaded = { why: 'FERRY_NATIVE_GCM=0' });
  try {
    loaded = { addon: createRequire(import.meta.url)('ferry-gcm') as FerryNativeAddon };
  } catch (err) {
    loaded = { why: (err as Error).message.split('\n')[0] };
  }
  return loaded;
}
