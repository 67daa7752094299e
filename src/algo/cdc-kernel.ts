/**
 * The WebAssembly FastCDC kernel: one instance of the cut loop in fastcdc.wat plus the
 * memory it scans.
 *
 * Callers read file data straight into `kernel.data` (a view of the WebAssembly memory),
 * so bytes go from the page cache into the memory the cut loop scans and the hash reads
 * without a copy in between. The memory is sized once, at creation, and never grown:
 * growing would detach `data` and any view a caller took of it.
 *
 * Cuts are identical to `nextCut`/`nextCutReference` in fastcdc.ts (the format); the
 * kernel is only faster (about 3 GB/s here against 0.5–0.9 GB/s for the JavaScript loop).
 *
 * Node.js and browsers run this same module (it imports nothing of Node): the web app cuts
 * files with it, so a browser upload dedups against a CLI upload of the same bytes.
 */
import { UnsupportedError, ValidationError } from '../core/errors.js';
import type { ChunkingParams } from '../core/chunk-refs.js';
import { FASTCDC_WASM_BASE64 } from './fastcdc-wasm.js';
import { GEAR, cdcMasks, type CdcMasks, type CdcParams } from './fastcdc.js';

// `lib` is ES2023 without DOM, which is where TypeScript keeps the WebAssembly types; these
// are the few members used here, typed locally so as not to clash if a DOM lib is added.
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum?: number }) => { buffer: ArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type WasmCut = (p: number, n: number, min: number, normal: number, maskS: number, maskL: number) => number;

/** Byte offsets inside the WebAssembly memory; fastcdc.wat reads the tables at 0 and 1024. */
const GEAR_OFFSET = 0;
const GEAR_LS_OFFSET = 1024;
/** Page-aligned start of the data area (the tables need only 2 KiB). */
const DATA_OFFSET = 4096;
const PAGE = 65536;
/** wasm32 addresses are 32-bit; stay well below so that pointers fit in a signed i32 too. */
const MAX_DATA_SIZE = 2 ** 31 - PAGE;

let compiled: object | undefined;

/** Compiled once per thread: instantiating is cheap, compiling a module less so. */
function compiledModule(): object {
  // atob, not Buffer: the browser build of the client runs this kernel too.
  compiled ??= new wasm.Module(Uint8Array.from(atob(FASTCDC_WASM_BASE64), (c) => c.charCodeAt(0)));
  return compiled;
}

export class CdcKernel {
  /**
   * The data area: callers fill it (for instance with `fs.read`) and pass offsets into it
   * to {@link cut}. Stays valid for the kernel's lifetime.
   */
  readonly data: Uint8Array;
  readonly masks: CdcMasks;
  private readonly wasmCut: WasmCut;

  /**
   * @param params chunking parameters (validated: throws RangeError when invalid)
   * @param dataSize bytes in the data area; at least `maxSize` for `cut` to ever find a
   *   full-size chunk without `final`
   */
  constructor(params: CdcParams, dataSize: number) {
    this.masks = cdcMasks(params);
    if (!Number.isInteger(dataSize) || dataSize < 1 || dataSize > MAX_DATA_SIZE) {
      throw new RangeError(`kernel data area of ${dataSize} bytes: need 1 to ${MAX_DATA_SIZE}`);
    }
    const pages = Math.ceil((DATA_OFFSET + dataSize) / PAGE);
    const memory = new wasm.Memory({ initial: pages, maximum: pages });
    const instance = new wasm.Instance(compiledModule(), { env: { memory } });
    this.wasmCut = instance.exports.cut as WasmCut;
    const tables = new Int32Array(memory.buffer, 0, 512);
    for (let i = 0; i < 256; i++) {
      tables[GEAR_OFFSET / 4 + i] = GEAR[i] | 0;
      tables[GEAR_LS_OFFSET / 4 + i] = (GEAR[i] << 1) | 0;
    }
    this.data = new Uint8Array(memory.buffer, DATA_OFFSET, dataSize);
  }

  /**
   * Length of the next chunk of `data[start, end)`, with the contract of `nextCut`: 0 when
   * `end - start` is less than maxSize and `final` is false (more data is needed to decide),
   * otherwise a length from 1 to maxSize; with `final` true the last chunk may be short.
   */
  cut(start: number, end: number, final: boolean): number {
    if (!(start >= 0 && end <= this.data.length)) {
      throw new RangeError(`cut(${start}, ${end}) outside the data area of ${this.data.length} bytes`);
    }
    const m = this.masks;
    const available = end - start;
    if (available <= 0) return 0;
    if (available < m.max && !final) return 0;
    if (available <= m.min) return available;
    const n = available < m.max ? available : m.max;
    return this.wasmCut(DATA_OFFSET + start, n, m.min, n < m.avg ? n : m.avg, m.maskS | 0, m.maskL | 0);
  }
}

/**
 * The cut parameters of a server's chunking parameters, checked: FERRY_ERR_UNSUPPORTED for
 * another algorithm, FERRY_ERR_VALIDATION for sizes the chunker does not accept.
 */
export function cdcParamsOf(params: ChunkingParams): CdcParams {
  if (params.algorithm !== 'fastcdc-v1') throw new UnsupportedError(`chunking algorithm ${JSON.stringify(params.algorithm)} is not supported`);
  const p = { minSize: params.minSize, avgSize: params.avgSize, maxSize: params.maxSize, normalization: params.normalization };
  try {
    cdcMasks(p);
  } catch (err) {
    throw new ValidationError((err as Error).message, { cause: err });
  }
  return p;
}
