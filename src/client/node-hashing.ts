/** SHA-256 of the client in Node.js: node:crypto (OpenSSL, SHA-NI), synchronous, no copies. */
import { createHash } from 'node:crypto';
import type { Sha256 } from './hashing.js';

export const nodeSha256: Sha256 = {
  digest(pieces) {
    const h = createHash('sha256');
    for (const p of pieces) h.update(p);
    return h.digest('hex');
  },
};
