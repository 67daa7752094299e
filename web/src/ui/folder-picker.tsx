/**
 * The folder picker of Move and Copy: the folders of one folder at a time, from the one shown
 * when the dialog opened. Up goes to the folder above, a folder's button opens it, and
 * "New folder" makes one there and opens it; each step names the folder the dialog's field
 * then holds. Every control is a native button or field (Tab and Enter). Its own chunk
 * (lazy): most visits never move anything, and the first page has a size budget.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { FerryApi } from '../../../src/client/api.js';
import { isFerryError } from '../../../src/core/errors.js';
import { baseName, joinPath, parentPath } from '../../../src/core/path.js';
import { Message, useId } from './common.js';
import { FolderIcon } from './icons.js';

/** Folders listed at most: past them, the folder's path is typed. */
const MAX_FOLDERS = 1000;

export function FolderPicker(props: { api: FerryApi; start: string; onGo: (dir: string) => void }) {
  const { api } = props;
  const [dir, setDir] = useState(props.start);
  const [folders, setFolders] = useState<{ dir: string; names: string[]; more: boolean }>();
  const [error, setError] = useState<unknown>();
  const [naming, setNaming] = useState(false);
  const [name, setName] = useState('');
  const nameId = useId('picker-name');
  const list = useRef<HTMLDivElement>(null);
  const nameField = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (naming) nameField.current?.focus();
  }, [naming]);
  // Set when the person moved (not when the dialog opened): the focus then goes to the new folder's first control.
  const moved = useRef(false);

  useEffect(() => {
    const controller = new AbortController();
    setError(undefined);
    void (async () => {
      const names: string[] = [];
      let more = false;
      for await (const e of api.list(dir, { pageSize: MAX_FOLDERS, signal: controller.signal })) {
        if (e.type !== 'dir') continue;
        if (names.length === MAX_FOLDERS) {
          more = true;
          break;
        }
        names.push(e.name);
      }
      names.sort((a, b) => a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' }));
      setFolders({ dir, names, more });
    })().catch((err: unknown) => {
      if (!controller.signal.aborted) setError(err);
    });
    return () => controller.abort();
  }, [dir]);

  useEffect(() => {
    if (!moved.current || folders?.dir !== dir) return;
    moved.current = false;
    (list.current?.querySelector<HTMLElement>('ul button') ?? list.current?.querySelector<HTMLElement>('button:not(:disabled)'))?.focus();
  }, [folders]);

  const go = (to: string) => {
    moved.current = true;
    setNaming(false);
    setDir(to);
    props.onGo(to);
  };

  const make = async () => {
    const n = name.trim();
    if (n === '' || n.includes('/') || n === '.' || n === '..') {
      setError(new Error("A folder name cannot be empty, '.', '..' or contain '/': choose another name."));
      return;
    }
    const to = joinPath(dir, n);
    try {
      await api.mkdir(to);
    } catch (err) {
      setError(isFerryError(err, 'FERRY_ERR_ALREADY_EXISTS') ? new Error(`${n} already exists in ${dir}: open it, or choose another name.`) : err);
      return;
    }
    setName('');
    go(to);
  };

  const shown = folders?.dir === dir ? folders : undefined;
  return (
    <div class="picker" ref={list} role="group" aria-label="Choose a folder">
      <p class="picker-here" role="status">
        In {dir === '/' ? 'your home folder (/)' : dir}
        {shown ? `: ${shown.names.length === 0 ? 'no folders' : `${shown.names.length.toLocaleString('en')}${shown.more ? '+' : ''} folder${shown.names.length === 1 ? '' : 's'}`}` : ''}
      </p>
      <div class="picker-bar">
        <button type="button" disabled={dir === '/'} aria-label={dir === '/' ? 'Up' : `Up to ${parentPath(dir) === '/' ? 'your home folder' : baseName(parentPath(dir))}`} onClick={() => go(parentPath(dir))}>
          ↑ Up
        </button>
        <button type="button" aria-expanded={naming} aria-label={`New folder in ${dir}`} onClick={() => setNaming(!naming)}>
          + New folder
        </button>
      </div>
      {naming && (
        <div class="picker-new">
          <label for={nameId}>New folder name</label>
          <input
            id={nameId}
            value={name}
            ref={nameField}
            onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
            onKeyDown={(e) => {
              // Enter makes the folder (not the dialog's Move); Escape closes this row, not the dialog.
              if (e.key === 'Enter') {
                e.preventDefault();
                void make();
              } else if (e.key === 'Escape') {
                e.preventDefault();
                setNaming(false);
              }
            }}
          />
          <button type="button" onClick={() => void make()}>
            Create and open
          </button>
        </div>
      )}
      <Message error={error} />
      {shown && shown.names.length > 0 && (
        <ul class="picker-list" aria-label={`Folders in ${dir}`}>
          {shown.names.map((n) => (
            <li key={joinPath(dir, n)}>
              <button type="button" aria-label={`Open ${n}`} onClick={() => go(joinPath(dir, n))}>
                <FolderIcon /> {n}
              </button>
            </li>
          ))}
        </ul>
      )}
      {shown?.more && <p>More folders than shown here: type the folder's path above.</p>}
    </div>
  );
}
