/**
 * A file's old versions (README "Versions and trash"): the contents an upload, a move or a
 * copy over it replaced, newest first; each can be downloaded, and restoring one makes it
 * current again (what it replaces becomes a version in turn).
 */
import { useEffect, useState } from 'preact/hooks';
import type { FerryApi } from '../../../src/client/api.js';
import { listVersions, restoreVersion, type VersionEntry } from '../../../src/client/versions.js';
import type { Entry } from '../../../src/core/protocol.js';
import { formatDate, formatSize } from '../format.js';
import { Dialog, Listing, Message, useAction } from './common.js';
import { fileUrl, startDownload } from './files.js';

/** `onChanged`: the folder is listed again after a restore; `onNotice`: told what the restore did, to say once the dialog is gone. */
export function VersionsDialog(props: { api: FerryApi; entry: Entry; onClose: () => void; onChanged: () => void; onNotice: (text: string) => void }) {
  const { api } = props;
  // The file as it is now, asked on opening: another client may have replaced it since the
  // folder was listed (the dialog then said the old size, beside a version of that same content).
  const [entry, setEntry] = useState<Entry>(props.entry);
  const [gone, setGone] = useState(false);
  const [versions, setVersions] = useState<VersionEntry[]>();
  const [loadError, setLoadError] = useState<unknown>();
  const [busy, error, run] = useAction();
  useEffect(() => {
    const listed = props.entry;
    listVersions(api, listed.path).then(setVersions, setLoadError);
    api.statIfExists(listed.path).then((now) => {
      if (now?.type === 'file' && now.size === listed.size && now.mtime === listed.mtime) return;
      if (now?.type === 'file') setEntry({ ...listed, size: now.size, mtime: now.mtime });
      else setGone(true);
      props.onChanged();
    }, setLoadError);
  }, [props.entry.path]);
  return (
    <Dialog title={`Versions of ${entry.name}`} onClose={props.onClose} wide>
      {gone ? (
        <p class="hint">{entry.name} is no longer here: it was moved or deleted since the folder was listed.</p>
      ) : (
        <p class="hint">
          Now: {formatSize(entry.size)}, modified {formatDate(entry.mtime)}. Restoring an old version keeps the current content as a version.
        </p>
      )}
      <Message error={error ?? loadError} />
      {versions?.length === 0 && <p>No old versions: nothing has replaced this file's content yet, or the server keeps none here.</p>}
      {versions && versions.length > 0 && (
        <Listing columns={['Replaced', 'Modified', '#Size']}>
          {versions.map((v) => (
            <tr key={v.id}>
              <td>{formatDate(v.replacedAt)}</td>
              <td>{formatDate(v.mtime)}</td>
              <td class="num">{formatSize(v.size)}</td>
              <td class="actions">
                <button
                  type="button"
                  disabled={busy}
                  aria-label={`Download the version replaced ${formatDate(v.replacedAt)} (${formatSize(v.size)})`}
                  onClick={() => run(async () => startDownload(await fileUrl(api, entry.path, 'download', v.id)))}
                >
                  Download
                </button>
                <button
                  type="button"
                  disabled={busy}
                  aria-label={`Restore the version replaced ${formatDate(v.replacedAt)} (${formatSize(v.size)})`}
                  onClick={() =>
                    run(async () => {
                      await restoreVersion(api, entry.path, { version: v.id });
                      props.onChanged();
                      props.onNotice(`Restored ${entry.name} as it was before ${formatDate(v.replacedAt)} (${formatSize(v.size)}); what it replaced is kept as a version.`);
                      props.onClose();
                    })
                  }
                >
                  Restore
                </button>
              </td>
            </tr>
          ))}
        </Listing>
      )}
      <div class="buttons">
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
