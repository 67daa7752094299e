/**
 * The file browser: a folder's entries (breadcrumbs, sort, filter, multi-select), the
 * actions on them (new folder, upload files or folders by picking or dropping, download,
 * zip, rename, move, copy, delete, share, preview) and the quota.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { FerryApi } from '../../../src/client/api.js';
import { createShare, downloadTicket, me } from '../../../src/client/account-api.js';
import { listTrash, listTrashPage, restoreTrash } from '../../../src/client/versions.js';
import { baseName, isWithin, joinPath, parentPath } from '../../../src/core/path.js';
import { parseSize } from '../../../src/core/units.js';
import { isFerryError, isRetryable } from '../../../src/core/errors.js';
import type { CreatedShare, Entry, MeResponse, ShareInfo } from '../../../src/core/protocol.js';
import { formatCount, formatDate, formatSize } from '../format.js';
import { filesUrl, linkClick, navigate } from '../router.js';
import { RETRY_EVENT } from '../session.js';
import { droppedFiles, type UploadManager } from '../uploads.js';
import { Confirm, Dialog, fieldError, Message, ShownOnce, useAction, useId, useToolbar, useWindowDrop } from './common.js';
import { FileIcon, FolderIcon } from './icons.js';
import { Preview } from './preview.js';
import { UploadPanel } from './upload-panel.js';
import { E2E_MARKER_NAME, isE2eName, toBase64Url, type E2eKeys } from '../../../src/client/e2e/format.js';
import { decryptUrl, saveBlob } from '../e2e.js';
import { fileInfo, findVault, keysOfVault, listVault, lockVaults, moveFolderOrVault, onKeysChanged, plainPathOf, storedChild, vaultOps, type KeyLocation, type VaultEntry } from '../vault.js';
import { lazyPart } from './lazy.js';
import { MissingFolder } from './missing-folder.js';
import { VaultDownload, VaultUnlock } from './vault.js';
import { VersionsDialog } from './versions.js';

type SortKey = 'name' | 'size' | 'mtime';
/** The orders a phone's "Sort by" offers (its listing has no Modified header to press). */
const SORTS: Array<[string, string]> = [
  ['name asc', 'Name, A to Z'],
  ['name desc', 'Name, Z to A'],
  ['mtime desc', 'Newest first'],
  ['mtime asc', 'Oldest first'],
  ['size desc', 'Largest first'],
  ['size asc', 'Smallest first'],
];
type Modal =
  | { kind: 'mkdir' }
  | { kind: 'rename'; entry: Entry }
  | { kind: 'move' | 'copy'; entries: Entry[] }
  | { kind: 'delete'; entries: Entry[] }
  | { kind: 'share'; entry: Entry }
  | { kind: 'preview'; entry: Entry }
  | { kind: 'decrypt'; entry: Entry }
  | { kind: 'versions'; entry: Entry }
  | { kind: 'vault-download'; entry: VaultEntry };

/** The vault the shown folder is in, and its keys once unlocked in this tab. */
export interface VaultView {
  loc: KeyLocation;
  keys?: E2eKeys;
  /** The shown folder's plain path (the page's address holds its stored path). */
  plainDir?: string;
}

/** An unlocked vault folder: its keys, and the shown folder's plain and stored paths. */
interface VaultOpen {
  loc: KeyLocation;
  keys: E2eKeys;
  plainDir: string;
  storedDir: string;
}

/**
 * Rows drawn at first, and more at each "Show more": every row drawn made a folder of 10,000
 * files take 0.9 s to redraw for each checkbox ticked or sort chosen. Sort, filter and
 * Select all still see the whole folder.
 */
/** Entries a folder's listing asks for a page; the first page is drawn while the rest come. */
const LIST_PAGE = 1000;
export const ROWS_AT_ONCE = 500;

/** File details read from each file's sealed header at once in a vault folder. */
const INFO_AT_ONCE = 4;

/** Starts a download the browser itself streams to disk (with the server's name and type). */
export function startDownload(url: string): void {
  const a = document.createElement('a');
  a.href = url;
  a.download = '';
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
}

/** The URL of a file (or of an old version of it) for the browser to fetch itself (download or preview), with a ticket. */
export async function fileUrl(api: FerryApi, path: string, mode: 'download' | 'inline', version?: number): Promise<string> {
  const { ticket } = await downloadTicket(api, path);
  return api.http.url(`/api/v1/files${path.split('/').map(encodeURIComponent).join('/')}`, { [mode]: 1, ticket, version });
}

export function FilesPage(props: { api: FerryApi; path: string; uploads: UploadManager; version: number }) {
  const { api, path, uploads } = props;
  const [entries, setEntries] = useState<Entry[] | undefined>();
  // The entries shown are the listing's first page: the rest are on their way.
  const [listing, setListing] = useState(false);
  const [loadError, setLoadError] = useState<unknown>();
  const [account, setAccount] = useState<MeResponse>();
  const [sort, setSort] = useState<{ key: SortKey; asc: boolean }>({ key: 'name', asc: true });
  const [filter, setFilter] = useState('');
  const [selected, setSelected] = useState<Set<string>>(new Set());
  // Whether the person selected or unselected rows in this folder: only then is the count said.
  const [picked, setPicked] = useState(false);
  const [modal, setModal] = useState<Modal | undefined>();
  // What the last action did (a version restored), said in the page's live region and shown
  // until the person does something else: selects, opens a folder or a dialog, uploads or
  // downloads (as the Trash and SSH keys pages' notices last until their next action).
  const [notice, setNotice] = useState<string>();
  const [dragging, setDragging] = useState(false);
  const [busy, actionError, run, clearActionError] = useAction();
  const [reload, setReload] = useState(0);
  // A request is being tried again while the folder loads: the server does not answer (yet).
  const [unanswered, setUnanswered] = useState(false);
  const [vault, setVault] = useState<VaultView>();
  const [keysVersion, setKeysVersion] = useState(0);
  // The vault found for this folder, kept through the refreshes of finished uploads: looking
  // again is a request for a marker in each folder above (121 files uploaded were 242 of them).
  const vaultFound = useRef<{ path: string; reload: number; keysVersion: number; loc: KeyLocation | undefined }>();
  const filterId = useId('filter');
  // A row renamed from its dialog: its checkbox takes the focus once the listing shows it
  // (the dialog gave it back to Rename, disabled while the folder is listed again).
  const focusRow = useRef<string>();
  useEffect(() => {
    const name = focusRow.current;
    if (name === undefined || entries === undefined) return;
    focusRow.current = undefined;
    // After the dialog's own giving back of the focus (queued as it closed), and only if the person has not moved it.
    setTimeout(() => {
      const box = Array.from(document.querySelectorAll<HTMLInputElement>('table.folder tbody input[type=checkbox]')).find((b) => b.getAttribute('aria-label') === `Select ${name}`);
      const here = document.activeElement;
      if (box && !document.querySelector('dialog[open]') && (here === document.body || here?.id === 'main')) box.focus();
    });
  }, [entries]);
  // The file whose own address was opened, to be selected in its folder (opened instead).
  const fileAddressed = useRef<{ dir: string; name: string }>();
  useEffect(() => onKeysChanged(() => setKeysVersion((n) => n + 1)), []);
  useEffect(() => {
    const retried = () => setUnanswered(true);
    addEventListener(RETRY_EVENT, retried);
    return () => removeEventListener(RETRY_EVENT, retried);
  }, []);

  useEffect(() => {
    let stop = false;
    setEntries(undefined);
    setListing(false);
    setLoadError(undefined);
    setUnanswered(false);
    (async () => {
      const known = vaultFound.current;
      const loc = known && known.path === path && known.reload === reload && known.keysVersion === keysVersion ? known.loc : await findVault(api, path);
      if (stop) return;
      vaultFound.current = { path, reload, keysVersion, loc };
      const keys = loc && keysOfVault(loc);
      const plainDir = loc && keys ? await plainPathOf(keys, loc, path) : undefined;
      if (stop) return;
      setVault(loc && { loc, keys, plainDir });
      if (loc && !keys) return; // locked: the unlock form, nothing listed
      const out: Entry[] = [];
      if (loc && keys) out.push(...(await listVault(api, keys, loc, path, plainDir!)));
      // Ferry's own marker (the root's key marker, a vault's seen from outside) is not a user's file.
      else {
        // The first page is drawn as soon as it arrives (10,000 files took ~0.3 s to list
        // whole, with nothing shown meanwhile); the rest once the listing is complete (a
        // redraw per page would redraw the whole growing table each time).
        let seen = 0;
        for await (const e of api.list(path, { pageSize: LIST_PAGE })) {
          if (stop) return;
          if (e.name !== E2E_MARKER_NAME) out.push(e);
          if (++seen === LIST_PAGE) {
            setEntries([...out]);
            setListing(true);
          }
        }
      }
      if (stop) return;
      setEntries(out);
      setListing(false);
      if (loc && keys) await readVaultDetails(api, keys, out as VaultEntry[], () => stop, (e) => setEntries((cur) => cur?.map((x) => (x.name === e.name ? e : x))));
    })().catch(async (err) => {
      if (stop) return;
      // A file's own address (pasted, bookmarked, typed): its folder, with the file selected.
      if (isFerryError(err, 'FERRY_ERR_NOT_A_DIRECTORY') && path !== '/') {
        const entry = await api.statIfExists(path).catch(() => undefined);
        if (stop) return;
        if (entry?.type === 'file') {
          fileAddressed.current = { dir: parentPath(path), name: baseName(path) };
          navigate(filesUrl(parentPath(path)), { replace: true });
          return;
        }
      }
      setLoadError(err);
    });
    me(api).then((m) => !stop && setAccount(m), () => undefined);
    return () => void (stop = true);
  }, [path, reload, props.version, keysVersion]);
  useEffect(() => {
    const file = fileAddressed.current?.dir === path ? fileAddressed.current.name : undefined;
    fileAddressed.current = undefined;
    setSelected(new Set(file === undefined ? [] : [file]));
    setPicked(false);
    setNotice(file === undefined ? undefined : `${file} is a file, not a folder: here it is in its folder, selected.`);
  }, [path]);
  // A dialog opened is the next action (the versions dialog sets the notice as it closes).
  useEffect(() => {
    if (modal) setNotice(undefined);
  }, [modal]);
  // An action's refusal is about the folder and the keys it was made with.
  useEffect(() => clearActionError(), [path, keysVersion]);

  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const list = (entries ?? []).filter((e) => f === '' || e.name.toLowerCase().includes(f));
    const dir = sort.asc ? 1 : -1;
    return list.sort((a, b) => {
      if (a.type !== b.type) return a.type === 'dir' ? -1 : 1;
      const k = sort.key;
      const c = k === 'name' ? a.name.localeCompare(b.name) : (a[k] as number) - (b[k] as number);
      return c * dir;
    });
  }, [entries, filter, sort]);

  const chosen = shown.filter((e) => selected.has(e.name));
  const refresh = () => setReload((n) => n + 1);
  // A delete that went to the trash, offered back for UNDO_MS while its notice shows.
  const [undo, setUndo] = useState<Undoable>();
  const undoButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (!undo) return;
    let timer: ReturnType<typeof setTimeout>;
    // Kept while the button has the focus: someone who tabbed to it is not cut short.
    const arm = () => (timer = setTimeout(() => (document.activeElement === undoButton.current ? arm() : setUndo(undefined)), UNDO_MS));
    arm();
    return () => clearTimeout(timer);
  }, [undo]);
  const undoDelete = (u: Undoable) =>
    run(async () => {
      setUndo(undefined);
      setNotice(undefined);
      try {
        for (const batch of u.batches) for (const e of await listTrash(api, '/', { batch })) await restoreTrash(api, e.id);
      } finally {
        refresh();
      }
      setNotice(`Restored ${u.what}.`);
    });
  const undoShown = undo !== undefined && notice === undo.text && actionError === undefined;
  const keys = vault?.keys;
  const e2e = vault && keys ? { loc: vault.loc, keys, plainDir: vault.plainDir ?? path, storedDir: path } : undefined;
  const upload = (files: Array<{ file: File; rel: string }>, emptyDirs: string[] = []) =>
    run(async () => {
      setNotice(undefined);
      // A locked vault takes no upload (it would need the key): a drop there says so.
      if (vault && !keys) throw new Error('This end-to-end folder is locked: unlock it, then drop or pick the files again (they are encrypted here, with its key).');
      if (!e2e) {
        // The empty folders of a dropped folder are made too (a folder holding only empty ones
        // came up as nothing at all). In a vault, only folders that hold files come up.
        for (const dir of emptyDirs) await api.mkdir(joinPath(path, dir), { parents: true });
        if (emptyDirs.length > 0) refresh();
        return uploads.add(files.map((f) => ({ file: f.file, path: joinPath(path, f.rel) })), path);
      }
      const stored = await Promise.all(files.map((f) => storedChild(e2e.keys, e2e.storedDir, e2e.plainDir, f.rel)));
      uploads.add(files.map((f, i) => ({ file: f.file, path: joinPath(e2e.plainDir, f.rel), e2e: { keys: e2e.keys, kdf: e2e.loc.marker.kdf, serverPath: stored[i] } })), e2e.storedDir);
    });
  // The whole window takes a drop, as the page says: a file dropped beside the listing (below
  // a short one, on the header) was opened by the browser in place of the app, cutting its uploads.
  // Rows moved away: the focus goes to the row after them (else the one before), as a file
  // manager's does, once the listing shows the folder without them; it went to the top of the page.
  const focusAfterMove = (gone: Entry[]) => {
    const names = new Set(gone.map((e) => e.name));
    const at = shown.findIndex((e) => names.has(e.name));
    const stays = (e: Entry) => !names.has(e.name);
    focusRow.current = (shown.slice(at).find(stays) ?? shown.slice(0, Math.max(0, at)).reverse().find(stays))?.name;
    setSelected(new Set());
  };
  // Rows dragged from the listing itself go onto a folder (a folder's row, a crumb): moved,
  // as Move would, never uploaded. Only a plain folder's rows can be dragged (Listing).
  const dragged = useRef<Entry[]>();
  const dropDir = (target: Element) => target.closest<HTMLElement>('[data-dir]')?.dataset.dir;
  useWindowDrop(
    (target) => {
      const rows = dragged.current;
      if (!rows) return true;
      const dir = dropDir(target);
      return dir !== undefined && dir !== path && !rows.some((e) => isWithin(dir, e.path));
    },
    (data, target) => {
      const rows = dragged.current;
      dragged.current = undefined;
      if (!rows) return void droppedFiles(data).then((dropped) => upload(dropped.files, dropped.emptyDirs));
      void run(() => moveOrCopyInto(api, path, 'move', rows, dropDir(target)!, { onChanged: refresh, onRemaining: () => undefined, onNotice: setNotice, onMoved: focusAfterMove }));
    },
    (on) => setDragging(on && !dragged.current),
  );

  const download = () =>
    run(async () => {
      setNotice(undefined);
      if (e2e) {
        if (chosen.length === 1 && chosen[0].type === 'file' && !(chosen[0] as VaultEntry).foreign) setModal({ kind: 'vault-download', entry: chosen[0] as VaultEntry });
        return;
      }
      if (chosen.length === 1 && chosen[0].type === 'file' && isE2eName(chosen[0].name)) {
        setModal({ kind: 'decrypt', entry: chosen[0] });
        return;
      }
      if (chosen.length === 1 && chosen[0].type === 'file') {
        startDownload(await fileUrl(api, chosen[0].path, 'download'));
        return;
      }
      const { ticket } = await downloadTicket(api, path);
      const query = new URLSearchParams();
      for (const e of chosen) query.append('path', e.path);
      query.set('ticket', ticket);
      startDownload(`/api/v1/zip?${query}`);
    });
  const zipFolder = () =>
    run(async () => {
      setNotice(undefined);
      const { ticket } = await downloadTicket(api, path);
      startDownload(api.http.url(`/api/v1/zip${path === '/' ? '' : path.split('/').map(encodeURIComponent).join('/')}`, { ticket }));
    });

  useDeleteKey(() => {
    if (modal || chosen.length === 0 || (vault && !keys)) return false;
    setModal({ kind: 'delete', entries: chosen });
    return true;
  });

  const crumbs = path.split('/').filter(Boolean);
  // In a vault the address holds stored names: the crumbs show the plain ones.
  const labels = (e2e ? e2e.plainDir : path).split('/').filter(Boolean);
  return (
    <div class={`files ${dragging ? 'dragging' : ''}`}>
      <nav aria-label="Folder path" class="crumbs">
        <ol>
          <li>
            <a href="/files" onClick={(e) => linkClick(e, '/files')} aria-current={crumbs.length === 0 ? 'page' : undefined} data-dir={e2e ? undefined : '/'}>
              My files
            </a>
          </li>
          {crumbs.map((c, i) => {
            const to = filesUrl('/' + crumbs.slice(0, i + 1).join('/'));
            return (
              <li key={to}>
                <a href={to} onClick={(e) => linkClick(e, to)} aria-current={i === crumbs.length - 1 ? 'page' : undefined} data-dir={e2e ? undefined : '/' + crumbs.slice(0, i + 1).join('/')}>
                  {labels.length === crumbs.length ? labels[i] : c}
                </a>
              </li>
            );
          })}
        </ol>
      </nav>

      {vault && !keys && <VaultUnlock loc={vault.loc} />}
      {vault && keys && (
        <p class="vault-note">
          End-to-end encrypted folder {vault.loc.dir}: names and files are decrypted in this browser, with a key kept in this tab's memory only.{' '}
          <button type="button" onClick={lockVaults}>
            Lock
          </button>
        </p>
      )}

      {!(vault && !keys) && (
        <Toolbar chosen={chosen} busy={busy} vault={vault !== undefined} zippable={entries !== undefined && entries.length > 0} onModal={setModal} onUpload={upload} onDownload={download} onZipFolder={zipFolder} />
      )}

      <div class="filterbar">
        <label for={filterId}>Filter by name</label>
        <input id={filterId} type="search" value={filter} onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)} />
        {/* A phone's listing has no Modified column, whose header sorts by date: this does. */}
        <label class="phone-only sort-by">
          Sort by{' '}
          <select value={`${sort.key} ${sort.asc ? 'asc' : 'desc'}`} onChange={(e) => {
            const [key, dir] = (e.currentTarget as HTMLSelectElement).value.split(' ');
            setSort({ key: key as SortKey, asc: dir === 'asc' });
          }}>
            {SORTS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        {account && <Quota account={account} />}
      </div>

      {actionError === undefined && isFerryError(loadError, 'FERRY_ERR_NOT_FOUND') ? (
        <MissingFolder api={api} path={path} shown={e2e ? e2e.plainDir : path} />
      ) : (
        <Message error={actionError ?? loadError} />
      )}
      {/* Said by the live region below (one a page): shown here, not read twice. */}
      {notice && actionError === undefined && (
        <p class="notice">
          {notice}
          {undoShown && (
            <>
              {' '}
              <button type="button" ref={undoButton} onClick={() => undoDelete(undo)}>
                Undo
              </button>
            </>
          )}
        </p>
      )}
      {/* The folder did not load (the server was away): asked again here, without reloading the page. Not for a folder that is not there. */}
      {loadError !== undefined && actionError === undefined && isRetryable(loadError) && (
        <p>
          <button type="button" onClick={refresh}>
            Try again
          </button>
        </p>
      )}
      {!(vault && !keys) && <p class="hint drop-hint">Drop files or folders anywhere on this page to upload them here.</p>}
      {listing && <p class="hint listing-more">Listing the rest of this folder…</p>}

      {!(vault && !keys) && <Listing
        shown={shown}
        vault={vault !== undefined}
        loaded={entries !== undefined || loadError !== undefined}
        unanswered={unanswered}
        empty={entries !== undefined && shown.length === 0}
        filtered={filter !== ''}
        path={e2e ? e2e.plainDir : path}
        selected={selected}
        setSelected={(s) => {
          setSelected(s);
          setPicked(true);
          setNotice(undefined);
        }}
        sort={sort}
        setSort={setSort}
        onOpen={(entry) => setModal(e2e ? { kind: 'vault-download', entry: entry as VaultEntry } : { kind: 'preview', entry })}
        onDrag={(rows) => (dragged.current = rows)}
      />}

      <UploadPanel uploads={uploads} offer={undoShown ? `Undo: the button after this notice, for ${UNDO_MS / 1000} seconds.` : undefined} said={notice ?? (picked ? (chosen.length === 0 ? 'Nothing selected' : `${chosen.length.toLocaleString('en')} selected`) : undefined)} />

      {modal && <FileDialogs api={api} path={path} vault={e2e} modal={modal} trashDays={account?.trashDays} onClose={() => setModal(undefined)} onChanged={refresh} onDeleted={() => setSelected(new Set())} onRemaining={(rest) => setModal((m) => (m && 'entries' in m ? { ...m, entries: rest } : m))} onNotice={setNotice} onUndoable={(u) => {
        setNotice(u.text);
        setUndo(u);
      }} onMoved={focusAfterMove} onRenamed={(from, to) => {
        setSelected((s) => (s.has(from) ? new Set([...s].map((n) => (n === from ? to : n))) : s));
        focusRow.current = to;
      }} />}
    </div>
  );
}

/** Where a key is text being typed (the filter, a name), not a command for the page. */
function typingIn(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  return target instanceof HTMLInputElement && !['checkbox', 'radio', 'button', 'submit', 'reset', 'file'].includes(target.type);
}

/**
 * The Delete key on the page, as in a desktop file manager: `open` (the latest given) opens
 * the delete confirmation when rows are selected and says whether it did. Not while typing,
 * nor in a dialog; the confirmation still asks, so a key pressed by mistake deletes nothing.
 */
function useDeleteKey(open: () => boolean): void {
  const latest = useRef(open);
  latest.current = open;
  useEffect(() => {
    const down = (e: KeyboardEvent) => {
      if (e.key !== 'Delete' || e.altKey || e.ctrlKey || e.metaKey || e.defaultPrevented) return;
      if (typingIn(e.target) || (e.target instanceof Element && e.target.closest('dialog'))) return;
      if (latest.current()) e.preventDefault();
    };
    window.addEventListener('keydown', down);
    return () => window.removeEventListener('keydown', down);
  }, []);
}

/** The actions: new folder, uploads (files, a folder), downloads, and those on the selection. */
function Toolbar(props: { chosen: Entry[]; busy: boolean; vault: boolean; zippable: boolean; onModal: (m: Modal) => void; onUpload: (files: Array<{ file: File; rel: string }>) => void; onDownload: () => void; onZipFolder: () => void }) {
  const { chosen } = props;
  const filesInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const bar = useToolbar<HTMLDivElement>();
  return (
    <div class="toolbar" role="toolbar" aria-label="Files" {...bar}>
      <button type="button" onClick={() => props.onModal({ kind: 'mkdir' })}>
        New folder
      </button>
      <button type="button" class="primary" onClick={() => filesInput.current?.click()}>
        Upload files
      </button>
      <button type="button" onClick={() => folderInput.current?.click()}>
        Upload folder
      </button>
      <input
        ref={filesInput}
        type="file"
        multiple
        hidden
        aria-label="Files to upload"
        data-testid="upload-files"
        onChange={(e) => {
          const list = Array.from((e.currentTarget as HTMLInputElement).files ?? []);
          props.onUpload(list.map((file) => ({ file, rel: file.name })));
          (e.currentTarget as HTMLInputElement).value = '';
        }}
      />
      <input
        ref={folderInput}
        type="file"
        hidden
        aria-label="Folder to upload"
        data-testid="upload-folder"
        {...({ webkitdirectory: true } as Record<string, boolean>)}
        onChange={(e) => {
          const list = Array.from((e.currentTarget as HTMLInputElement).files ?? []);
          props.onUpload(list.map((file) => ({ file, rel: file.webkitRelativePath || file.name })));
          (e.currentTarget as HTMLInputElement).value = '';
        }}
      />
      {/* Only for a folder listed with something in it: an empty or missing one has nothing to zip. */}
      {!props.vault && props.zippable && (
        <button type="button" onClick={props.onZipFolder} disabled={props.busy}>
          Download folder (zip)
        </button>
      )}
      <span class="sep" />
      {props.vault ? (
        // A zip would hold the stored (encrypted) files: in a vault, files download one by one, decrypted here.
        <button type="button" disabled={chosen.length !== 1 || chosen[0].type !== 'file' || props.busy} onClick={props.onDownload}>
          Download
        </button>
      ) : (
        <button type="button" disabled={chosen.length === 0 || props.busy} onClick={props.onDownload}>
          Download{chosen.length > 1 || chosen.some((e) => e.type === 'dir') ? ' as zip' : ''}
        </button>
      )}
      <button type="button" disabled={chosen.length !== 1} onClick={() => props.onModal({ kind: 'rename', entry: chosen[0] })}>
        Rename
      </button>
      <button type="button" disabled={chosen.length === 0} onClick={() => props.onModal({ kind: 'move', entries: chosen })}>
        Move
      </button>
      <button type="button" disabled={chosen.length === 0} onClick={() => props.onModal({ kind: 'copy', entries: chosen })}>
        Copy
      </button>
      <button type="button" disabled={chosen.length !== 1 || (props.vault && chosen[0].type !== 'file')} onClick={() => props.onModal({ kind: 'share', entry: chosen[0] })}>
        Share
      </button>
      {!props.vault && (
        <button type="button" disabled={chosen.length !== 1 || chosen[0].type !== 'file'} onClick={() => props.onModal({ kind: 'versions', entry: chosen[0] })}>
          Versions
        </button>
      )}
      <button type="button" class="danger" disabled={chosen.length === 0} onClick={() => props.onModal({ kind: 'delete', entries: chosen })}>
        Delete
      </button>
    </div>
  );
}

/** A folder's entries: select, sort, open. */
function Listing(props: {
  shown: Entry[];
  vault: boolean;
  loaded: boolean;
  /** While loading: the server does not answer, its requests are being tried again. */
  unanswered: boolean;
  empty: boolean;
  filtered: boolean;
  path: string;
  selected: Set<string>;
  setSelected: (s: Set<string>) => void;
  sort: { key: SortKey; asc: boolean };
  setSort: (s: { key: SortKey; asc: boolean }) => void;
  onOpen: (e: Entry) => void;
  /** Rows dragged (the selection when the row is in it, else the row), or undefined when the drag ended. */
  onDrag: (rows: Entry[] | undefined) => void;
}) {
  const { shown, selected, setSelected, sort, setSort } = props;
  const chosen = shown.filter((e) => selected.has(e.name));
  const [rows, setRows] = useState(ROWS_AT_ONCE);
  useEffect(() => setRows(ROWS_AT_ONCE), [props.path]);
  const drawn = shown.length > rows ? shown.slice(0, rows) : shown;
  // The row last ticked or unticked: Shift with the next one does the same to the rows between
  // (as shown: sorted, filtered), as in a desktop file manager. Space on a checkbox is a click,
  // so Shift+Space does it from the keyboard.
  const anchor = useRef<string>();
  useEffect(() => void (anchor.current = undefined), [props.path]);
  const toggle = (name: string, range: boolean) => {
    const next = new Set(selected);
    const on = !next.has(name);
    const to = shown.findIndex((e) => e.name === name);
    const from = range && anchor.current !== undefined ? shown.findIndex((e) => e.name === anchor.current) : -1;
    const names = from < 0 ? [name] : shown.slice(Math.min(from, to), Math.max(from, to) + 1).map((e) => e.name);
    for (const n of names) on ? next.add(n) : next.delete(n);
    anchor.current = name;
    setSelected(next);
  };
  const sortButton = (key: SortKey, label: string) => {
    const active = sort.key === key;
    return (
      <th scope="col" aria-sort={active ? (sort.asc ? 'ascending' : 'descending') : 'none'} class={key === 'name' ? '' : 'num'}>
        <button type="button" class="sort" onClick={() => setSort({ key, asc: active ? !sort.asc : true })}>
          {label}
          <span aria-hidden="true">{active ? (sort.asc ? ' ▲' : ' ▼') : ''}</span>
        </button>
      </th>
    );
  };

  return (
    <table class="listing folder">
      <caption class="visually-hidden">Contents of {props.path}</caption>
      <thead>
        <tr>
          <th scope="col" class="check">
            <input
              type="checkbox"
              aria-label="Select all"
              checked={shown.length > 0 && chosen.length === shown.length}
              indeterminate={chosen.length > 0 && chosen.length < shown.length}
              onChange={(e) => setSelected(new Set((e.currentTarget as HTMLInputElement).checked ? shown.map((x) => x.name) : []))}
            />
          </th>
          {sortButton('name', 'Name')}
          {sortButton('size', 'Size')}
          {sortButton('mtime', 'Modified')}
        </tr>
      </thead>
      <tbody>
        {!props.loaded && (
          <tr>
            <td colSpan={4}>{props.unanswered ? 'Loading… the server does not answer: trying again' : 'Loading…'}</td>
          </tr>
        )}
        {props.empty && (
          <tr>
            {/* What to do, for a first-time user (a phone has no files to drop). */}
            <td colSpan={4}>{props.filtered ? 'Nothing matches the filter.' : 'This folder is empty. Upload files or a whole folder into it with the buttons above.'}</td>
          </tr>
        )}
        {drawn.map((e) => (
          <tr
            key={e.name}
            class={selected.has(e.name) ? 'selected' : ''}
            data-dir={e.type === 'dir' && !props.vault ? e.path : undefined}
            draggable={!props.vault}
            onDragStart={(ev) => {
              props.onDrag(selected.has(e.name) ? chosen : [e]);
              if (ev.dataTransfer) ev.dataTransfer.effectAllowed = 'move';
            }}
            onDragEnd={() => props.onDrag(undefined)}
          >
            <td class="check">
              <input type="checkbox" aria-label={`Select ${e.name}`} checked={selected.has(e.name)} onClick={(ev) => toggle(e.name, ev.shiftKey)} />
            </td>
            <td class="name">
              {e.type === 'dir' ? (
                <a href={filesUrl(e.path)} onClick={(ev) => linkClick(ev, filesUrl(e.path))}>
                  <FolderIcon />
                  {e.name}
                </a>
              ) : (
                <button type="button" class="link" onClick={() => props.onOpen(e)} aria-label={`Open ${e.name}`}>
                  <FileIcon />
                  {e.name}
                </button>
              )}
              {/* The Modified column is not shown on a phone: the time goes under the name. */}
              <span class="phone-only hint">{formatDate(e.mtime)}</span>
            </td>
            <td class="num">{e.type === 'dir' ? '—' : props.vault && !(e as VaultEntry).exact ? <span title="the stored (encrypted) size: a little larger than the file">{formatSize(e.size)} stored</span> : formatSize(e.size)}</td>
            <td class="num">{props.vault && e.type === 'file' && !(e as VaultEntry).exact ? <span title="when it was uploaded">{formatDate(e.mtime)} uploaded</span> : formatDate(e.mtime)}</td>
          </tr>
        ))}
        {drawn.length < shown.length && (
          <tr>
            <td colSpan={4}>
              {drawn.length.toLocaleString('en')} of {shown.length.toLocaleString('en')} shown; the filter looks through them all.{' '}
              <button type="button" onClick={() => setRows((n) => n + ROWS_AT_ONCE)}>
                Show {Math.min(ROWS_AT_ONCE, shown.length - drawn.length).toLocaleString('en')} more
              </button>
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

/** The dialogs of the file actions: new folder, rename, move, copy, delete, share, preview. */
interface DialogProps {
  api: FerryApi;
  path: string;
  modal: Modal;
  /** The server's trash retention, for what a delete says (unknown until /me answered). */
  trashDays?: number;
  onClose: () => void;
  onChanged: () => void;
  onDeleted: () => void;
  /** After a failure partway through several entries: those still to do (the dialog stays on them). */
  onRemaining: (entries: Entry[]) => void;
  /** What an action did, to say (the page's live region) once its dialog has closed. */
  onNotice: (text: string) => void;
  /** A delete whose files went to the trash: the page says so and offers it back. */
  onUndoable: (undo: Undoable) => void;
  /** An entry of this folder renamed: it stays selected, under its new name. */
  onRenamed: (from: string, to: string) => void;
  /** Entries moved out of this folder: the focus goes to the row that takes their place. */
  onMoved: (entries: Entry[]) => void;
}

/** How long a delete's Undo is offered (longer while it has the focus). */
const UNDO_MS = 10_000;

/** A delete the page can take back: the trash batches it made (README "Versions and trash"). */
interface Undoable {
  text: string;
  what: string;
  batches: string[];
}

/**
 * Deletes `entries` one by one (`remove`), then, when the server keeps a trash, finds the
 * batch each delete made (a delete is one batch; the newest at the entry's `stored` path with
 * an id above the newest before the delete, so an older delete of the same path is not taken
 * for it) and offers them back. A folder that held no files made none: nothing to offer.
 */
async function deleteWithUndo(props: DialogProps, entries: Entry[], stored: (e: Entry) => string, remove: (e: Entry) => Promise<void>): Promise<void> {
  const { api } = props;
  const before = props.trashDays && props.trashDays > 0 ? await listTrashPage(api, '/', { limit: 1 }).then((p) => p.entries[0]?.id ?? 0, () => undefined) : undefined;
  const done: Entry[] = [];
  await eachEntry(entries, async (e) => {
    await remove(e);
    done.push(e);
  }, props);
  props.onDeleted();
  if (before === undefined) return;
  const batches = new Set<string>();
  for (const e of done) {
    const newest = await listTrashPage(api, stored(e), { limit: 1 }).then((p) => p.entries[0], () => undefined);
    if (newest && newest.id > before) batches.add(newest.batch);
  }
  const what = done.length === 1 ? done[0].name : `${done.length} items`;
  if (batches.size > 0) props.onUndoable({ text: `Deleted ${what}.`, what, batches: [...batches] });
}

/**
 * Runs an action on each entry in turn. When one fails, those before it are done: the
 * listing is refreshed at once and the dialog keeps only the entries still to do (its
 * title, and a second try, are about those), then the error is shown in the dialog.
 */
async function eachEntry(entries: Entry[], act: (e: Entry) => Promise<void>, props: Pick<DialogProps, 'onChanged' | 'onRemaining'>): Promise<void> {
  for (let i = 0; i < entries.length; i++) {
    try {
      await act(entries[i]);
    } catch (err) {
      if (i > 0) {
        props.onRemaining(entries.slice(i));
        props.onChanged();
      }
      throw err;
    }
  }
  props.onChanged();
}

/**
 * The server's "already exists" of a rename, move, copy or new folder (none replaces what is
 * there), said with the name, where it is and what to do, as an upload's is.
 */
function whenTaken(to: string, here: string, todo: string): (err: unknown) => never {
  return (err) => {
    if (!isFerryError(err, 'FERRY_ERR_ALREADY_EXISTS')) throw err;
    const dir = parentPath(to);
    throw new Error(`${baseName(to)} already exists ${dir === here ? 'here' : `in ${dir}`}: ${todo}`, { cause: err });
  };
}

/**
 * What a move or copy did, said once its dialog has closed: a copy into another folder left
 * nothing to see here, and one into its own folder has a name the person did not choose.
 */
function movedOrCopied(kind: 'move' | 'copy', entries: Entry[], dir: string, copiesHere: string[]): string {
  const what = entries.length === 1 ? entries[0].name : `${entries.length.toLocaleString('en')} items`;
  if (kind === 'move') return `Moved ${what} to ${dir}.`;
  if (copiesHere.length === 1) return `Copied ${what} here as ${copiesHere[0]}.`;
  if (copiesHere.length > 1) return `Copied ${what} here, each named "(copy)".`;
  return `Copied ${what} to ${dir}.`;
}

/**
 * Move and Copy go into a folder that exists: the server would make a missing one, so a
 * mistyped name took the files into a new folder elsewhere, out of sight.
 */
async function refuseMissingFolder(api: FerryApi, dir: string): Promise<void> {
  const found = await api.stat(dir).catch((err: unknown) => {
    if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return undefined;
    throw err;
  });
  if (found === undefined) throw new Error(`There is no folder ${dir}: check its name, or make it first with New folder.`);
  if (found.type !== 'dir') throw new Error(`${dir} is a file, not a folder.`);
}

/** Move's and Copy's folder picker: its own chunk, fetched when one of them opens. */
const FolderPicker = lazyPart(async () => (await import('./folder-picker.js')).FolderPicker);

/**
 * Targets refused before any request, each with what to do: a folder into itself (or below
 * it), and a move into the folder the entry is in already (the server's "source and
 * destination are the same" said neither which nor what to do).
 */
function refuseTarget(kind: 'move' | 'copy', entries: Entry[], dir: string): void {
  for (const e of entries) {
    if (e.type === 'dir' && isWithin(dir, e.path)) throw new Error(`${e.name} cannot go into itself (${dir} is ${dir === e.path ? 'that folder' : 'inside it'}): choose a folder outside it.`);
    if (kind === 'move' && parentPath(e.path) === dir) throw new Error(`${e.name} is in ${dir} already: choose another folder.`);
  }
}

/**
 * Moves or copies `entries` (of the folder `here`) into the folder `dest`, after the refusals
 * said in a sentence ({@link refuseTarget}, a missing folder), then says what it did: the
 * Move and Copy dialogs, and rows dropped onto a folder.
 */
async function moveOrCopyInto(api: FerryApi, here: string, kind: 'move' | 'copy', entries: Entry[], dest: string, props: Pick<DialogProps, 'onChanged' | 'onRemaining' | 'onNotice' | 'onMoved'>): Promise<void> {
  const dir = joinPath('/', dest);
  refuseTarget(kind, entries, dir);
  await refuseMissingFolder(api, dir);
  const copiesHere: string[] = [];
  await eachEntry(
    entries,
    async (e) => {
      const to = joinPath(dir, e.name);
      const taken = whenTaken(to, here, 'rename one of the two first, or choose another folder.');
      if (kind === 'move' && e.type === 'dir') await moveFolderOrVault(api, e.path, to).catch(taken);
      else if (kind === 'move') await api.move(e.path, to, { overwrite: false }).catch(taken);
      else if (parentPath(e.path) === dir) {
        const copy = await copyName(api, e);
        await api.copy(e.path, copy, { overwrite: false });
        copiesHere.push(baseName(copy));
      } else await api.copy(e.path, to, { overwrite: false }).catch(taken);
    },
    props,
  );
  if (kind === 'move') props.onMoved(entries);
  props.onNotice(movedOrCopied(kind, entries, dir, copiesHere));
}

/** Names tried for a copy in its own folder before giving up. */
const COPY_NAMES = 100;

/**
 * Where a copy into the entry's own folder goes, as a desktop file manager names it:
 * "photo (copy).jpg", then "photo (copy 2).jpg"... (the server refused the same path: "source
 * and destination are the same").
 */
async function copyName(api: FerryApi, entry: Entry): Promise<string> {
  const dot = entry.type === 'file' ? entry.name.lastIndexOf('.') : -1;
  const [stem, ext] = dot > 0 ? [entry.name.slice(0, dot), entry.name.slice(dot)] : [entry.name, ''];
  for (let n = 1; n <= COPY_NAMES; n++) {
    const to = joinPath(parentPath(entry.path), `${stem} (copy${n === 1 ? '' : ` ${n}`})${ext}`);
    if ((await api.statIfExists(to)) === undefined) return to;
  }
  throw new Error(`${entry.name} has ${COPY_NAMES} copies in this folder already: copy it into another folder.`);
}

/** A new name is one name: with a `/` a rename would move the item into other (new) folders. */
function refuseSlash(name: string): void {
  if (name.includes('/')) throw new Error("A name cannot contain '/': to put it in another folder, use Move.");
  // The server's answer ("path segment not allowed") is jargon: say what the two names mean.
  if (name === '.' || name === '..') throw new Error('A name cannot be . or .. (they mean this folder and the folder above it): choose another name.');
}

/**
 * What happens to deleted files, for the delete confirmation. The trash keeps files, not
 * folders: a folder that holds no file (`noFiles`, once known) is gone for good whatever
 * `trashDays` says; until that is known for a delete of folders only, the text says neither.
 */
function deleteText(entries: Entry[], trashDays: number | undefined, noFiles: boolean | undefined): string {
  const what =
    entries.length === 1
      ? `Delete ${entries[0].name}${entries[0].type === 'dir' ? ' and everything in it' : ''}?`
      : `Delete these ${entries.length} items (folders with everything in them)?`;
  if (trashDays === undefined) return what;
  if (trashDays <= 0) return `${what} This cannot be undone: this server keeps no trash.`;
  if (noFiles === true) return `${what} ${entries.length === 1 ? 'It holds' : 'They hold'} no files, so nothing goes to the trash: ${entries.length === 1 ? 'it is' : 'they are'} gone for good.`;
  if (noFiles === undefined && entries.every((e) => e.type === 'dir')) return what;
  return `${what} Files go to the trash for ${trashDays} day${trashDays === 1 ? '' : 's'}.`;
}

/** Entries a delete looks through for a file before saying the folders hold none. */
const FILE_LOOKUP_LIMIT = 1000;

/** Whether no file is in or below `entries` (all folders): true, false, or undefined when not known. */
async function holdNoFiles(api: FerryApi, entries: Entry[], signal: AbortSignal): Promise<boolean | undefined> {
  if (entries.some((e) => e.type !== 'dir')) return false;
  let seen = 0;
  for (const dir of entries) {
    for await (const e of api.list(dir.path, { recursive: true, pageSize: 200, signal })) {
      if (e.type === 'file') return false;
      if (++seen >= FILE_LOOKUP_LIMIT) return undefined;
    }
  }
  return true;
}

/**
 * The delete confirmation; what the folders hold is looked up for what it says (in a vault
 * too: an entry's `path` there is its stored path, and a file is a file whatever its name).
 */
function DeleteDialog(props: { entries: Entry[]; trashDays?: number; api: FerryApi; onClose: () => void; onConfirm: () => Promise<void> }) {
  const [noFiles, setNoFiles] = useState<boolean | undefined>(props.entries.some((e) => e.type !== 'dir') ? false : undefined);
  const key = props.entries.map((e) => e.path).join('\0');
  useEffect(() => {
    if (!props.trashDays || props.trashDays <= 0) return;
    const controller = new AbortController();
    holdNoFiles(props.api, props.entries, controller.signal).then(
      (v) => !controller.signal.aborted && setNoFiles(v),
      () => !controller.signal.aborted && setNoFiles(false),
    );
    return () => controller.abort();
  }, [key, props.trashDays]);
  return <Confirm title="Delete" text={deleteText(props.entries, props.trashDays, noFiles)} confirm="Delete" danger onClose={props.onClose} onConfirm={props.onConfirm} />;
}

function FileDialogs(props: DialogProps & { vault?: VaultOpen }) {
  const { api, path, modal } = props;
  if (props.vault) return <VaultDialogs {...props} vault={props.vault} />;
  return (
    <>
      {modal?.kind === 'mkdir' && (
        <NameDialog
          title="New folder"
          label="Folder name"
          submit="Create"
          onClose={props.onClose}
          onSubmit={async (name) => {
            if (name.includes('/')) throw new Error("A folder name cannot contain '/': open the folder first to make one inside it.");
            const to = joinPath(path, name);
            await api.mkdir(to).catch(whenTaken(to, path, 'choose another name.'));
            props.onChanged();
          }}
        />
      )}
      {modal?.kind === 'rename' && (
        <NameDialog
          title={`Rename ${modal.entry.name}`}
          label="New name"
          submit="Rename"
          initial={modal.entry.name}
          selectStem={modal.entry.type === 'file'}
          onClose={props.onClose}
          onSubmit={async (name) => {
            refuseSlash(name);
            const to = joinPath(parentPath(modal.entry.path), name);
            // A vault's own folder: with its keys, if it is unlocked in this tab.
            const taken = whenTaken(to, path, 'choose another name, or rename or delete that one first.');
            if (modal.entry.type === 'dir') await moveFolderOrVault(api, modal.entry.path, to).catch(taken);
            else await api.move(modal.entry.path, to, { overwrite: false }).catch(taken);
            props.onRenamed(modal.entry.name, name);
            props.onChanged();
          }}
        />
      )}
      {(modal?.kind === 'move' || modal?.kind === 'copy') && (
        <NameDialog
          title={`${modal.kind === 'move' ? 'Move' : 'Copy'} ${modal.entries.length === 1 ? modal.entries[0].name : `${modal.entries.length} items`}`}
          label="To folder"
          submit={modal.kind === 'move' ? 'Move' : 'Copy'}
          initial={path}
          onClose={props.onClose}
          below={(setValue) => <FolderPicker api={api} start={path} onGo={setValue} />}
          onSubmit={(dest) => moveOrCopyInto(api, path, modal.kind, modal.entries, dest, props)}
        />
      )}
      {modal?.kind === 'delete' && (
        <DeleteDialog
          entries={modal.entries}
          trashDays={props.trashDays}
          api={api}
          onClose={props.onClose}
          onConfirm={() => deleteWithUndo(props, modal.entries, (e) => e.path, (e) => api.remove(e.path, { recursive: e.type === 'dir' }))}
        />
      )}
      {modal?.kind === 'share' && <ShareDialog api={api} entry={modal.entry} onClose={props.onClose} />}
      {modal?.kind === 'preview' && <Preview api={api} entry={modal.entry} onClose={props.onClose} />}
      {modal?.kind === 'decrypt' && <DecryptDialog api={api} entry={modal.entry} onClose={props.onClose} />}
      {modal?.kind === 'versions' && <VersionsDialog api={api} entry={modal.entry} onClose={props.onClose} onChanged={props.onChanged} onNotice={props.onNotice} />}
    </>
  );
}

/**
 * The real size and mtime of each file of a vault folder, from its sealed table (a manifest
 * and the first chunk per file, a few files at once); until then the stored size and the
 * upload time are shown, and marked as such.
 */
async function readVaultDetails(api: FerryApi, keys: E2eKeys, entries: VaultEntry[], stopped: () => boolean, update: (e: VaultEntry) => void): Promise<void> {
  const files = entries.filter((e) => e.type === 'file' && !e.foreign);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < files.length && !stopped(); i = next++) {
      const e = files[i];
      try {
        const { info } = await fileInfo(api, keys, e.stored);
        if (!stopped()) update({ ...e, size: info.size, mtime: info.mtime, exact: true });
      } catch {
        // not a readable encrypted file (damaged, or foreign): it keeps its stored figures
      }
    }
  };
  await Promise.all(Array.from({ length: INFO_AT_ONCE }, worker));
}

/** The file dialogs in a vault: the same dialogs, on stored paths, names encrypted here. */
function VaultDialogs(props: DialogProps & { vault: VaultOpen }) {
  const { api, modal, vault } = props;
  const path = vault.plainDir;
  const ops = vaultOps(api, vault.keys, vault.loc);
  return (
    <>
      {modal.kind === 'mkdir' && (
        <NameDialog
          title="New folder"
          label="Folder name"
          submit="Create"
          onClose={props.onClose}
          onSubmit={async (name) => {
            await ops.mkdir(vault.storedDir, path, name);
            props.onChanged();
          }}
        />
      )}
      {modal.kind === 'rename' && (
        <NameDialog
          title={`Rename ${modal.entry.name}`}
          label="New name"
          submit="Rename"
          initial={modal.entry.name}
          selectStem={modal.entry.type === 'file'}
          onClose={props.onClose}
          onSubmit={async (name) => {
            refuseSlash(name);
            await ops.rename(modal.entry as VaultEntry, path, name);
            props.onRenamed(modal.entry.name, name);
            props.onChanged();
          }}
        />
      )}
      {(modal.kind === 'move' || modal.kind === 'copy') && (
        <NameDialog
          title={`${modal.kind === 'move' ? 'Move' : 'Copy'} ${modal.entries.length === 1 ? modal.entries[0].name : `${modal.entries.length} items`}`}
          label="To folder (in this end-to-end folder)"
          submit={modal.kind === 'move' ? 'Move' : 'Copy'}
          initial={path}
          onClose={props.onClose}
          onSubmit={async (dest) => {
            const dir = joinPath('/', dest);
            await eachEntry(modal.entries, (e) => (modal.kind === 'move' ? ops.moveTo : ops.copyTo)(e as VaultEntry, dir), props);
            props.onNotice(movedOrCopied(modal.kind, modal.entries, dir, []));
          }}
        />
      )}
      {modal.kind === 'delete' && (
        <DeleteDialog
          entries={modal.entries}
          trashDays={props.trashDays}
          api={api}
          onClose={props.onClose}
          onConfirm={() => deleteWithUndo(props, modal.entries, (e) => (e as VaultEntry).stored, (e) => ops.remove(e as VaultEntry))}
        />
      )}
      {modal.kind === 'share' && (
        <ShareDialog
          api={api}
          entry={{ ...modal.entry, path: (modal.entry as VaultEntry).stored }}
          fragment={async () => `k=${toBase64Url((await fileInfo(api, vault.keys, (modal.entry as VaultEntry).stored)).fileKey)}`}
          onClose={props.onClose}
        />
      )}
      {modal.kind === 'vault-download' && <VaultDownload api={api} keys={vault.keys} entry={modal.entry} onClose={props.onClose} />}
    </>
  );
}

/**
 * Downloads an end-to-end encrypted file decrypted: the passphrase stays in this page, the
 * key is derived here (scrypt) and the file decrypted here; a wrong passphrase is told
 * before any byte is offered.
 */
function DecryptDialog(props: { api: FerryApi; entry: Entry; onClose: () => void }) {
  const [passphrase, setPassphrase] = useState('');
  const [busy, error, run] = useAction();
  const [done, setDone] = useState<string>();
  const id = useId('e2e-pass');
  return (
    <Dialog title="End-to-end encrypted file" onClose={props.onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const url = await fileUrl(props.api, props.entry.path, 'download');
            const { blob, info } = await decryptUrl(url, {}, { passphrase });
            setDone(`Decrypted and verified: ${info.name} (${formatSize(info.size)})`);
            saveBlob(blob, info.name);
          });
        }}
      >
        <p>This file was encrypted before it left its owner's machine. Its passphrase decrypts it here, in this browser.</p>
        <label for={id}>Passphrase</label>
        <input id={id} type="password" autoComplete="off" required value={passphrase} {...fieldError(error, id + 'e')} onInput={(e) => setPassphrase((e.currentTarget as HTMLInputElement).value)} />
        <Message error={error} id={id + 'e'} />
        {done && <p role="status">{done}</p>}
        <div class="buttons">
          <button type="button" onClick={props.onClose}>
            Close
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Decrypting…' : 'Decrypt and download'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** What the account uses of its quotas: bytes, and files (a file-count quota refuses uploads as surely as a full byte quota). */
function Quota(props: { account: MeResponse }) {
  const { usage, limits } = props.account;
  const max = limits.quotaBytes;
  const maxFiles = limits.quotaFiles;
  return (
    <p class="quota">
      <span>
        {max !== null ? (
          <>
            <label>
              <span class="visually-hidden">Quota used</span>
              <progress max={max} value={Math.min(usage.bytes, max)} />
            </label>{' '}
            {formatSize(usage.bytes)} of {formatSize(max)} used
          </>
        ) : (
          <>{formatSize(usage.bytes)} used</>
        )}
      </span>
      <span class="sep" aria-hidden="true"> · </span>
      {maxFiles !== null ? (
        <>
          <span>
            <label>
              <span class="visually-hidden">File quota used</span>
              <progress max={maxFiles} value={Math.min(usage.files, maxFiles)} />
            </label>{' '}
            {formatCount(usage.files, 'file')} of {maxFiles.toLocaleString('en')}
          </span>
          {usage.files >= maxFiles && <strong> (full: delete files to upload more)</strong>}
        </>
      ) : (
        <span>{formatCount(usage.files, 'file')}</span>
      )}
    </p>
  );
}

/**
 * A dialog asking for one name (new folder, rename, destination). `selectStem`: the name is
 * selected without its extension, as a file manager's rename does (typing keeps ".pdf").
 */
export function NameDialog(props: {
  title: string;
  label: string;
  submit: string;
  initial?: string;
  selectStem?: boolean;
  onSubmit: (value: string) => Promise<void>;
  onClose: () => void;
  /** Under the field: what else sets its value (Move's folder picker). */
  below?: (setValue: (value: string) => void) => ComponentChildren;
}) {
  const [value, setValue] = useState(props.initial ?? '');
  const [busy, error, run] = useAction();
  const id = useId('name');
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => {
    // After the dialog opened and focused the field (its effect runs first).
    const input = field.current;
    if (!input) return;
    const dot = props.selectStem ? input.value.lastIndexOf('.') : -1;
    input.setSelectionRange(0, dot > 0 ? dot : input.value.length);
  }, []);
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            // `required` lets spaces through; trimmed they would name the folder itself.
            if (value.trim() === '') throw new Error(`${props.label} cannot be only spaces.`);
            await props.onSubmit(value.trim());
            props.onClose();
          });
        }}
      >
        <label for={id}>{props.label}</label>
        <input id={id} ref={field} value={value} required autoFocus {...fieldError(error, id + 'e')} onInput={(e) => setValue((e.currentTarget as HTMLInputElement).value)} />
        <Message error={error} id={id + 'e'} />
        {props.below?.(setValue)}
        <div class="buttons">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {props.submit}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

const EXPIRIES: Array<[string, number | undefined]> = [
  ['Never', undefined],
  ['1 hour', 3600],
  ['1 day', 86_400],
  ['7 days', 7 * 86_400],
  ['30 days', 30 * 86_400],
];

/**
 * What a link allows, in the words of its form, said again with the link: the form is gone
 * by then, and the person passing the link on tells its recipient these.
 */
export function linkTerms(s: ShareInfo): string[] {
  const terms = [s.expiresAt === null ? 'Never expires.' : `Expires ${formatDate(s.expiresAt)}.`];
  terms.push(s.hasPassword ? 'Asks for the password you set: give it to the people you send the link to.' : 'No password: the link alone is enough.');
  if (s.kind === 'upload') {
    terms.push(s.maxUses === null ? 'Accepts any number of files.' : `Accepts at most ${formatCount(s.maxUses, 'file')}.`);
    terms.push(s.maxBytes === null ? 'No limit on their total size.' : `Accepts at most ${formatSize(s.maxBytes)} in all.`);
  } else {
    terms.push(s.maxUses === null ? 'Can be downloaded any number of times.' : `Can be downloaded ${s.maxUses === 1 ? 'once' : `${s.maxUses} times`}, then stops working.`);
  }
  return terms;
}

/** Creates a share link to an entry: expiry, password, downloads allowed, or a drop box for a folder. */
export function ShareDialog(props: { api: FerryApi; entry: Entry; onClose: () => void; fragment?: () => Promise<string> }) {
  const { entry } = props;
  const [kind, setKind] = useState<'download' | 'upload'>('download');
  const [expiry, setExpiry] = useState('1 day');
  const [password, setPassword] = useState('');
  const [maxUses, setMaxUses] = useState('');
  const [maxBytes, setMaxBytes] = useState('');
  const [created, setCreated] = useState<CreatedShare>();
  const [busy, error, run] = useAction();
  const ids = { kind: useId('kind'), exp: useId('exp'), pw: useId('pw'), max: useId('max'), bytes: useId('bytes') };
  if (created) {
    return (
      <Dialog title="Link created" onClose={props.onClose}>
        <p>Anyone with this link can {created.kind === 'upload' ? `send files into ${entry.name}` : `download ${entry.name}`}. It is shown only now.</p>
        {props.fragment && (
          <p>
            The file is end-to-end encrypted: its key is in the link, after <code>#</code>. Browsers never send that part to a server, so the recipient's browser decrypts the file; anyone
            with the whole link can read this one file (and nothing else of yours).
          </p>
        )}
        <ShownOnce label="Link" value={created.url} copyLabel="Copy link" onDone={props.onClose}>
          <ul class="terms">
            {linkTerms(created).map((term) => (
              <li key={term}>{term}</li>
            ))}
          </ul>
        </ShownOnce>
      </Dialog>
    );
  }
  return (
    <Dialog title={`Share ${entry.name}`} onClose={props.onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const seconds = EXPIRIES.find(([l]) => l === expiry)?.[1];
            // The file key first: a wrong key or a damaged file makes no link.
            const fragment = props.fragment ? await props.fragment() : undefined;
            const made = await createShare(props.api, {
              path: entry.path,
              kind,
              expiresInSeconds: seconds,
              password: password === '' ? undefined : password,
              maxUses: maxUses === '' ? undefined : Number(maxUses),
              // A drop box's byte cap, in the CLI's sizes (500M, 2G); a typo is the form's error.
              maxBytes: kind !== 'upload' || maxBytes.trim() === '' ? undefined : parseSize(maxBytes),
            });
            setCreated(fragment ? { ...made, url: `${made.url}#${fragment}` } : made);
          });
        }}
      >
        {entry.type === 'dir' && (
          <>
            <label for={ids.kind}>Kind of link</label>
            <select id={ids.kind} value={kind} onChange={(e) => setKind((e.currentTarget as HTMLSelectElement).value as 'download' | 'upload')}>
              <option value="download">Download: people get its files</option>
              <option value="upload">Drop box: people send files in</option>
            </select>
          </>
        )}
        <label for={ids.exp}>Expires after</label>
        <select id={ids.exp} value={expiry} onChange={(e) => setExpiry((e.currentTarget as HTMLSelectElement).value)}>
          {EXPIRIES.map(([l]) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </select>
        {/* The server's rule for every password (src/server/passwords.ts), said before it refuses one. */}
        <label for={ids.pw}>Password (optional, 8 characters or more)</label>
        <input id={ids.pw} type="password" autoComplete="new-password" minLength={8} value={password} onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
        <label for={ids.max}>{kind === 'upload' ? 'Files accepted at most (optional)' : 'Downloads allowed (optional)'}</label>
        <input id={ids.max} type="number" min={1} inputMode="numeric" value={maxUses} onInput={(e) => setMaxUses((e.currentTarget as HTMLInputElement).value)} />
        {kind === 'upload' && (
          <>
            <label for={ids.bytes}>Bytes accepted in all (optional: 500M, 2G)</label>
            <input id={ids.bytes} value={maxBytes} onInput={(e) => setMaxBytes((e.currentTarget as HTMLInputElement).value)} />
          </>
        )}
        <Message error={error} />
        <div class="buttons">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Create link
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export { navigate };
