/**
 * A folder that is not there: an address mistyped or kept from before, or a folder another
 * client moved or deleted while this page showed it (its subfolder opened from the listing).
 * Said plainly, with a link to the nearest folder above it that exists.
 */
import { useEffect, useState } from 'preact/hooks';
import type { FerryApi } from '../../../src/client/api.js';
import { parentPath } from '../../../src/core/path.js';
import { filesUrl, linkClick } from '../router.js';

/** The nearest folder above `path` that exists, the top (`/`) when none does (or cannot be asked). */
export async function nearestFolder(api: FerryApi, path: string): Promise<string> {
  for (let dir = parentPath(path); dir !== '/'; dir = parentPath(dir)) {
    const entry = await api.statIfExists(dir).catch(() => undefined);
    if (entry?.type === 'dir') return dir;
  }
  return '/';
}

/** `path`: the address's (stored) path; `shown`: the same path as the person reads it (a vault's plain names). */
export function MissingFolder(props: { api: FerryApi; path: string; shown: string }) {
  const [found, setFound] = useState<{ for: string; dir: string }>();
  useEffect(() => {
    let stop = false;
    void nearestFolder(props.api, props.path).then((dir) => !stop && setFound({ for: props.path, dir }));
    return () => void (stop = true);
  }, [props.path]);
  const dir = found?.for === props.path ? found.dir : undefined;
  // The nearest folder as the person reads it: as many of the shown path's names as it has.
  const depth = dir === undefined ? 0 : dir.split('/').filter(Boolean).length;
  const label = depth === 0 ? 'My files' : '/' + props.shown.split('/').filter(Boolean).slice(0, depth).join('/');
  return (
    <>
      <p class="error" role="alert">
        This folder does not exist: {props.shown}. It was moved, renamed or deleted, or the address is mistyped; uploading files here makes it.
      </p>
      {dir !== undefined && (
        <p>
          <a href={filesUrl(dir)} onClick={(e) => linkClick(e, filesUrl(dir))}>
            Open {label}, the nearest folder that exists
          </a>
        </p>
      )}
    </>
  );
}
