/** A pack body as clients send it (`POST /api/v1/uploads/:id/packs`): frames `32-byte SHA-256 | u32 BE size | bytes`. */
import { createHash } from 'node:crypto';
import { PACK_FRAME_HEADER_BYTES } from '../../src/core/protocol.js';

export function packBody(parts: readonly Buffer[]): Buffer {
  return Buffer.concat(
    parts.flatMap((p) => {
      const head = Buffer.alloc(PACK_FRAME_HEADER_BYTES);
      head.write(createHash('sha256').update(p).digest('hex'), 0, 32, 'hex');
      head.writeUInt32BE(p.length, 32);
      return [head, p];
    }),
  );
}
