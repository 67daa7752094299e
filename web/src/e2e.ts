/**
 * End-to-end encrypted files in the browser: the same format code as the CLI
 * (src/client/e2e/format.ts, on Web Crypto), scrypt from @noble/hashes (the same bytes as
 * Node's native one). The stored bytes are fetched as they are and decrypted here, chunk
 * by chunk, each one authenticated; the plain file becomes a Blob only once it is whole,
 * so a wrong key, a tampered or a truncated file never gives the person wrong bytes.
 * A share link's key is in the URL fragment, which browsers never send to a server.
 */
import { scryptAsync } from '@noble/hashes/scrypt';
import { decryptFile, fromBase64Url, type E2eFileInfo, type E2eKeys, type FileKeySource } from '../../src/client/e2e/format.js';
import { keysFor, type Scrypt } from '../../src/client/e2e/kdf.js';

export const browserScrypt: Scrypt = (password, salt, { N, r, p }) => scryptAsync(password, salt, { N, r, p, dkLen: 32, asyncTick: 50 });

/** The file key a share link carries (`#k=...`), if it carries one. */
export function fragmentKey(hash: string = location.hash): Uint8Array | undefined {
  const k = new URLSearchParams(hash.replace(/^#/, '')).get('k');
  if (!k) return undefined;
  try {
    return fromBase64Url(k);
  } catch {
    return undefined;
  }
}

export async function* bodyPieces(response: Response): AsyncGenerator<Uint8Array> {
  const reader = response.body!.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Fetches the stored bytes at `url` (with `init`) and decrypts them into a Blob. */
export async function decryptUrl(
  url: string,
  init: RequestInit,
  key: { fileKey: Uint8Array } | { passphrase: string } | { keys: E2eKeys },
  onProgress?: (done: number, total: number) => void,
): Promise<{ blob: Blob; info: E2eFileInfo }> {
  const res = await fetch(url, init);
  if (!res.ok || !res.body) throw new Error(`the server answered ${res.status}`);
  let info: E2eFileInfo | undefined;
  const parts: Uint8Array[] = [];
  let done = 0;
  const keyFor = async (header: Parameters<Parameters<typeof decryptFile>[1]['keyFor']>[0]): Promise<FileKeySource> =>
    'fileKey' in key ? { fileKey: key.fileKey } : 'keys' in key ? { keys: key.keys } : { keys: await keysFor({ passphrase: key.passphrase }, header.kdf, header.check, browserScrypt) };
  for await (const piece of decryptFile(bodyPieces(res), { keyFor, onInfo: (i) => void (info = i) })) {
    parts.push(piece);
    done += piece.length;
    onProgress?.(done, info!.size);
  }
  return { blob: new Blob(parts as BlobPart[], { type: 'application/octet-stream' }), info: info! };
}

/** Offers a Blob as a download named `name` (a same-page object URL; no request leaves the page). */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
