/**
 * The person's trash (README "Versions and trash"): files deleted while the server keeps a
 * trash, newest first; put one back where it was or somewhere else, put back everything one
 * delete removed, or empty the trash.
 */
import { useEffect, useState } from 'preact/hooks';
import type { FerryApi } from '../../../src/client/api.js';
import { me } from '../../../src/client/account-api.js';
import { emptyTrash, listTrash, listTrashPage, othersWithTrashAt, restoreTrash, type TrashEntry } from '../../../src/client/versions.js';
import { joinPath, parentPath } from '../../../src/core/path.js';
import { formatDate, formatSize } from '../format.js';
import { filesUrl, linkClick } from '../router.js';
import { maskedPath, onKeysChanged, showStoredPath, type ShownPath } from '../vault.js';
import { Breakable, Confirm, DateTime, Listing, Message, useAction, useToolbar } from './common.js';
import { NameDialog } from './files.js';

const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/** Entries fetched at a time: more only when asked for (a trash can hold far more than a page should show). */
export const TRASH_PAGE_SIZE = 500;

/** What the Empty trash dialog adds for an admin: whose trash goes too (listed here with theirs). */
function othersNote(others: string[]): string {
  if (others.length === 0) return '';
  const names = others.slice(0, 3).join(', ') + (others.length > 3 ? ', …' : '');
  const whose = others.length === 1 ? `1 other user (${names})` : `${others.length} other users (${names})`;
  return `As the admin, this empties the trash of ${whose} too: what they deleted is listed here with yours. `;
}

/** How many entries each delete (batch) put in the trash. */
function batchSizes(entries: TrashEntry[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const e of entries) sizes.set(e.batch, (sizes.get(e.batch) ?? 0) + 1);
  return sizes;
}

/** The trash's stored paths as this tab shows them, again whenever a vault is unlocked or locked. */
function useShownPaths(entries: TrashEntry[] | undefined): Map<string, ShownPath> {
  const [shown, setShown] = useState(new Map<string, ShownPath>());
  const [keysEpoch, setKeysEpoch] = useState(0);
  useEffect(() => onKeysChanged(() => setKeysEpoch((n) => n + 1)), []);
  useEffect(() => {
    let live = true;
    const paths = [...new Set((entries ?? []).map((e) => e.path))];
    void Promise.all(paths.map(showStoredPath)).then((list) => live && setShown(new Map(paths.map((p, i) => [p, list[i]]))));
    return () => void (live = false);
  }, [entries, keysEpoch]);
  return shown;
}

export function TrashPage(props: { api: FerryApi }) {
  const { api } = props;
  const [entries, setEntries] = useState<TrashEntry[]>();
  // The cursor of the page after those shown (undefined: all are shown).
  const [next, setNext] = useState<string>();
  const [loadingMore, setLoadingMore] = useState(false);
  const [days, setDays] = useState<number>();
  // An admin's listing shows what everyone deleted: Empty trash then empties the trash of these users too, and says so.
  const [others, setOthers] = useState<string[]>([]);
  const [loadError, setLoadError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const bar = useToolbar<HTMLDivElement>();
  const [emptying, setEmptying] = useState(false);
  const [moving, setMoving] = useState<TrashEntry>();
  const [reload, setReload] = useState(0);
  const [busy, actionError, run, clearError] = useAction();
  useEffect(() => {
    let live = true;
    listTrashPage(api, '/', { limit: TRASH_PAGE_SIZE }).then((page) => {
      if (!live) return;
      setEntries(page.entries);
      setNext(page.next);
    }, setLoadError);
    // One /me for both: the trash's days, and whether the caller is an admin (othersWithTrashAt).
    const self = me(api);
    self.then((m) => live && setDays(m.trashDays ?? 0), () => undefined);
    self.then((m) => othersWithTrashAt(api, '/', m)).then((names) => live && setOthers(names), () => undefined);
    return () => void (live = false);
  }, [reload]);
  const loadMore = () => {
    if (next === undefined) return;
    setLoadingMore(true);
    listTrashPage(api, '/', { limit: TRASH_PAGE_SIZE, cursor: next })
      .then((page) => {
        setEntries((list) => [...(list ?? []), ...page.entries]);
        setNext(page.next);
      }, setLoadError)
      .finally(() => setLoadingMore(false));
  };
  const shown = useShownPaths(entries);
  const show = (e: TrashEntry): ShownPath => shown.get(e.path) ?? maskedPath(e.path);

  /** Restores `which`: entries, or all of a batch (asked of the server: it may reach past the pages shown). */
  const restore = (which: TrashEntry[] | { batch: string }) =>
    run(async () => {
      setNotice(undefined);
      try {
        const list = Array.isArray(which) ? which : await listTrash(api, '/', { batch: which.batch });
        for (const e of list) await restoreTrash(api, e.id);
        setNotice(list.length === 1 ? `Restored ${show(list[0]).path}.` : `Restored ${list.length} files.`);
      } finally {
        setReload((n) => n + 1);
      }
    });
  const batches = batchSizes(entries ?? []);
  const seen = new Set<string>();
  // With more pages to come, the last batch shown may go on past this page: its count here is not its size.
  const openBatch = next !== undefined && entries?.length ? entries[entries.length - 1].batch : undefined;
  return (
    <main id="main">
      <h1>Trash</h1>
      {days !== undefined && (
        <p class="hint">
          {days > 0
            ? `Deleted files stay here for ${days} day${days === 1 ? '' : 's'}, then they are gone for good. Old versions of a file are under Versions on the Files page.`
            : 'This server does not keep deleted files: deleting is final. Files deleted while it kept a trash stay here until it is emptied.'}
        </p>
      )}
      {entries?.some((e) => show(e).locked) && (
        <p class="hint">
          Some files were deleted from end-to-end encrypted folders: their names show here once their folder is unlocked on the Files page in this tab. Such a file can be restored where it was; to restore it somewhere else, use <code>ferry trash restore ID --to PATH</code> with the key.
        </p>
      )}
      <Message error={actionError ?? loadError} notice={notice} />
      <div class="toolbar" role="toolbar" aria-label="Trash" {...bar}>
        <button type="button" class="danger" disabled={!entries?.length || busy} onClick={() => setEmptying(true)}>
          Empty trash
        </button>
      </div>
      <Listing kind="trash" columns={['Name', 'Was in', '#Size', 'Deleted']} rows={entries} empty="The trash is empty." failed={loadError}>
        {entries?.map((e) => {
          const folder = parentPath(e.path);
          const view = show(e);
          const together = batches.get(e.batch) ?? 1;
          // The first row of a delete that removed several files offers them all back.
          const first = !seen.has(e.batch);
          seen.add(e.batch);
          return (
            <tr key={e.id}>
              <td class="long" title={view.encrypted ? 'in an end-to-end encrypted folder' : undefined}>
                <Breakable text={baseName(view.path)} />
                {/* On a phone the Was in column gives way: its folder goes under the name. */}
                <span class="phone-only hint">
                  in{' '}
                  <a href={filesUrl(folder)} onClick={(ev) => linkClick(ev, filesUrl(folder))}>
                    <Breakable text={parentPath(view.path)} />
                  </a>
                </span>
              </td>
              <td class="long">
                <a href={filesUrl(folder)} onClick={(ev) => linkClick(ev, filesUrl(folder))}>
                  <Breakable text={parentPath(view.path)} />
                </a>
              </td>
              <td class="num">{formatSize(e.size)}</td>
              <td>
                <DateTime text={formatDate(e.deletedAt)} />
              </td>
              <td class="actions">
                <button type="button" disabled={busy} onClick={() => restore([e])} aria-label={`Restore ${view.path}`}>
                  Restore
                </button>
                {/* An encrypted name is encrypted for its folder: another place needs the key and the CLI (hint above). */}
                {!view.encrypted && (
                  <button type="button" disabled={busy} onClick={() => setMoving(e)} aria-label={`Restore ${view.path} to another place`}>
                    Restore to…
                  </button>
                )}
                {first && (together > 1 || e.batch === openBatch) && (
                  <button type="button" disabled={busy} onClick={() => restore({ batch: e.batch })}>
                    {e.batch === openBatch ? 'Restore all deleted together' : `Restore all ${together} deleted together`}
                  </button>
                )}
              </td>
            </tr>
          );
        })}
      </Listing>
      {next !== undefined && (
        <p>
          <button type="button" disabled={loadingMore} onClick={loadMore}>
            {loadingMore ? 'Loading…' : `Show more (${entries?.length ?? 0} shown)`}
          </button>
        </p>
      )}
      {emptying && (
        <Confirm
          title="Empty trash"
          text={`Delete ${next !== undefined ? 'all files' : entries?.length === 1 ? 'the file' : `the ${entries?.length ?? 0} files`} in the trash for good? ${othersNote(others)}This cannot be undone.`}
          confirm="Empty trash"
          danger
          onClose={() => setEmptying(false)}
          onConfirm={async () => {
            const files = await emptyTrash(api, '/', undefined, { allUsers: others.length > 0 });
            clearError();
            setNotice(`Deleted ${files} file${files === 1 ? '' : 's'} for good.`);
            setReload((n) => n + 1);
          }}
        />
      )}
      {moving && (
        <NameDialog
          title={`Restore ${baseName(moving.path)} to`}
          label="Path"
          submit="Restore"
          initial={moving.path}
          onClose={() => setMoving(undefined)}
          onSubmit={async (to) => {
            const entry = await restoreTrash(api, moving.id, joinPath('/', to));
            clearError();
            setNotice(`Restored ${entry.path}.`);
            setReload((n) => n + 1);
          }}
        />
      )}
    </main>
  );
}
