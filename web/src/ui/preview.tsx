/**
 * Previews: images, audio and video (the browser streams them, seeking with Range requests),
 * PDF (Chrome's viewer, in a frame), and text or code. Text is fetched with the SDK's
 * manifest-based download (the first chunks, each verified against its hash) and shown as
 * text: HTML, SVG and scripts are never rendered or run in the app's origin.
 */
import { useEffect, useState } from 'preact/hooks';
import type { FerryApi } from '../../../src/client/api.js';
import { concatBytes } from '../../../src/client/hashing.js';
import { previewKind } from '../../../src/core/media-types.js';
import type { Entry } from '../../../src/core/protocol.js';
import { formatDate, formatSize } from '../format.js';
import { Dialog, Message } from './common.js';
import { fileUrl, startDownload } from './files.js';

/** Bytes of a text file shown at most. */
const TEXT_LIMIT = 512 * 1024;

/** The first bytes of a file (up to whole chunks covering `limit`), verified chunk by chunk. */
export async function readStart(api: FerryApi, path: string, limit: number): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const m = await api.manifest(path);
  const chunks = [];
  let n = 0;
  for (const c of m.chunks) {
    if (n >= limit) break;
    chunks.push(c);
    n += c.size;
  }
  const pieces: Uint8Array[] = [];
  if (chunks.length > 0) await api.getChunkRun(m.path, m.hash, 0, chunks, async (_i, p) => void pieces.push(...p));
  const all = concatBytes(pieces);
  return { bytes: all.subarray(0, Math.min(all.length, limit)), truncated: m.size > limit };
}

export function Preview(props: { api: FerryApi; entry: Entry; onClose: () => void }) {
  const { api, entry } = props;
  const kind = previewKind(entry.name);
  const [src, setSrc] = useState<string>();
  const [text, setText] = useState<{ text: string; truncated: boolean }>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    if (kind === 'text') {
      readStart(api, entry.path, TEXT_LIMIT).then(
        ({ bytes, truncated }) => setText({ text: new TextDecoder('utf-8', { fatal: false }).decode(bytes), truncated }),
        setError,
      );
    } else if (kind !== 'none') {
      fileUrl(api, entry.path, 'inline').then(setSrc, setError);
    }
  }, [entry.path]);
  return (
    <Dialog title={entry.name} onClose={props.onClose} wide>
      <p class="meta">
        {formatSize(entry.size)} · modified {formatDate(entry.mtime)}
      </p>
      <div class="preview" data-kind={kind}>
        {kind === 'image' && src && <img src={src} alt={`Preview of ${entry.name}`} />}
        {kind === 'video' && src && <video src={src} controls preload="metadata" aria-label={`Video ${entry.name}`} />}
        {kind === 'audio' && src && <audio src={src} controls preload="metadata" aria-label={`Audio ${entry.name}`} />}
        {kind === 'pdf' && src && <iframe src={src} title={`PDF ${entry.name}`} />}
        {kind === 'text' && text && (
          <>
            <pre tabIndex={0} aria-label={`Text of ${entry.name}`}>
              {text.text}
            </pre>
            {text.truncated && <p class="hint">Showing the first {formatSize(TEXT_LIMIT)}: download the file for the rest.</p>}
          </>
        )}
        {kind === 'none' && <p>No preview for this kind of file.</p>}
      </div>
      <Message error={error} />
      <div class="buttons">
        <button type="button" onClick={async () => startDownload(await fileUrl(api, entry.path, 'download'))}>
          Download
        </button>
        <button type="button" class="primary" onClick={props.onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
