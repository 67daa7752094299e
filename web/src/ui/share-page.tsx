/**
 * A share link as a page, for people without an account: a file (name, size, preview,
 * download), a folder (its files, each downloadable, and all of it as one zip), a password
 * form (no browser dialog), or a drop box (the same chunked, resumable upload as the app).
 * Expired, used-up and revoked links show why they no longer work.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { isFerryError } from '../../../src/core/errors.js';
import type { PreviewKind } from '../../../src/core/media-types.js';
import { formatDate, formatSize } from '../format.js';
import { linkClick, usePath } from '../router.js';
import { makeApi } from '../session.js';
import { UploadManager } from '../uploads.js';
import { fieldError, Message, useAction, useWindowDrop } from './common.js';
import { Logo } from './icons.js';
import { UploadPanel } from './upload-panel.js';
import { decryptUrl, fragmentKey, saveBlob } from '../e2e.js';
import { trimTrailingSlashes } from '../../../src/core/path.js';
import { escapeControls } from '../../../src/core/control-chars.js';

interface LinkFacts {
  name: string;
  maxUses: number | null;
  uses: number;
  expiresAt: number | null;
  hasPassword: boolean;
  /** A drop box's byte cap and what is left of it (only when it has one). */
  maxBytes?: number;
  bytesLeft?: number;
}
type ShareView =
  | (LinkFacts & { kind: 'file'; fileName: string; size: number; mtime: number; preview: PreviewKind })
  | (LinkFacts & { kind: 'folder'; path: string; zip: string; entries: Array<{ name: string; type: 'file' | 'dir'; size: number; mtime: number; url: string; preview: PreviewKind }> })
  | (LinkFacts & { kind: 'upload' });

const anon = makeApi({});

function keyOf(path: string): string {
  return path.split('/')[2] ?? '';
}

export function SharePage() {
  const path = usePath();
  const key = keyOf(path);
  const [view, setView] = useState<ShareView>();
  const [error, setError] = useState<unknown>();
  const [needsPassword, setNeedsPassword] = useState(false);
  const [token, setToken] = useState<string>();
  const [reload, setReload] = useState(0);
  // The link was used up by this page's own download: the visitor has the file.
  const [usedUpHere, setUsedUpHere] = useState(false);

  const ask = () => anon.http.json<ShareView>({ method: 'GET', path: trimTrailingSlashes(path) || path, query: { format: 'json' }, auth: false, retry: 'never' });
  // After a file went into a drop box: what the link has left (uses, bytes), kept as it was
  // if the link cannot be read now (used up by that file: the page stays on what was sent).
  const refreshFacts = () => void ask().then(setView, () => undefined);

  useEffect(() => {
    setError(undefined);
    ask().then(
      (v) => {
        setNeedsPassword(false);
        setView(v);
      },
      (err) => {
        if (isFerryError(err) && err.details?.password === true) setNeedsPassword(true);
        else setError(err);
      },
    );
  }, [path, reload]);

  // A drop box needs an upload token (it also proves the password, if the link has one).
  useEffect(() => {
    if (view?.kind !== 'upload' || token) return;
    anon.http.json<{ token: string }>({ method: 'POST', path: `/s/${key}/unlock`, json: {}, auth: false, retry: 'never' }).then((r) => setToken(r.token), setError);
  }, [view]);

  // A link with a download limit: once the server has counted a download, what the link has
  // left, or that it is used up (a click on a used-up link's file would only fetch its refusal).
  const afterDownload = () => {
    if (!view || view.maxUses === null) return;
    const before = view.uses;
    let tries = 0;
    const check = () =>
      void ask().then(
        (v) => {
          if (v.uses === before && ++tries < 20) setTimeout(check, 250);
          else setView(v);
        },
        (err) => {
          setUsedUpHere(isFerryError(err, 'FERRY_ERR_GONE'));
          setError(err);
        },
      );
    setTimeout(check, 250);
  };

  let body;
  if (error) body = <Unavailable error={error} usedUpHere={usedUpHere} />;
  else if (needsPassword) body = <PasswordForm shareKey={key} onUnlocked={(t) => (setToken(t), setReload((n) => n + 1))} />;
  else if (!view) body = <p>Loading…</p>;
  else if (view.kind === 'file' && fragmentKey()) body = <EncryptedFileShare view={view} shareKey={key} fileKey={fragmentKey()!} />;
  else if (view.kind === 'file') body = <FileShare view={view} shareKey={key} onDownload={afterDownload} />;
  else if (view.kind === 'folder') body = <FolderShare view={view} shareKey={key} onDownload={afterDownload} />;
  else body = token ? <DropBox view={view} shareKey={key} token={token} onReceived={refreshFacts} /> : <p>Opening the drop box…</p>;
  return (
    <>
      <header class="top">
        <span class="brand">
          <Logo /> Ferry
        </span>
        <span class="hint">Shared with you</span>
      </header>
      <main id="main" class="share">
        {body}
      </main>
    </>
  );
}

function Unavailable(props: { error: unknown; usedUpHere: boolean }) {
  const gone = isFerryError(props.error, 'FERRY_ERR_GONE');
  const missing = isFerryError(props.error, 'FERRY_ERR_NOT_FOUND');
  return (
    <section class="gone" aria-labelledby="gone-h">
      <h1 id="gone-h">{gone ? 'This link no longer works' : missing ? 'No such link' : 'This link cannot be opened'}</h1>
      {/* Not an error to the visitor whose download was the link's last: they have the file. */}
      {gone && props.usedUpHere ? (
        <p class="notice" role="status">
          Your download was the last this link allowed: the file is in your browser's downloads. To get it again, ask the person who sent the link for a new one.
        </p>
      ) : (
        <>
          {/* The server's reason ("this link was revoked") as a sentence: it is all the visitor reads. */}
          <Message error={props.error} />
          {gone && <p>Ask the person who sent it for a new one.</p>}
        </>
      )}
    </section>
  );
}

function PasswordForm(props: { shareKey: string; onUnlocked: (token: string) => void }) {
  const [password, setPassword] = useState('');
  const [busy, error, run] = useAction();
  return (
    <section aria-labelledby="pw-h">
      <h1 id="pw-h">This link is protected by a password</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const r = await anon.http.json<{ token: string }>({ method: 'POST', path: `/s/${props.shareKey}/unlock`, json: { password }, auth: false, retry: 'never' });
            props.onUnlocked(r.token);
          });
        }}
      >
        <label for="share-password">Password</label>
        {/* The page's one field takes the focus, as the sign-in form's does: the visitor types at once. */}
        <input id="share-password" type="password" autoComplete="off" required autoFocus value={password} {...fieldError(error, 'share-password-error')} onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
        <Message error={error} id="share-password-error" />
        <button type="submit" class="primary" disabled={busy}>
          Open
        </button>
      </form>
    </section>
  );
}

/** "1 use left" (a one-time link), "2 of 5 uses left", "used up": never "1 of 1 uses left". */
function usesLeft(max: number, left: number): string {
  if (left === 0) return 'used up';
  if (max === 1) return '1 use left';
  return `${left} of ${max} uses left`;
}

function limits(v: LinkFacts): string {
  const parts: string[] = [];
  if (v.expiresAt !== null) parts.push(`expires ${formatDate(v.expiresAt)}`);
  if (v.maxUses !== null) parts.push(usesLeft(v.maxUses, Math.max(0, v.maxUses - v.uses)));
  if (v.maxBytes !== undefined && v.bytesLeft !== undefined) parts.push(`${formatSize(v.bytesLeft)} left of ${formatSize(v.maxBytes)}`);
  return parts.join(' · ');
}

function FileShare(props: { view: Extract<ShareView, { kind: 'file' }>; shareKey: string; onDownload: () => void }) {
  const { view } = props;
  const base = `/s/${props.shareKey}`;
  // Previewing is downloading: links with a download limit show no preview, so as not to spend one.
  const preview = view.maxUses === null ? view.preview : 'none';
  const src = `${base}?inline=1`;
  return (
    <section aria-labelledby="file-h">
      <h1 id="file-h">{view.fileName}</h1>
      <p class="meta">
        {formatSize(view.size)} · modified {formatDate(view.mtime)}
        {limits(view) && ` · ${limits(view)}`}
      </p>
      <p>
        <a class="button primary" href={`${base}?download=1`} download onClick={props.onDownload}>
          Download
        </a>
      </p>
      <div class="preview" data-kind={preview}>
        {preview === 'image' && <img src={src} alt={`Preview of ${view.fileName}`} />}
        {preview === 'video' && <video src={src} controls preload="metadata" aria-label={`Video ${view.fileName}`} />}
        {preview === 'audio' && <audio src={src} controls preload="metadata" aria-label={`Audio ${view.fileName}`} />}
        {preview === 'pdf' && <iframe src={src} title={`PDF ${view.fileName}`} />}
        {preview === 'text' && <TextPreview url={src} name={view.fileName} />}
      </div>
    </section>
  );
}

/**
 * A link to an end-to-end encrypted file: the key is in the URL's fragment, which the
 * browser never sends; the page fetches the ciphertext and decrypts it here.
 */
function EncryptedFileShare(props: { view: Extract<ShareView, { kind: 'file' }>; shareKey: string; fileKey: Uint8Array }) {
  const { view } = props;
  const [busy, error, run] = useAction();
  const [progress, setProgress] = useState<string>();
  const [saved, setSaved] = useState<{ name: string; size: number }>();
  const decrypt = () =>
    run(async () => {
      const { blob, info } = await decryptUrl(`/s/${props.shareKey}?download=1`, { credentials: 'same-origin' }, { fileKey: props.fileKey }, (d, t) =>
        setProgress(`${formatSize(d)} of ${formatSize(t)}`),
      );
      setSaved({ name: info.name, size: info.size });
      saveBlob(blob, info.name);
    });
  return (
    <section aria-labelledby="file-h">
      <h1 id="file-h">End-to-end encrypted file</h1>
      <p class="meta">
        {formatSize(view.size)} encrypted{limits(view) && ` · ${limits(view)}`}
      </p>
      <p>The key is in this link and never reaches the server: the file is decrypted in this browser.</p>
      <p>
        <button type="button" class="primary" disabled={busy} onClick={() => void decrypt()}>
          Decrypt and download
        </button>
      </p>
      {busy && progress && <p role="status">Decrypting… {progress}</p>}
      {saved && (
        <p role="status">
          Decrypted and verified: {saved.name} ({formatSize(saved.size)})
        </p>
      )}
      <Message error={error} />
    </section>
  );
}

function TextPreview(props: { url: string; name: string }) {
  const [text, setText] = useState<string>();
  useEffect(() => {
    fetch(props.url, { headers: { range: 'bytes=0-262143' } })
      .then((r) => r.arrayBuffer())
      .then((b) => setText(new TextDecoder().decode(b)), () => undefined);
  }, [props.url]);
  return text === undefined ? null : (
    <pre tabIndex={0} aria-label={`Text of ${props.name}`}>
      {text}
    </pre>
  );
}

function FolderShare(props: { view: Extract<ShareView, { kind: 'folder' }>; shareKey: string; onDownload: () => void }) {
  const { view } = props;
  const crumbs = view.path.split('/').filter(Boolean);
  return (
    <section aria-labelledby="folder-h">
      <h1 id="folder-h">
        {escapeControls(view.name)}
        {view.path !== '/' && ` ${view.path}`}
      </h1>
      <p class="meta">
        {view.entries.length} {view.entries.length === 1 ? 'entry' : 'entries'}
        {limits(view) && ` · ${limits(view)}`}
      </p>
      {crumbs.length > 0 && (
        <p>
          <a href={`/s/${props.shareKey}/${crumbs.slice(0, -1).map(encodeURIComponent).join('/')}`} onClick={(e) => linkClick(e, `/s/${props.shareKey}/${crumbs.slice(0, -1).map(encodeURIComponent).join('/')}`)}>
            Up one folder
          </a>
        </p>
      )}
      {/* An empty folder offers no zip: an empty archive would only spend one of the link's downloads. */}
      {view.entries.length === 0 ? (
        <p>This folder is empty.</p>
      ) : (
        <p>
          <a class="button primary" href={view.zip} download onClick={props.onDownload}>
            Download all (zip)
          </a>
        </p>
      )}
      {view.entries.length > 0 && (
        <table class="listing">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col" class="num">
                Size
              </th>
              <th scope="col" class="num">
                Modified
              </th>
            </tr>
          </thead>
          <tbody>
            {view.entries.map((e) => (
              <tr key={e.name}>
                <td class="name">
                  {e.type === 'dir' ? (
                    <a href={e.url} onClick={(ev) => linkClick(ev, e.url)}>
                      {e.name}/
                    </a>
                  ) : (
                    <a href={`${e.url}?download=1`} download aria-label={`Download ${e.name}`} onClick={props.onDownload}>
                      {e.name}
                    </a>
                  )}
                </td>
                <td class="num">{e.type === 'dir' ? '—' : formatSize(e.size)}</td>
                <td class="num">{formatDate(e.mtime)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function DropBox(props: { view: Extract<ShareView, { kind: 'upload' }>; shareKey: string; token: string; onReceived: () => void }) {
  const { view } = props;
  const uploads = useMemo(() => {
    const api = makeApi({ authorization: () => `Bearer ${props.token}` });
    // Refusals come a file at a time: the link's facts are read again once, after the last.
    let again: ReturnType<typeof setTimeout> | undefined;
    const onRefused = () => {
      clearTimeout(again);
      again = setTimeout(props.onReceived, 300);
    };
    const m = new UploadManager(api, `share:${props.shareKey}`, { dropBox: true, onDone: () => props.onReceived(), onRefused });
    void m.restore();
    return m;
  }, [props.token]);
  const [dragging, setDragging] = useState(false);
  const [tooMany, setTooMany] = useState<string>();
  const add = (files: File[]) => {
    // Each file is one use of the link: more than it has left are refused before any is sent
    // (counting those on their way), not sent to be refused one by one.
    const left = view.maxUses === null ? Infinity : view.maxUses - view.uses - uploads.unfinished();
    if (files.length > left) {
      setTooMany(
        left <= 0
          ? `This link takes no more files${uploads.unfinished() > 0 ? ' than those on their way' : ''}: ask whoever sent it to you for a new one.`
          : `This link takes ${left} more file${left === 1 ? '' : 's'} and you chose ${files.length}: choose at most ${left}.`,
      );
      return;
    }
    setTooMany(undefined);
    uploads.add(files.map((file) => ({ file, path: '/' + file.name })));
  };
  // Only the zone takes a drop; one beside it is refused, not opened by the browser in place
  // of the page (which cut the files being sent).
  useWindowDrop(
    (target) => target.closest('.dropzone') !== null,
    (data) => add(Array.from(data.files)),
    setDragging,
  );
  return (
    <section aria-labelledby="drop-h">
      <h1 id="drop-h">Send files: {escapeControls(view.name)}</h1>
      {limits(view) && (
        <p class="meta" data-testid="drop-limits">
          {limits(view)}
        </p>
      )}
      <div class={`dropzone ${dragging ? 'dragging' : ''}`}>
        <p class="drop-hint">Drop files here, or</p>
        <label class="button primary">
          Choose files
          <input
            type="file"
            multiple
            class="visually-hidden"
            data-testid="drop-files"
            onChange={(e) => {
              const input = e.currentTarget as HTMLInputElement;
              add(Array.from(input.files ?? []));
              // Emptied, so that the same file picked again (after a failure) is taken again.
              input.value = '';
            }}
          />
        </label>
        <p class="hint">Large files go up in pieces and resume where they stopped if the connection drops or the page reloads.</p>
      </div>
      {tooMany && (
        <p class="error" role="alert">
          {tooMany}
        </p>
      )}
      <UploadPanel uploads={uploads} title="Sent files" />
    </section>
  );
}
