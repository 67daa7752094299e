/**
 * A drop box's byte cap (`maxBytes` of an upload link, security audit 2026-12-04): the bytes
 * visitors may send through the link in all. The commit of every visitor upload (a PUT to
 * the link, an upload session of its page) counts its files' sizes into the link's
 * `bytes_received` inside the commit transaction, only if they fit (ShareStore.takeBytes):
 * a commit that would pass the cap is refused with 413 FERRY_ERR_LINK_BYTES_EXCEEDED and
 * nothing of it becomes visible. Uploads whose size is known are refused before any byte is
 * stored, and a body without a length is cut as soon as it passes what the link has left.
 */
import type { Transaction } from 'kysely';
import { LinkBytesExceededError, type FerryError } from '../core/errors.js';
import { formatSize } from '../core/units.js';
import type { Database } from '../store/meta-schema.js';
import { ShareStore, type ShareRow } from '../store/share-store.js';

/** The bytes an upload link still takes; null: it has no cap. */
export function linkBytesLeft(row: Pick<ShareRow, 'max_bytes' | 'bytes_received'>): number | null {
  if (row.max_bytes === null) return null;
  return Math.max(0, Number(row.max_bytes) - Number(row.bytes_received ?? 0));
}

/** `4000 bytes`, `2 MiB (2097152 bytes)`. */
const bytes = (n: number): string => (n < 1024 ? `${n} bytes` : `${formatSize(n)} (${n} bytes)`);

/** The refusal of `adding` bytes (at least) through a link that has `row`'s cap and count. */
export function linkBytesRefusal(row: Pick<ShareRow, 'max_bytes' | 'bytes_received'>, adding: number, atLeast = false): FerryError {
  const max = Number(row.max_bytes);
  const received = Number(row.bytes_received ?? 0);
  const left = linkBytesLeft(row) ?? 0;
  return new LinkBytesExceededError(
    `this upload link takes at most ${bytes(max)} in all and has ${bytes(left)} left; this upload has ${atLeast ? 'more than ' : ''}${bytes(adding)}: ask the link's owner for room`,
    { details: { limit: 'linkBytes', max, received, left, size: adding } },
  );
}

/** Refuses early (before any byte is stored) an upload of `size` bytes that cannot fit the link's cap. */
export function checkLinkBytes(row: Pick<ShareRow, 'max_bytes' | 'bytes_received'>, size: number): void {
  const left = linkBytesLeft(row);
  if (left !== null && size > left) throw linkBytesRefusal(row, size);
}

/**
 * A body of unknown length, cut with FERRY_ERR_LINK_BYTES_EXCEEDED as soon as it has more
 * bytes than the link has left (the commit's count stays the authority: this only stops a
 * visitor from streaming far past the cap first).
 */
export async function* capBody(body: AsyncIterable<Uint8Array>, row: Pick<ShareRow, 'max_bytes' | 'bytes_received'>): AsyncGenerator<Uint8Array> {
  const left = linkBytesLeft(row);
  let seen = 0;
  for await (const piece of body) {
    seen += piece.length;
    if (left !== null && seen > left) throw linkBytesRefusal(row, left, true);
    yield piece;
  }
}

/** Inside a visitor's commit transaction: counts the files' bytes into the link, or refuses them. */
export async function takeLinkBytes(trx: Transaction<Database>, shareId: string, bytes: number): Promise<void> {
  if (await ShareStore.takeBytes(trx, shareId, bytes)) return;
  const row = await trx.selectFrom('shares').select(['max_bytes', 'bytes_received']).where('id', '=', shareId).executeTakeFirst();
  if (!row) return;
  throw linkBytesRefusal(row, bytes);
}
