/**
 * The parts of the file browser for end-to-end vaults: asking for the passphrase (or a key
 * file) of a locked vault, and downloading a file decrypted in this page. The keys stay in
 * the page's memory (../vault.ts); the passphrase is not kept at all.
 */
import { useEffect, useState } from 'preact/hooks';
import type { FerryApi } from '../../../src/client/api.js';
import type { E2eKeys } from '../../../src/client/e2e/format.js';
import { decryptUrl, saveBlob } from '../e2e.js';
import { formatSize } from '../format.js';
import { parseKeyFileText, unlockVault, type KeyLocation, type VaultEntry } from '../vault.js';
import { Dialog, fieldError, Message, useAction, useId } from './common.js';
import { fileUrl } from './files.js';

/** The form of a locked vault: its passphrase (or key file), checked against the marker before anything is listed. */
export function VaultUnlock(props: { loc: KeyLocation }) {
  const { loc } = props;
  const [passphrase, setPassphrase] = useState('');
  const [keyFile, setKeyFile] = useState<File>();
  const [busy, error, run] = useAction();
  const ids = { pass: useId('vault-pass'), file: useId('vault-key') };
  const byKeyFile = loc.marker.kdf.name === 'key-file';
  return (
    <section class="vault-unlock" aria-labelledby="vault-unlock-title">
      <h2 id="vault-unlock-title">End-to-end encrypted folder {loc.dir}</h2>
      <p>
        Its files and names were encrypted before they reached the server. {byKeyFile ? 'Its key file' : 'Its passphrase'} decrypts them here, in this
        browser: the key is derived in this tab and kept in its memory until you lock the folder or close the tab, and it is never sent to the server.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            await unlockVault(loc, keyFile ? { keyFile: parseKeyFileText(await keyFile.text()) } : { passphrase });
            setPassphrase('');
          });
        }}
      >
        {!byKeyFile && (
          <>
            <label for={ids.pass}>Passphrase</label>
            <input id={ids.pass} type="password" autoComplete="off" value={passphrase} {...fieldError(error, ids.pass + 'e')} onInput={(e) => setPassphrase((e.currentTarget as HTMLInputElement).value)} />
          </>
        )}
        <label for={ids.file}>{byKeyFile ? 'Key file' : 'Or a key file'} (ferry admin keygen)</label>
        <input id={ids.file} type="file" onChange={(e) => setKeyFile((e.currentTarget as HTMLInputElement).files?.[0])} />
        <Message error={error} id={ids.pass + 'e'} />
        <div class="buttons">
          <button type="submit" class="primary" disabled={busy || (passphrase === '' && !keyFile)}>
            {busy ? 'Checking…' : 'Unlock'}
          </button>
        </div>
      </form>
    </section>
  );
}

/**
 * Downloads a vault file decrypted: every chunk authenticated (GCM, then its plain SHA-256)
 * as it arrives, the file offered as a Blob only once all of it is verified.
 */
export function VaultDownload(props: { api: FerryApi; keys: E2eKeys; entry: VaultEntry; onClose: () => void }) {
  const [progress, setProgress] = useState<[number, number]>();
  const [done, setDone] = useState<string>();
  const [, error, run] = useAction();
  useEffect(() => {
    void run(async () => {
      const url = await fileUrl(props.api, props.entry.stored, 'download');
      const { blob, info } = await decryptUrl(url, {}, { keys: props.keys }, (d, t) => setProgress([d, t]));
      // The name it has now: the sealed one is the name it was put with (a rename leaves the header alone).
      setDone(`Decrypted and verified: ${props.entry.name} (${formatSize(info.size)})`);
      saveBlob(blob, props.entry.name);
    });
  }, []);
  return (
    <Dialog title={`Download ${props.entry.name}`} onClose={props.onClose}>
      <p>Decrypting in this browser; the file is offered only once every part of it is verified.</p>
      {progress && !done && (
        <p>
          <progress max={Math.max(1, progress[1])} value={progress[0]} aria-label="Decryption progress" /> {formatSize(progress[0])} of {formatSize(progress[1])}
        </p>
      )}
      <Message error={error} />
      {done && <p role="status">{done}</p>}
      <div class="buttons">
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
