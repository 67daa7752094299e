/**
 * Reading helpers for backends whose only way to the bytes is `read()`: a range collected
 * into one buffer, and a hash computed by streaming the object.
 */
import { createHash } from 'node:crypto';
import type { HashName, StorageBackend } from '../core/storage.js';

/** `read(key, {offset, length})` collected into one buffer (shorter only when the object ends first). */
export async function collectRange(backend: StorageBackend, key: string, offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of await backend.read(key, { offset, length, signal })) {
    parts.push(chunk as Buffer);
    total += (chunk as Buffer).length;
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
}

/** The object's hash, computed by reading it through. */
export async function hashByReading(backend: StorageBackend, key: string, algorithm: HashName, signal?: AbortSignal): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of await backend.read(key, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
